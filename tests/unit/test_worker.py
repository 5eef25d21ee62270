"""The SQS handler's own rules, on a stand-in ingest service: per-record failures, records in flight
at once, and no record outliving the invocation."""

from __future__ import annotations

import copy
import json
import threading
import time

import pytest

from chalicelib.model import ObjectRef
from chalicelib.worker import handle_batch, record_pool
from devstack.poller import lambda_sqs_event
from tests.unit.test_events import EVENTBRIDGE_CREATED


def sqs_event(keys: list[str]) -> dict:
    messages = []
    for i, key in enumerate(keys):
        body = copy.deepcopy(EVENTBRIDGE_CREATED)
        body["detail"]["object"]["key"] = key
        messages.append(
            {
                "MessageId": f"message-{i}",
                "ReceiptHandle": f"receipt-{i}",
                "Body": json.dumps(body),
                "Attributes": {"ApproximateReceiveCount": "1"},
            }
        )
    return lambda_sqs_event(messages, "arn:aws:sqs:us-east-1:000000000000:quarry-ingest", "us-east-1")


class Killed(BaseException):
    """What a dying process looks like to the code still running: not an Exception."""


class StandInIngest:
    def __init__(self, behaviour: dict[str, str]) -> None:
        self.behaviour = behaviour
        self.started: list[str] = []
        self.finished: list[str] = []
        self.someone_started = threading.Event()
        self.in_flight = 0
        self.peak = 0
        self._lock = threading.Lock()

    def handle(self, ref: ObjectRef, attempt: int = 1, remaining_ms=None) -> None:
        with self._lock:
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
        try:
            action = self.behaviour.get(ref.key, "ok")
            if action == "fail":
                raise RuntimeError(f"{ref.key} failed")
            if action == "die":
                # Die while another record is at work, so there is something that could run on.
                assert self.someone_started.wait(timeout=10)
                raise Killed(ref.key)
            with self._lock:
                self.started.append(ref.key)
            self.someone_started.set()
            time.sleep(0.3)
            with self._lock:
                self.finished.append(ref.key)
        finally:
            with self._lock:
                self.in_flight -= 1


def test_only_the_failed_records_come_back_and_the_rest_ran_side_by_side():
    ingest = StandInIngest({"b": "fail", "d": "fail"})
    answer = handle_batch(sqs_event(["a", "b", "c", "d", "e", "f"]), None, ingest, concurrency=4)
    assert answer == {"batchItemFailures": [{"itemIdentifier": "message-1"}, {"itemIdentifier": "message-3"}]}
    assert sorted(ingest.finished) == ["a", "c", "e", "f"]
    assert 2 <= ingest.peak <= 4


def test_one_at_a_time_when_asked():
    ingest = StandInIngest({})
    handle_batch(sqs_event(["a", "b", "c"]), None, ingest, concurrency=1)
    assert ingest.peak == 1 and sorted(ingest.finished) == ["a", "b", "c"]


def test_no_record_is_still_running_when_an_invocation_dies():
    ingest = StandInIngest({"a": "die"})
    with pytest.raises(Killed):
        handle_batch(sqs_event(["a", "b", "c"]), None, ingest, concurrency=3)
    # Records not yet started when it died are lost with the invocation (SQS delivers them again);
    # every record that had started has finished.
    assert ingest.started and sorted(ingest.finished) == sorted(ingest.started)
    assert ingest.in_flight == 0


def test_record_concurrency_must_be_positive():
    with pytest.raises(ValueError, match="at least 1"):
        record_pool(0)
