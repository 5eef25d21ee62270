"""The local stack's SQS (moto in its own process, devstack/moto_sqs.py): the same answers as moto's
own, with one scan of the queue per receive whatever its depth."""

from __future__ import annotations

import json
import time
import urllib.request

import boto3
import pytest
from botocore.exceptions import ClientError

from devstack import moto_sqs


@pytest.fixture
def sqs(moto_endpoint: str):
    urllib.request.urlopen(urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST"))
    return boto3.client("sqs", region_name="us-east-1", endpoint_url=moto_endpoint)


def queue_with_dlq(sqs, max_receive_count: int = 2, visibility_s: int = 1) -> tuple[str, str]:
    dlq = sqs.create_queue(QueueName="depth-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    policy = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(max_receive_count)}
    url = sqs.create_queue(
        QueueName="depth",
        Attributes={"VisibilityTimeout": str(visibility_s), "RedrivePolicy": json.dumps(policy)},
    )["QueueUrl"]
    return url, dlq


def send(sqs, url: str, count: int, delay_s: int = 0) -> None:
    for start in range(0, count, 10):
        entries = [
            {"Id": str(i), "MessageBody": f"m{start + i}", "DelaySeconds": delay_s}
            for i in range(min(10, count - start))
        ]
        sqs.send_message_batch(QueueUrl=url, Entries=entries)


def counts(sqs, url: str) -> dict[str, int]:
    names = [
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed",
    ]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return {name: int(attributes[name]) for name in names}


def test_a_received_message_is_hidden_for_its_visibility_timeout_then_comes_back(sqs):
    url, _ = queue_with_dlq(sqs, max_receive_count=5)
    send(sqs, url, 1)
    first = sqs.receive_message(QueueUrl=url, AttributeNames=["All"])["Messages"]
    assert counts(sqs, url) == {
        "ApproximateNumberOfMessages": 0,
        "ApproximateNumberOfMessagesNotVisible": 1,
        "ApproximateNumberOfMessagesDelayed": 0,
    }
    assert "Messages" not in sqs.receive_message(QueueUrl=url)
    time.sleep(1.2)
    again = sqs.receive_message(QueueUrl=url, AttributeNames=["All"])["Messages"]
    assert again[0]["MessageId"] == first[0]["MessageId"]
    assert again[0]["Attributes"]["ApproximateReceiveCount"] == "2"


def test_a_message_received_max_receive_count_times_moves_to_the_dead_letter_queue(sqs):
    url, dlq = queue_with_dlq(sqs, max_receive_count=2)
    send(sqs, url, 1)
    for _ in range(2):
        assert len(sqs.receive_message(QueueUrl=url, VisibilityTimeout=0)["Messages"]) == 1
    assert "Messages" not in sqs.receive_message(QueueUrl=url)
    dead = sqs.receive_message(QueueUrl=dlq)["Messages"]
    assert [m["Body"] for m in dead] == ["m0"]


def test_a_delayed_message_is_counted_delayed_and_received_after_its_delay(sqs):
    url, _ = queue_with_dlq(sqs)
    send(sqs, url, 3, delay_s=1)
    assert counts(sqs, url)["ApproximateNumberOfMessagesDelayed"] == 3
    assert "Messages" not in sqs.receive_message(QueueUrl=url)
    time.sleep(1.2)
    assert len(sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]) == 3


def test_queue_attributes_by_name_match_all_and_an_unknown_name_is_refused(sqs):
    url, _ = queue_with_dlq(sqs)
    send(sqs, url, 4)
    everything = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    named = ["VisibilityTimeout", "MessageRetentionPeriod", "RedrivePolicy", "ApproximateNumberOfMessages"]
    some = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=named)["Attributes"]
    assert some == {name: everything[name] for name in named}
    assert some["ApproximateNumberOfMessages"] == "4"
    with pytest.raises(ClientError) as refused:
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["NoSuchAttribute"])
    assert refused.value.response["Error"]["Code"] == "InvalidAttributeName"


def test_deep_queue_drains_completely_with_each_message_once(sqs):
    url, _ = queue_with_dlq(sqs, visibility_s=30)
    send(sqs, url, 600)
    bodies: list[str] = []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
        bodies += [m["Body"] for m in batch]
        entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)]
        assert not sqs.delete_message_batch(QueueUrl=url, Entries=entries).get("Failed")
    assert sorted(bodies) == sorted(f"m{i}" for i in range(600))
    assert counts(sqs, url)["ApproximateNumberOfMessagesNotVisible"] == 0


def test_one_receive_reads_each_queued_message_a_bounded_number_of_times(monkeypatch):
    """The cost that grew with depth, counted rather than timed: moto's own reads a message's clock
    about 90 times per receive of ten (three attribute builds per returned message, three scans each)."""
    from moto import mock_aws

    moto_sqs.apply()
    reads = {"n": 0}
    original = moto_sqs._visible_now

    def counting(message, now_ms):
        reads["n"] += 1
        return original(message, now_ms)

    monkeypatch.setattr(moto_sqs, "_visible_now", counting)
    with mock_aws():
        client = boto3.client("sqs", region_name="us-east-1")
        url = client.create_queue(QueueName="deep")["QueueUrl"]
        send(client, url, 2000)
        reads["n"] = 0
        got = client.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert len(got) == 10
    # One scan for the visible list, and a check of each of the ten it hands out.
    assert 2000 <= reads["n"] <= 2000 + 10 + 10, reads["n"]
