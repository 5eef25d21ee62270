"""Backfill (chalicelib/backfill.py, `python -m devstack backfill`): objects that were in the raw bucket
before Quarry heard of them are ingested through the ingest queue and the real worker, once."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from chalicelib.backfill import backfill
from chalicelib.model import document_id_for
from devstack.stage import PROJECT_DIR
from tests.integration.pipeline import poller, queue_depth

N = 12  # more than one SendMessageBatch


def text(n: int) -> bytes:
    return f"Document {n} of the backfill. It talks about quarterly revenue number {n}.\n".encode() * 10


@pytest.fixture
def existing_objects(container, aws):
    """N objects of tenant acme and one of globex put while the bucket sent no events."""
    s3, raw = aws["s3"], container.settings.raw_bucket
    s3.put_bucket_notification_configuration(Bucket=raw, NotificationConfiguration={})
    keys = [f"tenants/acme/archive/{n:02d}.txt" for n in range(N)]
    for n, key in enumerate(keys):
        s3.put_object(Bucket=raw, Key=key, Body=text(n))
    s3.put_object(Bucket=raw, Key="tenants/globex/archive/other.txt", Body=text(99))
    return [document_id_for(raw, key) for key in keys]


def work_off(aws, resources) -> int:
    """Run the worker until the ingest queue is empty; returns the messages it handled."""
    worker = poller(aws, resources)
    handled = 0
    while queue_depth(aws, resources.queue_url):
        handled += worker.poll_once()
    return handled


def test_backfill_ingests_every_object_under_the_prefix_once(container, aws, resources, existing_objects):
    assert queue_depth(aws, resources.queue_url) == 0  # the bucket really sent nothing
    sent = []
    original_send = container.ingest_requests.send
    container.ingest_requests.send = lambda refs, reason: (
        sent.append(len(refs)),
        original_send(refs, reason),
    )

    report = backfill(
        container.object_store, container.ingest_requests, container.settings.raw_bucket, "tenants/acme/"
    )

    assert report.requested == N and sent == [10, 2]  # SendMessageBatch of 10
    assert work_off(aws, resources) == N
    records = {d: container.catalog.get(d) for d in existing_objects}
    assert {r.status.value for r in records.values()} == {"INDEXED"}
    assert all(
        r.tenant == "acme" and r.chunk_count == container.index.count(r.document_id) for r in records.values()
    )
    other = document_id_for(container.settings.raw_bucket, "tenants/globex/archive/other.txt")
    assert container.catalog.get(other) is None  # outside the prefix

    # Again: every object is asked for again, and the worker indexes none of them a second time.
    again = backfill(
        container.object_store, container.ingest_requests, container.settings.raw_bucket, "tenants/acme/"
    )
    assert again.requested == N and work_off(aws, resources) == N
    for document_id, before in records.items():
        after = container.catalog.get(document_id)
        assert (after.status, after.updated_at, after.timings_ms) == (
            before.status,
            before.updated_at,
            before.timings_ms,
        )
    assert container.index.count() == sum(r.chunk_count for r in records.values())


def test_the_backfill_command_reaches_the_stack_of_its_settings(container, aws, resources, existing_objects):
    conf = container.settings
    environment = {
        **os.environ,
        "QUARRY_AWS_ENDPOINT_URL": conf.aws_endpoint_url,
        "QUARRY_HOME": conf.home,
        "QUARRY_RAW_BUCKET": conf.raw_bucket,
        "QUARRY_INGEST_QUEUE": conf.ingest_queue,
    }
    result = subprocess.run(
        [sys.executable, "-m", "devstack", "backfill", "--prefix", "tenants/globex/"],
        cwd=PROJECT_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert "1 object(s) queued" in result.stdout
    (message,) = aws["sqs"].receive_message(QueueUrl=resources.queue_url, MaxNumberOfMessages=10)["Messages"]
    detail = json.loads(message["Body"])["detail"]
    assert detail["object"]["key"] == "tenants/globex/archive/other.txt"
    assert detail["force"] is False and detail["reason"] == "backfill"
