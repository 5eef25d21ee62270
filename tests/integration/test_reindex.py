"""POST /documents/{id}/reindex over HTTP (chalice.test.Client), through the ingest queue on the moto
server and the real worker (the SQS poller invoking the Chalice handler)."""

from __future__ import annotations

import json

import pytest

from chalicelib.model import document_id_for
from tests.conftest import BOB
from tests.integration.pipeline import TENANT, drain, poller, queue_depth, upload
from tests.unit.test_views import conforms

GOOD = b"Quarry reindex test. The auditors reviewed revenue recognition for the third quarter.\n" * 20


def reindex(client, document_id):
    response = client.post(f"/documents/{document_id}/reindex", headers={"Content-Type": "application/json"})
    return response.status_code, json.loads(response.body)


def record(container, document_id):
    return container.catalog.get(document_id)


def drop_queued_events(aws, resources) -> int:
    """Take the S3 events off the ingest queue unprocessed: the object changes without the worker
    hearing of it, as when the bucket's notifications were off while the file was fixed."""
    dropped = 0
    while True:
        messages = (
            aws["sqs"]
            .receive_message(QueueUrl=resources.queue_url, MaxNumberOfMessages=10)
            .get("Messages", [])
        )
        if not messages:
            return dropped
        for message in messages:
            aws["sqs"].delete_message(QueueUrl=resources.queue_url, ReceiptHandle=message["ReceiptHandle"])
            dropped += 1


@pytest.fixture
def worker(aws, resources):
    return poller(aws, resources)


def test_a_failed_document_reindexed_after_its_file_is_fixed_ends_indexed(
    http, container, aws, resources, worker
):
    document_id = upload(container, "notes.txt", b"   \n\t  \n")
    assert drain(worker, container, [document_id])[document_id]["status"] == "FAILED"
    failed = record(container, document_id)
    assert failed.error_code == "EMPTY"
    aws["s3"].put_object(Bucket=failed.bucket, Key=failed.key, Body=GOOD)
    assert drop_queued_events(aws, resources) == 1
    assert record(container, document_id).status.value == "FAILED"

    status, body = reindex(http, document_id)

    assert (status, body) == (202, {"document_id": document_id, "status": "PENDING"})
    conforms(body, "ReindexResponse")
    view = drain(worker, container, [document_id])[document_id]
    assert view["status"] == "INDEXED" and view["chunk_count"] > 0 and view["error"] is None
    assert container.index.count(document_id) == view["chunk_count"]


def test_reindexing_an_indexed_document_really_runs_again(http, container, aws, resources, worker):
    document_id = upload(container, "notes.txt", GOOD)
    drain(worker, container, [document_id])
    before = record(container, document_id)
    assert before.status.value == "INDEXED"
    # The same event again is a duplicate the worker skips: nothing is written.
    aws["sqs"].send_message(
        QueueUrl=resources.queue_url,
        MessageBody=json.dumps(
            {
                "source": "aws.s3",
                "detail-type": "Object Created",
                "detail": {
                    "bucket": {"name": before.bucket},
                    "object": {"key": before.key, "etag": before.etag, "size": before.size},
                },
            }
        ),
    )
    while queue_depth(aws, resources.queue_url):
        worker.poll_once()
    assert record(container, document_id).updated_at == before.updated_at

    status, body = reindex(http, document_id)

    assert (status, body) == (202, {"document_id": document_id, "status": "INDEXED"})
    while queue_depth(aws, resources.queue_url):
        worker.poll_once()
    after = record(container, document_id)
    assert after.status.value == "INDEXED" and after.etag == before.etag
    assert after.updated_at > before.updated_at and after.timings_ms != before.timings_ms
    assert after.chunk_count == before.chunk_count == container.index.count(document_id)


def test_another_tenants_document_is_404_and_queues_nothing(http_as, container, aws, resources, worker):
    document_id = upload(container, "notes.txt", GOOD)
    drain(worker, container, [document_id])

    response = http_as(BOB).post(f"/documents/{document_id}/reindex")

    assert response.status_code == 404
    assert json.loads(response.body)["error"]["code"] == "not_found"
    assert queue_depth(aws, resources.queue_url) == 0


def test_an_unknown_id_is_404(http):
    status, body = reindex(http, document_id_for("quarry-raw", "tenants/acme/nothing-here"))
    assert status == 404 and body["error"]["code"] == "not_found"


def test_a_document_whose_source_is_gone_is_409_source_missing(http, container, aws, resources, worker):
    document_id = upload(container, "notes.txt", GOOD)
    drain(worker, container, [document_id])
    indexed = record(container, document_id)
    # Gone from the bucket (every version), before the worker has heard of it.
    container.object_store.delete(indexed.bucket, indexed.key)

    status, body = reindex(http, document_id)

    assert status == 409 and body["error"]["code"] == "source_missing"
    conforms(body, "Error")
    assert indexed.key in body["error"]["message"] and "upload the file again" in body["error"]["message"]
    assert record(container, document_id).status.value == "INDEXED"


def test_a_deleted_document_is_409_document_deleted(http, container, aws, resources, worker):
    document_id = upload(container, "notes.txt", GOOD)
    drain(worker, container, [document_id])
    assert http.delete(f"/documents/{document_id}").status_code == 200
    drop_queued_events(aws, resources)

    status, body = reindex(http, document_id)

    assert status == 409 and body["error"]["code"] == "document_deleted"
    assert queue_depth(aws, resources.queue_url) == 0


def test_the_request_is_an_ingest_request_message_on_the_ingest_queue(http, container, aws, resources):
    key = f"tenants/{TENANT}/uploads/direct/notes.txt"
    aws["s3"].put_object(Bucket=container.settings.raw_bucket, Key=key, Body=GOOD)
    document_id = document_id_for(container.settings.raw_bucket, key)
    poller(aws, resources).poll_once()  # the object's own event: the document exists, INDEXED

    reindex(http, document_id)

    (message,) = aws["sqs"].receive_message(QueueUrl=resources.queue_url, MaxNumberOfMessages=10)["Messages"]
    body = json.loads(message["Body"])
    assert body["source"] == "quarry" and body["detail-type"] == "Ingest Requested"
    assert body["detail"]["force"] is True and body["detail"]["reason"] == "reindex"
    assert body["detail"]["object"]["key"] == key
    assert body["detail"]["object"]["etag"] == record(container, document_id).etag
