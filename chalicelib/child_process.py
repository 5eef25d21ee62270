"""A Python child process on the end of a socket: how the parser children (parsing/isolation.py) and
the model child (adapters/model_process.py) start.

Written by hand because no library fits Lambda's constraints (isolation.py says why in full): no
/dev/shm, so nothing built on POSIX semaphores; no fork of a threaded process; no re-run of the
parent's `__main__`. A subprocess of `python -c` (fork+exec) that gets the parent's sys.path and one
end of a socketpair, framed by multiprocessing.connection, and runs `main(argv)` of one module.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from multiprocessing.connection import Connection

_BOOT = (
    "import sys, json, importlib; sys.path[:] = json.loads(sys.argv[1]); "
    "importlib.import_module(sys.argv[2]).main(sys.argv[3:])"
)


def start_child(module: str, arguments: list[str]) -> tuple[subprocess.Popen, Connection]:
    """`module.main([fd, *arguments])` in a new interpreter with this one's environment, and this
    side's connection to it (the child's first argument is its end of the socket)."""
    ours, theirs = socket.socketpair()
    with ours, theirs:
        process = subprocess.Popen(
            [sys.executable, "-c", _BOOT, json.dumps(sys.path), module, str(theirs.fileno()), *arguments],
            pass_fds=(theirs.fileno(),),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
        )
        return process, Connection(ours.detach())
