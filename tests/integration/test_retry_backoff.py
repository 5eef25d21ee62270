"""Retries that back off, on moto server: the worker sets a failed message's visibility with SQS's own
ChangeMessageVisibility, and the local poller (Lambda's event source mapping) leaves it as set."""

from __future__ import annotations

import copy
import json
import time
from dataclasses import replace
from itertools import pairwise

from chalicelib.adapters.sqs_visibility import SqsQueueVisibility
from chalicelib.model import TransientError
from chalicelib.ports import QueueVisibility
from chalicelib.worker import RetryBackoff, handle_batch
from devstack.cloud import provision
from tests.documents import FACT_DOCUMENTS
from tests.integration.pipeline import poller, queue_depth, upload
from tests.unit.test_events import EVENTBRIDGE_CREATED

# Far longer than any backoff below: a message seen again sooner came back because of the backoff.
LONG_VISIBILITY_S = 30


class AlwaysFailing:
    """An ingest service for which every document is a transient failure; remembers when it was called."""

    def __init__(self) -> None:
        self.calls: list[tuple[float, int]] = []

    def handle(self, ref, attempt: int = 1, remaining_ms=None):
        self.calls.append((time.monotonic(), attempt))
        raise TransientError("provider unavailable")


class RefusingVisibility(QueueVisibility):
    def change_visibility(self, queue_url: str, receipt_handle: str, timeout_s: int) -> None:
        raise ConnectionError("SQS unreachable")


def send_event(aws, queue_url: str, key: str) -> None:
    body = copy.deepcopy(EVENTBRIDGE_CREATED)
    body["detail"]["object"]["key"] = key
    aws["sqs"].send_message(QueueUrl=queue_url, MessageBody=json.dumps(body))


def poll_until(worker, done, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not done():
        assert time.monotonic() < deadline, "timed out"
        if not worker.poll_once():
            time.sleep(0.05)


def test_failed_messages_come_back_after_a_growing_capped_backoff(aws, aws_settings):
    resources = provision(replace(aws_settings, max_receive_count=4), visibility_timeout_s=LONG_VISIBILITY_S)
    ingest = AlwaysFailing()
    retries = RetryBackoff(SqsQueueVisibility(aws["sqs"]), base_s=1, max_s=2, jitter=lambda: 1.0)
    answers: list[dict] = []

    def handler(event, context):
        answers.append(handle_batch(event, context, ingest, 1, retries))
        return answers[-1]

    send_event(aws, resources.queue_url, "tenants/acme/uploads/retry/a.txt")
    worker = poller(aws, resources, handler=handler)
    poll_until(worker, lambda: len(ingest.calls) == 4, timeout_s=25)
    times = [at for at, _ in ingest.calls]
    gaps = [later - earlier for earlier, later in pairwise(times)]
    assert [attempt for _, attempt in ingest.calls] == [1, 2, 3, 4]
    assert all(answer["batchItemFailures"] for answer in answers)
    # Delays 1, 2, then 2 again (capped; uncapped it would be 4): each far below the queue's 30 s.
    assert 0.9 <= gaps[0] < 1.9 + 2, gaps
    assert 1.9 <= gaps[1] < LONG_VISIBILITY_S / 2, gaps
    assert 1.9 <= gaps[2] < 3.9, gaps
    # The fourth failure used the queue's last delivery: the next receive moves it to the DLQ.
    poll_until(worker, lambda: queue_depth(aws, resources.dlq_url) == 1, timeout_s=10)
    assert queue_depth(aws, resources.queue_url) == 0


def test_a_failing_visibility_change_keeps_the_message_for_the_queues_own_timeout(aws, aws_settings):
    resources = provision(aws_settings, visibility_timeout_s=2)
    ingest = AlwaysFailing()
    retries = RetryBackoff(RefusingVisibility(), base_s=1, max_s=1, jitter=lambda: 1.0)
    answers: list[dict] = []

    def handler(event, context):
        answers.append(handle_batch(event, context, ingest, 1, retries))
        return answers[-1]

    send_event(aws, resources.queue_url, "tenants/acme/uploads/retry/b.txt")
    worker = poller(aws, resources, handler=handler)
    poll_until(worker, lambda: len(ingest.calls) == 2, timeout_s=15)
    assert len(answers[0]["batchItemFailures"]) == 1
    # Not deleted, and back once the queue's own 2 s visibility timeout had passed (measured between
    # handler calls, so less the first call's start-up).
    assert ingest.calls[1][0] - ingest.calls[0][0] >= 1.2
    assert [attempt for _, attempt in ingest.calls] == [1, 2]


def test_the_app_handler_holds_a_failed_message_for_the_backoff(container, aws, resources):
    """The Chalice handler, as deployed: bootstrap's SQS adapter, the queue URL from the event's ARN."""
    delay_s = 4

    class DownEmbedder(type(container.embedder)):
        def embed_documents(self, texts):
            raise TransientError("embedding provider unavailable (simulated outage)")

    container.__dict__["embedder"] = DownEmbedder()
    container.__dict__.pop("ingest", None)
    container.__dict__["retry_backoff"] = replace(
        container.retry_backoff, base_s=delay_s, max_s=delay_s, jitter=lambda: 1.0
    )
    document_id = upload(container, "lighthouse.txt", FACT_DOCUMENTS["lighthouse.txt"][0])
    worker = poller(aws, resources)
    poll_until(
        worker, lambda: container.documents.get("acme", document_id)["error"] is not None, timeout_s=15
    )
    failed_at = time.monotonic()
    # The queue's own timeout (1 s) would bring it back at once; the handler's backoff holds it 4 s.
    seen = None
    while seen is None:
        messages = aws["sqs"].receive_message(QueueUrl=resources.queue_url, WaitTimeSeconds=0)
        if messages.get("Messages"):
            seen = time.monotonic()
        else:
            assert time.monotonic() - failed_at < 15, "the message never came back"
            time.sleep(0.1)
    assert seen - failed_at >= delay_s - 1.5
