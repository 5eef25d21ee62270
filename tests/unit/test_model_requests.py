"""How callers of the model process share its requests (chalicelib/adapters/model_process.py).

The child here is a stand-in that answers with each text's length, so what is asserted is the
parent's bookkeeping: who went in which request, who got which vectors and which error. The real
child is exercised in test_embedders.py.
"""

from __future__ import annotations

import threading
import time

import pytest

from chalicelib.adapters import model_process
from chalicelib.adapters.model_process import ModelProcess, ModelProcessFailed, RequestQueue, _Call


class StandInChild:
    """Answers text t with the vector [len(t)] and len(t) word pieces. The first child's first request
    waits for `release`, so a test can queue callers behind it; its second raises `fail_with`."""

    def __init__(self, arguments: list[str], sockets: int) -> None:
        self.requests: list[list[str]] = []
        self.sockets_used: list[int] = []
        self.first_in = threading.Event()
        self.release = threading.Event()
        self.fail_with: BaseException | None = None
        self.killed = False
        if CHILDREN:  # only the first child holds its first request
            self.release.set()
        CHILDREN.append(self)

    @property
    def alive(self) -> bool:
        return not self.killed

    def encode(self, socket: int, texts: list[str]) -> tuple[list[list[float]], list[int]]:
        self.requests.append(list(texts))
        self.sockets_used.append(socket)
        if len(self.requests) == 1:
            self.first_in.set()
            assert self.release.wait(10)
        if len(self.requests) == 2 and self.fail_with is not None:
            raise self.fail_with
        return [[float(len(t))] for t in texts], [len(t) for t in texts]

    def kill(self) -> None:
        self.killed = True


CHILDREN: list[StandInChild] = []


@pytest.fixture
def process(monkeypatch: pytest.MonkeyPatch) -> ModelProcess:
    CHILDREN.clear()
    monkeypatch.setattr(model_process, "_Child", StandInChild)
    return ModelProcess(batch_size=32, threads=1, precision="float32", max_texts=8)


def in_thread(process: ModelProcess, texts: list[str], results: dict[str, object]) -> threading.Thread:
    def call() -> None:
        try:
            results[texts[0]] = process.encode(texts)
        except Exception as error:
            results[texts[0]] = error

    thread = threading.Thread(target=call)
    thread.start()
    return thread


def wait_for(condition, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def queue_behind_a_busy_request(process: ModelProcess, later: list[list[str]]) -> tuple[dict, list]:
    """One caller's request out and held by the child, then `later` callers waiting behind it."""
    results: dict[str, object] = {}
    threads = [in_thread(process, ["a"], results)]
    wait_for(lambda: CHILDREN and CHILDREN[0].first_in.is_set())
    threads += [in_thread(process, texts, results) for texts in later]
    wait_for(lambda: len(process._queue._waiting) == len(later))
    return results, threads


def test_callers_that_wait_behind_a_request_go_together_in_the_next_one(process: ModelProcess) -> None:
    results, threads = queue_behind_a_busy_request(process, [["bb", "bbb"], ["cccc"]])
    CHILDREN[0].release.set()
    for thread in threads:
        thread.join(10)
    assert CHILDREN[0].requests[0] == ["a"]
    assert sorted(map(sorted, CHILDREN[0].requests[1:])) == [["bb", "bbb", "cccc"]]
    # Each caller gets its own texts' vectors and word pieces, in its own order.
    assert results == {
        "a": ([[1.0]], [1]),
        "bb": ([[2.0], [3.0]], [2, 3]),
        "cccc": ([[4.0]], [4]),
    }


def test_a_lone_caller_is_sent_at_once(process: ModelProcess) -> None:
    results: dict[str, object] = {}
    thread = in_thread(process, ["a"], results)
    wait_for(lambda: CHILDREN and CHILDREN[0].first_in.is_set())
    CHILDREN[0].release.set()
    thread.join(10)
    assert results == {"a": ([[1.0]], [1])}
    assert process.encode(["dd", "e"]) == ([[2.0], [1.0]], [2, 1])
    assert CHILDREN[0].requests == [["a"], ["dd", "e"]]


def test_the_queue_takes_the_oldest_callers_up_to_its_text_budget_and_never_splits_one() -> None:
    queue = RequestQueue(max_texts=5)
    calls = [_Call(["x"] * n) for n in (3, 2, 1, 7, 1)]
    for call in calls:
        queue.put(call)
    assert queue.take() == calls[:2]  # 3 + 2 = 5; the next would make 6
    assert queue.take() == [calls[2]]  # 1 + 7 is over the budget
    assert queue.take() == [calls[3]]  # over the budget alone: it still goes, whole
    assert queue.take() == [calls[4]]
    assert queue.take() == []


def test_a_child_that_dies_mid_request_fails_every_caller_in_it_with_its_own_transient_error(
    process: ModelProcess,
) -> None:
    results, threads = queue_behind_a_busy_request(process, [["bb"], ["ccc"]])
    CHILDREN[0].fail_with = EOFError()
    CHILDREN[0].release.set()
    for thread in threads:
        thread.join(10)
    assert results["a"] == ([[1.0]], [1])
    errors = [results[key] for key in ("bb", "ccc")]
    assert all(isinstance(error, ModelProcessFailed) for error in errors)
    assert all("stopped mid-request" in str(error) for error in errors)
    assert errors[0] is not errors[1]  # one object each: no shared traceback
    # Out of step with its parent, the child is gone; the next caller gets a new one.
    assert CHILDREN[0].killed
    assert process.encode(["dd"]) == ([[2.0]], [2])
    assert len(CHILDREN) == 2 and CHILDREN[1].requests == [["dd"]]


def test_a_model_that_raises_fails_the_request_but_keeps_the_child(process: ModelProcess) -> None:
    results, threads = queue_behind_a_busy_request(process, [["bb"]])
    CHILDREN[0].fail_with = model_process._ModelRaised("the model process failed: ValueError()")
    CHILDREN[0].release.set()
    for thread in threads:
        thread.join(10)
    assert results["a"] == ([[1.0]], [1])
    assert isinstance(results["bb"], model_process._ModelRaised)
    assert not CHILDREN[0].killed
    assert process.encode(["dd"]) == ([[2.0]], [2])
    assert len(CHILDREN) == 1 and CHILDREN[0].requests[-1] == ["dd"]


def test_with_two_sockets_a_second_request_goes_out_while_the_first_is_held(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    CHILDREN.clear()
    monkeypatch.setattr(model_process, "_Child", StandInChild)
    process = ModelProcess(batch_size=32, threads=1, precision="float32", requests=2)
    results: dict[str, object] = {}
    held = in_thread(process, ["a"], results)
    wait_for(lambda: CHILDREN and CHILDREN[0].first_in.is_set())
    # Answered on the other socket while the first request is still out.
    assert process.encode(["bb", "c"]) == ([[2.0], [1.0]], [2, 1])
    assert "a" not in results
    CHILDREN[0].release.set()
    held.join(10)
    assert results == {"a": ([[1.0]], [1])}
    assert len(CHILDREN) == 1 and sorted(CHILDREN[0].sockets_used) == [0, 1]


def test_a_model_process_must_serve_at_least_one_request() -> None:
    with pytest.raises(ValueError, match="at least one request"):
        ModelProcess(batch_size=32, threads=1, precision="float32", requests=0)
