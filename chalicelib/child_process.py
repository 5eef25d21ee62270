"""A Python child process on the end of a socket: how the parser children (parsing/isolation.py) and
the model child (adapters/model_process.py) start.

Written by hand because no library fits Lambda's constraints (isolation.py says why in full): no
/dev/shm, so nothing built on POSIX semaphores; no fork of a threaded process; no re-run of the
parent's `__main__`. A subprocess of `python -c` (fork+exec) that gets the parent's sys.path and one
end of a socketpair, framed by multiprocessing.connection, and runs `main(argv)` of one module.
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import TypeVar

Ready = TypeVar("Ready")

_BOOT = (
    "import sys, json, importlib; sys.path[:] = json.loads(sys.argv[1]); "
    "importlib.import_module(sys.argv[2]).main(sys.argv[3:])"
)


def start_child(module: str, arguments: list[str]) -> tuple[subprocess.Popen, Connection]:
    """`module.main([fd, *arguments])` in a new interpreter with this one's environment, and this
    side's connection to it (the child's first argument is its end of the socket)."""
    process, (connection,) = start_child_with_sockets(module, arguments, 1)
    return process, connection


def start_child_with_sockets(
    module: str, arguments: list[str], sockets: int
) -> tuple[subprocess.Popen, list[Connection]]:
    """As start_child, with `sockets` socketpairs: the child's first argument is its ends, as
    comma-separated descriptors in the order of the connections returned."""
    pairs = [socket.socketpair() for _ in range(sockets)]
    try:
        theirs = [pair[1].fileno() for pair in pairs]
        process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                _BOOT,
                json.dumps(sys.path),
                module,
                ",".join(map(str, theirs)),
                *arguments,
            ],
            pass_fds=theirs,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
        )
        return process, [Connection(ours.detach()) for ours, _ in pairs]
    finally:
        for pair in pairs:
            for end in pair:
                end.close()


def wait_until_ready(
    process: subprocess.Popen,
    connection: Connection,
    timeout_s: float,
    read: Callable[[bytes], Ready],
    failure: type[Exception],
    name: str,
) -> Ready:
    """`read` of the child's first message, which it sends once it can serve. A child that sends
    none within `timeout_s`, or a broken one, is killed and `failure` raised."""
    try:
        if not connection.poll(timeout_s):
            raise failure(f"the {name} did not start within {timeout_s} s")
        return read(connection.recv_bytes())
    except (EOFError, OSError, ValueError, KeyError) as error:
        stop_child(process, connection)
        raise failure(f"the {name} failed to start (exit status {process.poll()})") from error
    except BaseException:
        stop_child(process, connection)
        raise


def stop_child(process: subprocess.Popen, connection: Connection) -> None:
    """Close this side of the socket, kill the child if it still runs, and reap it."""
    with contextlib.suppress(OSError):
        connection.close()
    if process.poll() is None:
        process.kill()
    process.wait()
