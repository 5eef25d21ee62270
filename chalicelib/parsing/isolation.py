"""Parse in a child process with memory, CPU and wall-time limits, so no file can take the worker down.

    parser_for(settings) -> ProcessParser | InlineParser
    parser.parse(data, filename, declared_type) -> ParsedDocument (or raises DocumentError)

A 50 kB .docx can unpack to a 10 MB document.xml of empty paragraphs that lxml turns into 350 MB of
tree, and a small PDF can hold millions of text operators that take pypdf minutes: in the worker itself
either one takes down every record in flight. ProcessParser keeps a small pool of long-lived children
(child.py), one per record in flight (QUARRY_RECORD_CONCURRENCY), each started on first need and
replaced when one dies, so the start-up (an interpreter importing pypdf, python-docx and lxml: 0.6 to
0.9 s measured on the benchmark machine, docs/BENCHMARKS.md) is paid once per child, not once per
file. A file past a limit ends FAILED/TOO_COMPLEX (failures.py says which limit and what to do); a
DocumentError raised in the child reaches the worker with its code and message unchanged.

Written by hand because no library does this under Lambda's constraints: there is no /dev/shm, so
multiprocessing's Queue, Pool, Lock and everything on POSIX semaphores (concurrent.futures'
ProcessPoolExecutor, loky, pebble, billiard) fail there, while a socketpair and
multiprocessing.connection's framing work. How the children start is chosen as deliberately:
- not fork: the worker has threads (the record pool, boto3's), and forking a threaded process can
  copy a lock some other thread holds, deadlocking the child;
- not multiprocessing's spawn or forkserver: both re-run the parent's `__main__` in the child (Lambda's
  bootstrap, pytest, devstack) and start a resource-tracker process;
- subprocess.Popen of `python -c` instead: a fresh interpreter by fork+exec (vfork where it can, no
  preexec_fn, so safe from a threaded parent) that imports only the parsers; the child sets its own
  limits once it has started, so the limits exclude that start-up.
"""

from __future__ import annotations

import contextlib
import queue
import signal
import subprocess
import threading
import weakref
from dataclasses import dataclass
from typing import Any

from chalicelib import parsing
from chalicelib.child_process import start_child, stop_child, wait_until_ready
from chalicelib.failures import too_complex_cpu, too_complex_killed, too_complex_time
from chalicelib.model import DocumentError
from chalicelib.parsed import ParsedDocument
from chalicelib.parsing import wire
from chalicelib.parsing.limits import ParseLimits

ISOLATION_CHOICES = ("process", "inline")
# A child that has not said READY by then is broken (not the file's fault): the record is retried.
_START_TIMEOUT_S = 60
# After the child's socket closed, how long to wait for its exit status before killing it.
_EXIT_WAIT_S = 5


class ParserChildFailed(RuntimeError):
    """The child could not start or broke its protocol: Quarry's fault, so the document is retried."""


@dataclass(frozen=True)
class ChildLimits:
    memory_mb: int
    cpu_s: int
    timeout_s: float


class InlineParser:
    """parsing.parse in the worker itself: for the benchmark's comparison (QUARRY_PARSE_ISOLATION=inline)."""

    def __init__(self, limits: ParseLimits):
        self._limits = limits

    def parse(self, data: bytes, filename: str, declared_type: str | None = None) -> ParsedDocument:
        return parsing.parse(data, filename, declared_type, self._limits)

    def close(self) -> None:
        pass


