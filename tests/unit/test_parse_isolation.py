"""The parser children (chalicelib/parsing/isolation.py): real processes with real limits, small ones so
the tests stay fast."""

from __future__ import annotations

import os
import signal
import threading
import time
from dataclasses import replace

import pytest

from chalicelib.config import Settings
from chalicelib.model import DocumentError, ErrorCode
from chalicelib.parsing import parse
from chalicelib.parsing.isolation import ChildLimits, InlineParser, ProcessParser, parser_for
from chalicelib.parsing.limits import ParseLimits
from tests import bombs
from tests.documents import encrypt_pdf, make_docx, make_pdf

LIMITS = ChildLimits(memory_mb=64, cpu_s=1, timeout_s=30)


@pytest.fixture
def pool():
    parser = ProcessParser(1, LIMITS, ParseLimits())
    yield parser
    parser.close()


def refusal(parser, data: bytes, filename: str) -> DocumentError:
    with pytest.raises(DocumentError) as caught:
        parser.parse(data, filename)
    return caught.value


def test_one_child_serves_document_after_document(pool):
    assert pool.pids() == []  # started on first need, not before
    first = pool.parse(make_docx(["The gannets of Bass Rock."]), "a.docx")
    (pid,) = pool.pids()
    second = pool.parse(make_pdf(["Page one of the survey."]), "b.pdf")
    third = pool.parse(b"Field note: a puffin burrow.", "c.txt")
    assert pool.pids() == [pid] and pid != os.getpid()
    assert "gannets of Bass Rock" in first.text and second.pages[0].number == 1
    assert third.text == "Field note: a puffin burrow." and third.content_type == "text/plain"


def test_the_child_parses_exactly_as_inline(pool):
    data = make_docx(["Title line", "Body text about kittiwakes."], table=[["a", "b"], ["1", "2"]])
    assert pool.parse(data, "t.docx") == parse(data, "t.docx")


@pytest.mark.parametrize(
    "data, filename",
    [
        (b"", "empty.txt"),
        (encrypt_pdf(make_pdf(["secret"])), "locked.pdf"),
        (b"%PDF-1.4\n1 0 obj", "bad.pdf"),
    ],
)
def test_a_document_error_in_the_child_reaches_the_worker_unchanged(pool, data, filename):
    inline = refusal(InlineParser(ParseLimits()), data, filename)
    isolated = refusal(pool, data, filename)
    assert (isolated.code, isolated.message) == (inline.code, inline.message)
    assert type(isolated) is DocumentError
    assert len(pool.pids()) == 1  # a refusal is an answer: the child lives on


def test_memory_bomb_is_too_complex_and_the_child_is_replaced(pool):
    pool.parse(b"warm up", "w.txt")
    (before,) = pool.pids()
    error = refusal(pool, bombs.tree_bomb_docx(), "tree.docx")
    assert error.code == ErrorCode.TOO_COMPLEX
    assert "more than 64 MB of memory" in error.message and "QUARRY_PARSE_MEMORY_MB" in error.message
    assert pool.pids() == []  # the child exits after running out of memory
    assert pool.parse(b"after the bomb", "after.txt").text == "after the bomb"
    assert pool.pids() != [before]


def test_the_memory_limit_is_on_what_parsing_adds_not_on_the_file_itself(pool):
    # 40 MB of file, and pypdf's own copy of it: past the 64 MB budget if the file's bytes counted.
    big = bombs.padded_pdf("A large but simple report.", 40 * 1024 * 1024)
    assert pool.parse(big, "big.pdf").text == "A large but simple report."
    # A child whose address space grew past half its budget retires after its answer (its VmPeak would
    # mislead the next file's memory check), and the next file gets a fresh one without failing.
    assert pool.pids() == []
    assert pool.parse(b"small again", "s.txt").text == "small again"


def test_a_memory_error_inside_a_parser_is_reported_as_memory_not_damage(pool):
    """pypdf copies the file: 80 MB of it cannot fit in 64 MB, in one allocation the parser catches."""
    error = refusal(pool, bombs.padded_pdf("Too big to copy.", 80 * 1024 * 1024), "huge.pdf")
    assert error.code == ErrorCode.TOO_COMPLEX and "more than 64 MB of memory" in error.message


