"""The parser child: a long-lived process that parses one document at a time under hard limits.

Started by isolation.py as `python -c` with the worker's sys.path, it imports the parsers once, caps its
address space (RLIMIT_AS) at what it uses after those imports plus QUARRY_PARSE_MEMORY_MB, says READY,
then serves requests from its socket until the worker closes it. Before each document it moves its
CPU-time limit (RLIMIT_CPU counts the process's whole life) to the CPU used so far plus
QUARRY_PARSE_CPU_S; past it the kernel sends SIGXCPU, whose default action ends the process, and the
worker reports the file TOO_COMPLEX. Memory exhaustion comes back as a TOO_COMPLEX reply, after which
the child exits: its heap may be left fragmented and half freed.
"""

from __future__ import annotations

import math
import os
import resource
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
    connection = Connection(fd)
    budget = memory_mb * 1024 * 1024
    limit = _limit_address_space(budget)
    connection.send_bytes(wire.ready(os.getpid()))
    while True:
        try:
            header = connection.recv_bytes()
            data = connection.recv_bytes()
        except EOFError:  # the worker closed the socket (or died): nothing more to do
            return
        filename, declared_type, limits = wire.read_request_header(header)
        _limit_cpu(cpu_s)
        try:
            reply = wire.parsed(parsing.parse(data, filename, declared_type, limits))
        except DocumentError as error:
            reply = None if _out_of_memory(error, limit - budget // 4) else wire.refused(error)
        except MemoryError:  # building the reply
            reply = None
        del data
        if reply is None:
            connection.send_bytes(wire.refused(too_complex_memory(memory_mb), retiring=True))
            return
        # VmPeak never comes down, and a heap this large may never be returned: a child that went
        # past half its budget serves no more files, so the next file's VmPeak is its own.
        retiring = _peak_address_space() > limit - budget // 2
        connection.send_bytes(wire.retiring(reply) if retiring else reply)
        del reply
        if retiring:
            return


def _out_of_memory(error: DocumentError, near_limit: int) -> bool:
    """Whether the failure was the memory limit. Libraries do not always say so: libxml2 reports
    a failed allocation as "unknown error" when it cannot allocate the message either. A failure
    after the file took the child within a quarter of the budget of its limit is taken as one."""
    return isinstance(error, OutOfMemory) or _peak_address_space() >= near_limit


def _limit_address_space(budget: int) -> int:
    """RLIMIT_AS bounds virtual memory, which is never less than resident memory: a conservative cap."""
    limit = _status_bytes("VmSize") + budget
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    return limit


def _peak_address_space() -> int:
    return _status_bytes("VmPeak")


def _status_bytes(field: str) -> int:
    """A size from /proc/self/status (Linux, as on Lambda), in bytes."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) * 1024  # the kernel writes kB
    raise OSError(f"/proc/self/status has no {field}")


def _limit_cpu(cpu_s: int) -> None:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    used = math.ceil(usage.ru_utime + usage.ru_stime)
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    resource.setrlimit(resource.RLIMIT_CPU, (used + cpu_s, hard))


if __name__ == "__main__":
    main(sys.argv[1:])
