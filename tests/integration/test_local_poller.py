"""The local stack's stand-in for Lambda's SQS event source mapping (devstack/poller.py) with more than
one invocation in flight, against moto's SQS over HTTP."""

from __future__ import annotations

import threading
import time
import urllib.request

import boto3
import pytest

from devstack.poller import QueuePoller


@pytest.fixture
def sqs(moto_endpoint: str):
    urllib.request.urlopen(urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST"))
    return boto3.client("sqs", region_name="us-east-1", endpoint_url=moto_endpoint)


def queue(sqs, messages: int) -> tuple[str, str]:
    url = sqs.create_queue(QueueName="poller", Attributes={"VisibilityTimeout": "60"})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    for start in range(0, messages, 10):
        entries = [{"Id": str(i), "MessageBody": f"m{start + i}"} for i in range(min(10, messages - start))]
        sqs.send_message_batch(QueueUrl=url, Entries=entries)
    return url, arn


def left_in(sqs, url: str) -> int:
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return sum(int(attributes[name]) for name in names)


def test_two_invocations_run_side_by_side_and_each_deletes_only_what_it_did(sqs) -> None:
    url, arn = queue(sqs, 30)
    # The first two invocations meet at the barrier: with one invocation at a time the first would
    # wait alone, time out, and fail its whole batch.
    meeting = threading.Barrier(2, timeout=10)
    lock = threading.Lock()
    seen: list[str] = []
    state = {"calls": 0, "in_flight": 0, "most_in_flight": 0}

    def handler(event: dict, context: object) -> dict:
        with lock:
            state["calls"] += 1
            call = state["calls"]
            state["in_flight"] += 1
            state["most_in_flight"] = max(state["most_in_flight"], state["in_flight"])
        try:
            if call <= 2:
                meeting.wait()
            bodies = [(record["messageId"], record["body"]) for record in event["Records"]]
            with lock:
                seen.extend(body for _, body in bodies)
            return {"batchItemFailures": [{"itemIdentifier": m} for m, body in bodies if body == "m7"]}
        finally:
            with lock:
                state["in_flight"] -= 1

    poller = QueuePoller(sqs, url, arn, handler, "us-east-1", wait_s=0, invocations=2)
    stop = threading.Event()
    running = threading.Thread(target=poller.run, args=(stop,))
    running.start()
    deadline = time.monotonic() + 30
    while len(set(seen)) < 30 and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    running.join(timeout=30)
    assert not running.is_alive()
    assert state["most_in_flight"] == 2
    assert sorted(set(seen)) == sorted(f"m{i}" for i in range(30))
    # The failure stays on the queue (invisible until its visibility runs out); the rest are deleted.
    assert left_in(sqs, url) == 1


def test_a_poller_needs_an_invocation(sqs) -> None:
    url, arn = queue(sqs, 0)
    with pytest.raises(ValueError, match="at least one invocation"):
        QueuePoller(sqs, url, arn, lambda event, context: {}, "us-east-1", invocations=0)