def test_slow_pdf_past_the_cpu_limit_is_too_complex(pool):
    error = refusal(pool, bombs.slow_pdf(), "slow.pdf")
    assert error.code == ErrorCode.TOO_COMPLEX
    assert "more than 1 s of CPU time" in error.message and "QUARRY_PARSE_CPU_S" in error.message
    assert pool.parse(b"next file", "next.txt").text == "next file"


def test_the_cpu_limit_is_per_document_not_per_child():
    """RLIMIT_CPU counts the process's life: the child moves it before each file."""
    parser = ProcessParser(1, replace(LIMITS, cpu_s=2), ParseLimits())
    try:
        # ~0.5 s of CPU each (2026-12 on this 2-core machine): four times under the limit, and six of
        # them well over it in all.
        slowish = bombs.slow_pdf(operators=2_000, pages=10)
        for _ in range(6):
            assert parser.parse(slowish, "slowish.pdf").pages
        assert len(parser.pids()) == 1
    finally:
        parser.close()


def test_wall_timeout_kills_the_child():
    parser = ProcessParser(1, ChildLimits(memory_mb=64, cpu_s=60, timeout_s=1), ParseLimits())
    try:
        started = time.monotonic()
        error = refusal(parser, bombs.slow_pdf(), "slow.pdf")
        assert error.code == ErrorCode.TOO_COMPLEX and "did not finish within 1 s" in error.message
        assert time.monotonic() - started < 10
        assert parser.pids() == []
        assert parser.parse(b"still here", "x.txt").text == "still here"
    finally:
        parser.close()


def test_a_child_killed_between_documents_is_replaced_without_failing_the_next(pool):
    pool.parse(b"one", "1.txt")
    (pid,) = pool.pids()
    os.kill(pid, signal.SIGKILL)
    time.sleep(0.2)
    assert pool.parse(b"two", "2.txt").text == "two"
    (replacement,) = pool.pids()
    assert replacement != pid


def test_a_child_killed_mid_document_fails_that_document_only():
    parser = ProcessParser(1, ChildLimits(memory_mb=64, cpu_s=60, timeout_s=60), ParseLimits())
    try:
        parser.parse(b"warm", "w.txt")
        (pid,) = parser.pids()
        killer = threading.Timer(0.5, os.kill, (pid, signal.SIGKILL))
        killer.start()
        error = refusal(parser, bombs.slow_pdf(), "slow.pdf")
        killer.join()
        assert error.code == ErrorCode.TOO_COMPLEX and "killed by SIGKILL" in error.message
        assert parser.parse(b"next", "n.txt").text == "next" and parser.pids() != [pid]
    finally:
        parser.close()


def test_records_in_flight_each_get_a_child():
    parser = ProcessParser(2, LIMITS, ParseLimits())
    try:
        barrier = threading.Barrier(2)
        results = []

        def parse_one(n: int) -> None:
            barrier.wait()
            results.append(parser.parse(bombs.slow_pdf(operators=5_000, pages=5), f"{n}.pdf").text)

        threads = [threading.Thread(target=parse_one, args=(n,)) for n in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(results) == 2 and len(parser.pids()) == 2
        parser.close()
        assert parser.pids() == []
    finally:
        parser.close()


def test_parser_for_follows_the_settings():
    settings = Settings(parse_memory_mb=80, parse_cpu_s=7, parse_timeout_s=9, record_concurrency=3)
    isolated = parser_for(settings)
    assert isinstance(isolated, ProcessParser)
    assert isolated.child_limits == ChildLimits(memory_mb=80, cpu_s=7, timeout_s=9)
    assert isinstance(parser_for(replace(settings, parse_isolation="inline")), InlineParser)
    with pytest.raises(ValueError, match="QUARRY_PARSE_ISOLATION"):
        parser_for(replace(settings, parse_isolation="thread"))
