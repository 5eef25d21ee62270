"""The SQS handler's own rules, on a stand-in ingest service: per-record failures, records in flight
at once, no record outliving the invocation, and failed records' retry delays."""

from __future__ import annotations

import copy
import json
import threading
import time

import pytest

from chalicelib.model import ObjectRef
from chalicelib.ports import QueueVisibility
from chalicelib.worker import RetryBackoff, handle_batch, queue_url_from_arn, record_pool
from devstack.poller import lambda_sqs_event
from tests.unit.test_events import EVENTBRIDGE_CREATED


def sqs_event(keys: list[str], receive_count: int = 1) -> dict:
    messages = []
    for i, key in enumerate(keys):
        body = copy.deepcopy(EVENTBRIDGE_CREATED)
        body["detail"]["object"]["key"] = key
        messages.append(
            {
                "MessageId": f"message-{i}",
                "ReceiptHandle": f"receipt-{i}",
                "Body": json.dumps(body),
                "Attributes": {"ApproximateReceiveCount": str(receive_count)},
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


class RecordingVisibility(QueueVisibility):
    """Remembers every visibility change; with `fail`, refuses each one as SQS might."""

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.changes: list[tuple[str, str, int]] = []

    def change_visibility(self, queue_url: str, receipt_handle: str, timeout_s: int) -> None:
        self.changes.append((queue_url, receipt_handle, timeout_s))
        if self.fail:
            raise ConnectionError("SQS unreachable")


def test_the_backoff_doubles_per_delivery_up_to_its_cap():
    ceilings = RetryBackoff(RecordingVisibility(), base_s=30, max_s=900, jitter=lambda: 1.0)
    assert [ceilings.delay_s(n) for n in range(1, 9)] == [30, 60, 120, 240, 480, 900, 900, 900]
    assert ceilings.delay_s(10_000) == 900
    assert ceilings.delay_s(0) == 30


def test_the_jitter_is_full_and_rounds_up_to_whole_seconds():
    def at(fraction: float) -> RetryBackoff:
        return RetryBackoff(RecordingVisibility(), base_s=30, max_s=900, jitter=lambda: fraction)

    assert at(0.5).delay_s(1) == 15 and at(0.5).delay_s(3) == 60
    assert at(0.01).delay_s(1) == 1
    assert at(0.0).delay_s(4) == 0
    spread = {RetryBackoff(RecordingVisibility(), base_s=30, max_s=900).delay_s(2) for _ in range(200)}
    assert len(spread) > 10 and min(spread) >= 0 and max(spread) <= 60


def test_no_delay_passes_the_longest_visibility_sqs_accepts():
    huge = RetryBackoff(RecordingVisibility(), base_s=10**6, max_s=10**7, jitter=lambda: 1.0)
    assert huge.delay_s(1) == 12 * 60 * 60


def test_queue_urls_come_from_the_event_source_arn():
    assert (
        queue_url_from_arn("arn:aws:sqs:eu-west-1:123456789012:quarry-prod-ingest")
        == "https://sqs.eu-west-1.amazonaws.com/123456789012/quarry-prod-ingest"
    )
    assert (
        queue_url_from_arn("arn:aws-cn:sqs:cn-north-1:123456789012:q")
        == "https://sqs.cn-north-1.amazonaws.com.cn/123456789012/q"
    )
    with pytest.raises(ValueError, match="not an SQS queue ARN"):
        queue_url_from_arn("arn:aws:sns:us-east-1:123456789012:topic")


def test_each_failed_record_is_hidden_for_its_own_backoff_and_the_rest_are_left_alone():
    visibility = RecordingVisibility()
    retries = RetryBackoff(visibility, base_s=30, max_s=900, jitter=lambda: 1.0)
    ingest = StandInIngest({"b": "fail", "d": "fail"})
    answer = handle_batch(sqs_event(["a", "b", "c", "d"], receive_count=3), None, ingest, 2, retries)
    assert answer == {"batchItemFailures": [{"itemIdentifier": "message-1"}, {"itemIdentifier": "message-3"}]}
    url = "https://sqs.us-east-1.amazonaws.com/000000000000/quarry-ingest"
    assert sorted(visibility.changes) == [(url, "receipt-1", 120), (url, "receipt-3", 120)]


def test_a_failing_visibility_change_never_loses_the_record():
    visibility = RecordingVisibility(fail=True)
    retries = RetryBackoff(visibility, base_s=30, max_s=900, jitter=lambda: 1.0)
    ingest = StandInIngest({"a": "fail", "b": "fail"})
    answer = handle_batch(sqs_event(["a", "b", "c"]), None, ingest, 1, retries)
    assert answer == {"batchItemFailures": [{"itemIdentifier": "message-0"}, {"itemIdentifier": "message-1"}]}
    assert [receipt for _, receipt, _ in visibility.changes] == ["receipt-0", "receipt-1"]


def test_without_a_backoff_nothing_changes_visibility():
    ingest = StandInIngest({"a": "fail"})
    answer = handle_batch(sqs_event(["a", "b"]), None, ingest, 1)
    assert answer == {"batchItemFailures": [{"itemIdentifier": "message-0"}]}


class CountingAccounting:
    """Stands in for DocumentAccounting: records what the worker tells it, and can be made to fail."""

    def __init__(self, broken: bool = False) -> None:
        self.handled: list[str] = []
        self.failed: list[str] = []
        self.charged = 0
        self.broken = broken

    def document_handled(self, batch, days, ref, outcome, usage) -> None:
        if self.broken:
            raise RuntimeError("the ledger is down")
        batch.add("DocumentsIndexed", 1)
        self.handled.append(ref.key)

    def attempt_failed(self, batch, days, ref, attempt, error, usage) -> None:
        self.failed.append(ref.key)

    def charge_days(self, days) -> None:
        self.charged += 1


def test_a_batchs_metrics_are_written_once_when_it_ends(capsys):
    accounting = CountingAccounting()
    ingest = StandInIngest({"b": "fail"})
    answer = handle_batch(sqs_event(["a", "b", "c"]), None, ingest, 2, accounting=accounting, stage="prod")
    assert answer["batchItemFailures"] == [{"itemIdentifier": "message-1"}]
    assert sorted(accounting.handled) == ["a", "c"] and accounting.failed == ["b"]
    assert accounting.charged == 1  # the tenants' days once, as the batch ends
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert len(emf) == 1 and emf[0]["DocumentsIndexed"] == [1.0, 1.0] and emf[0]["stage"] == "prod"


def test_accounting_that_fails_never_fails_the_record():
    answer = handle_batch(
        sqs_event(["a", "b"]), None, StandInIngest({}), 1, accounting=CountingAccounting(broken=True)
    )
    assert answer["batchItemFailures"] == []
