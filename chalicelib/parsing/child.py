"""The parser child: a long-lived process that parses one document at a time under hard limits.

Started by isolation.py as `python -c` with the worker's sys.path, it imports the parsers once, says
READY, then serves requests from its socket until the worker closes it. While it reads a file its
address space (RLIMIT_AS) is capped at what it has mapped once the file's bytes have arrived plus
QUARRY_PARSE_MEMORY_MB: the limit is on what parsing adds. Before each file it moves its CPU-time
limit (RLIMIT_CPU counts the process's whole life) to the CPU used so far plus QUARRY_PARSE_CPU_S;
past it the kernel sends SIGXCPU, whose default action ends the process, and the worker reports the
file TOO_COMPLEX. Memory exhaustion comes back as a TOO_COMPLEX reply, after which
the child exits: its heap may be left fragmented and half freed.
"""

from __future__ import annotations

import ctypes
import math
import os
import resource
import signal
import sys
from multiprocessing.connection import Connection

# The parsers (pypdf, python-docx, lxml...) are imported here, before the limits are set, so the
# start-up is not counted against any document.
from chalicelib import parsing
from chalicelib.failures import too_complex_memory
from chalicelib.model import DocumentError
from chalicelib.parsing import wire
from chalicelib.parsing.errors import OutOfMemory


def main(argv: list[str]) -> None:
    fd, memory_mb, cpu_s = (int(value) for value in argv)
    # Ctrl-C in a terminal reaches the whole process group: the worker decides when its children end.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    connection = Connection(fd)
    budget = memory_mb * 1024 * 1024
    start_up = _status_bytes("VmSize")
    connection.send_bytes(wire.ready(os.getpid()))
    while True:
        try:
            header = connection.recv_bytes()
            data = connection.recv_bytes()
        except EOFError:  # the worker closed the socket (or died): nothing more to do
            return
        filename, declared_type, limits = wire.read_request_header(header)
        limit = _limit_address_space(budget)
        _limit_cpu(cpu_s)
        try:
            document = parsing.parse(data, filename, declared_type, limits)
            out_of_memory = False
        except DocumentError as error:
            document, out_of_memory = error, _out_of_memory(error, limit - budget // 4)
        # The reply (the text as JSON, bounded by QUARRY_MAX_CHARACTERS) and the next request's bytes
        # (bounded by QUARRY_MAX_OBJECT_BYTES) are not the file's doing: no limit while they are built.
        _lift_address_space_limit()
        del data
        if out_of_memory:
            connection.send_bytes(wire.refused(too_complex_memory(memory_mb), retiring=True))
            return
        reply = wire.refused(document) if isinstance(document, DocumentError) else wire.parsed(document)
        del document
        # VmPeak never comes down, and a heap this large may never be returned: a child that went
        # past half its budget serves no more files, so every file's VmPeak is its own.
        retiring = _status_bytes("VmPeak") > start_up + budget // 2
        connection.send_bytes(wire.retiring(reply) if retiring else reply)
        del reply
        if retiring:
            return


def _out_of_memory(error: DocumentError, near_limit: int) -> bool:
    """Whether the failure was the memory limit. Libraries do not always say so: libxml2 reports
    a failed allocation as "unknown error" when it cannot allocate the message either. A failure
    after the file took the child within a quarter of the budget of its limit is taken as one."""
    return isinstance(error, OutOfMemory) or _status_bytes("VmPeak") >= near_limit


def _limit_address_space(budget: int) -> int:
    """What the child has mapped now (start-up, the file's bytes) plus the budget. RLIMIT_AS bounds
    virtual memory, which is never less than resident memory: a conservative cap. Only the soft limit
    is set, so the child can lift it again once the file is read."""
    _release_free_heap()
    limit = _status_bytes("VmSize") + budget
    resource.setrlimit(resource.RLIMIT_AS, (limit, resource.RLIM_INFINITY))
    return limit


def _release_free_heap() -> None:
    """Hand back to the system the heap that receiving the file grew and freed. Left mapped, it counts
    in VmSize, so the limit would be loose by its size (seen: 25 MB of an 80 MB file's receive
    buffers, on a busy machine where the bytes arrived in more, smaller reads), and the file could
    then use that much more than its budget. glibc's malloc_trim; a libc without it keeps its heap."""
    try:
        libc = ctypes.CDLL(None)
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return
    trim(0)


def _lift_address_space_limit() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))


def _limit_cpu(cpu_s: int) -> None:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    used = math.ceil(usage.ru_utime + usage.ru_stime)
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    resource.setrlimit(resource.RLIMIT_CPU, (used + cpu_s, hard))


def _status_bytes(field: str) -> int:
    """A size from /proc/self/status (Linux, as on Lambda), in bytes."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) * 1024  # the kernel writes kB
    raise OSError(f"/proc/self/status has no {field}")


if __name__ == "__main__":
    main(sys.argv[1:])