class _Child:
    """One parser child and the worker's end of its socket."""

    def __init__(self, limits: ChildLimits):
        self.limits = limits
        self.process, self.connection = start_child(
            "chalicelib.parsing.child", [str(limits.memory_mb), str(limits.cpu_s)]
        )
        self.pid = wait_until_ready(
            self.process,
            self.connection,
            _START_TIMEOUT_S,
            lambda ready: wire.read_reply(ready)["pid"],
            ParserChildFailed,
            "parser child",
        )
        self.retired = False
        self.in_flight = False

    def parse(
        self, data: bytes, filename: str, declared_type: str | None, limits: ParseLimits
    ) -> ParsedDocument:
        # Until the reply is read the socket is mid-conversation: a child left so (the call interrupted)
        # could answer the next file with this one's reply, so the pool discards it.
        self.in_flight = True
        try:
            self.connection.send_bytes(wire.request_header(filename, declared_type, limits))
            self.connection.send_bytes(data)
            if not self.connection.poll(self.limits.timeout_s):
                self.kill()
                raise too_complex_time(self.limits.timeout_s)
            reply = wire.read_reply(self.connection.recv_bytes())
        except (EOFError, OSError):
            raise self._death() from None
        self.in_flight = False
        self.retired = bool(reply.get("retiring"))
        return wire.document_of(reply)

    def _death(self) -> DocumentError:
        """Why the child stopped mid-document: its CPU limit, or a signal (the kernel's OOM killer,
        a crash in a C library)."""
        try:
            status = self.process.wait(_EXIT_WAIT_S)
        except subprocess.TimeoutExpired:
            self.kill()
            status = self.process.returncode
        self.close_connection()
        if status == -signal.SIGXCPU:
            return too_complex_cpu(self.limits.cpu_s)
        if status is not None and status < 0:
            return too_complex_killed(f"killed by {_signal_name(-status)}")
        return too_complex_killed(f"stopped with exit status {status}")

    @property
    def alive(self) -> bool:
        return not (self.retired or self.in_flight) and self.process.poll() is None

    def close_connection(self) -> None:
        with contextlib.suppress(OSError):
            self.connection.close()

    def kill(self) -> None:
        stop_child(self.process, self.connection)


class ProcessParser:
    """A pool of `size` parser children, started lazily and replaced when one dies or is stopped.

    Each call takes one child for the whole document; with at most `size` records in flight no call
    waits. The most recently used child is taken first, so a worker with one record at a time keeps
    one child.
    """

    def __init__(self, size: int, child_limits: ChildLimits, limits: ParseLimits):
        if size < 1:
            raise ValueError("the parser pool needs at least one child")
        self.child_limits = child_limits
        self._limits = limits
        self._idle: queue.LifoQueue[_Child | None] = queue.LifoQueue()
        self._children: set[_Child] = set()
        self._lock = threading.Lock()
        for _ in range(size):
            self._idle.put(None)
        # Children end with their socket anyway; this kills them promptly when the pool goes.
        self._finalizer = weakref.finalize(self, _kill_all, self._children)

    def parse(self, data: bytes, filename: str, declared_type: str | None = None) -> ParsedDocument:
        child = self._idle.get()
        try:
            if child is None or not child.alive:
                child = self._replace(child)
            return child.parse(data, filename, declared_type, self._limits)
        finally:
            self._idle.put(child if child is not None and child.alive else self._forget(child))

    def pids(self) -> list[int]:
        """The live children's process ids (for tests and the benchmark)."""
        with self._lock:
            return sorted(child.pid for child in self._children if child.alive)

    def close(self) -> None:
        self._finalizer()

    def _replace(self, child: _Child | None) -> _Child:
        self._forget(child)
        fresh = _Child(self.child_limits)
        with self._lock:
            self._children.add(fresh)
        return fresh

    def _forget(self, child: _Child | None) -> None:
        if child is None:
            return None
        child.kill()
        with self._lock:
            self._children.discard(child)
        return None


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _kill_all(children: set[_Child]) -> None:
    for child in list(children):
        child.kill()
    children.clear()


def parser_for(settings: Any) -> ProcessParser | InlineParser:
    """The parser the settings ask for: children (the default, production and local alike) or inline."""
    limits = ParseLimits.from_settings(settings)
    if settings.parse_isolation not in ISOLATION_CHOICES:
        choices = ", ".join(ISOLATION_CHOICES)
        raise ValueError(f"QUARRY_PARSE_ISOLATION={settings.parse_isolation!r}; choose one of {choices}")
    if settings.parse_isolation == "inline":
        return InlineParser(limits)
    child_limits = ChildLimits(
        memory_mb=settings.parse_memory_mb, cpu_s=settings.parse_cpu_s, timeout_s=settings.parse_timeout_s
    )
    return ProcessParser(settings.record_concurrency, child_limits, limits)
