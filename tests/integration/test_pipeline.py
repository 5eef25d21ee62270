"""The ingest path on moto server: S3 → EventBridge → SQS → the Chalice SQS handler → index + catalog."""

from __future__ import annotations

import io
import json
import logging
import threading
import time

from chalicelib.adapters.local_extractor import LocalExtractor
from chalicelib.api.requests import SearchRequest
from chalicelib.model import TransientError, document_id_for
from chalicelib.observability import logger
from chalicelib.worker import handle_batch
from tests.documents import FACT_DOCUMENTS, encrypt_pdf, make_pdf, wav_bytes
from tests.integration.pipeline import TENANT, drain, poller, queue_depth, upload


def test_upload_reaches_indexed_with_processed_output(container, aws, resources, aws_settings):
    data, _ = FACT_DOCUMENTS["lighthouse.txt"]
    document_id = upload(container, "lighthouse.txt", data, {"team": "coast"})
    view = drain(poller(aws, resources), container, [document_id])[document_id]
    assert view["status"] == "INDEXED", view["error"]
    assert view["chunk_count"] >= 1 and view["source"]["etag"] and view["source"]["size"] == len(data)
    assert view["extraction"]["data"]["language"] == "en" and view["extraction"]["data"]["keywords"]
    assert set(view["timings_ms"]) >= {"fetch", "parse", "chunk", "extract", "embed", "index"}
    processed = json.loads(
        aws["s3"]
        .get_object(
            Bucket=aws_settings.processed_bucket, Key=f"tenants/{TENANT}/processed/{document_id}.json"
        )["Body"]
        .read()
    )
    assert processed["document_id"] == document_id and "1,482 seabirds" in processed["text"]
    assert len(processed["chunks"]) == view["chunk_count"]
    assert container.index.count(document_id) == view["chunk_count"]
    hits = container.search.search(TENANT, SearchRequest(query="Skerryvore seabirds", mode="keyword"))[
        "results"
    ]
    assert hits[0]["document_id"] == document_id and hits[0]["metadata"] == {"team": "coast"}
    assert queue_depth(aws, resources.queue_url) == 0


def dropped(aws, container, key: str, data: bytes) -> str:
    """An object put straight into the raw bucket (no /uploads): its document id."""
    aws["s3"].put_object(Bucket=container.settings.raw_bucket, Key=key, Body=data)
    return document_id_for(container.settings.raw_bucket, key)


def test_bad_files_fail_with_reasons_and_the_batch_goes_on(container, aws, resources):
    good, _ = FACT_DOCUMENTS["orchard.md"]
    ids = {
        "good": upload(container, "orchard.md", good),
        "empty": upload(container, "empty.txt", b""),
        # /uploads refuses a .wav (tests/integration/test_uploads.py): this one is dropped straight
        # into the bucket, where only the worker can tell.
        "audio": dropped(aws, container, "tenants/acme/uploads/direct/sound.wav", wav_bytes()),
        "locked": upload(container, "locked.pdf", encrypt_pdf(make_pdf(["secret plans"]))),
        "corrupt": upload(container, "broken.pdf", b"%PDF-1.4\n1 0 obj garbage"),
    }
    views = drain(poller(aws, resources), container, list(ids.values()))
    by_name = {name: views[i] for name, i in ids.items()}
    assert by_name["good"]["status"] == "INDEXED"
    expected = {"empty": "EMPTY", "audio": "UNSUPPORTED_TYPE", "locked": "ENCRYPTED", "corrupt": "CORRUPT"}
    for name, code in expected.items():
        assert by_name[name]["status"] == "FAILED", name
        assert by_name[name]["error"]["code"] == code, by_name[name]["error"]
        assert len(by_name[name]["error"]["message"]) > 15
        assert by_name[name]["chunk_count"] == 0
    assert queue_depth(aws, resources.queue_url) == 0
    assert queue_depth(aws, resources.dlq_url) == 0


def test_the_same_event_twice_leaves_one_document_with_one_set_of_chunks(container, aws, resources):
    data, _ = FACT_DOCUMENTS["volcano.html"]
    worker = poller(aws, resources)
    document_id = upload(container, "volcano.html", data)
    message = aws["sqs"].receive_message(QueueUrl=resources.queue_url, WaitTimeSeconds=2)["Messages"][0]
    # Deliver the very same body again, as SQS at-least-once delivery may.
    aws["sqs"].send_message(QueueUrl=resources.queue_url, MessageBody=message["Body"])
    aws["sqs"].change_message_visibility(
        QueueUrl=resources.queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
    )
    first = drain(worker, container, [document_id])[document_id]
    while queue_depth(aws, resources.queue_url):
        worker.poll_once()
        time.sleep(0.1)
    second = container.documents.get(TENANT, document_id)
    assert second["status"] == "INDEXED" and second["chunk_count"] == first["chunk_count"]
    assert container.index.count(document_id) == first["chunk_count"]
    results = container.search.search(TENANT, SearchRequest(query="Mount Vireo ash", mode="keyword", k=50))[
        "results"
    ]
    chunk_ids = [r["chunk_id"] for r in results]
    assert len(chunk_ids) == len(set(chunk_ids)) == first["chunk_count"]


def test_object_dropped_straight_into_the_bucket_is_ingested(container, aws, resources, aws_settings):
    key = f"tenants/{TENANT}/drop/zone/tram stops é.csv"
    data, _ = FACT_DOCUMENTS["trams.csv"]
    aws["s3"].put_object(
        Bucket=aws_settings.raw_bucket,
        Key=key,
        Body=data,
        ContentType="text/csv",
        Metadata={"source": "scanner"},
    )
    document_id = document_id_for(aws_settings.raw_bucket, key)
    view = drain(poller(aws, resources), container, [document_id])[document_id]
    assert view["status"] == "INDEXED" and view["source"]["key"] == key
    assert view["metadata"] == {"source": "scanner"}


def test_reupload_replaces_the_old_version(container, aws, resources, aws_settings):
    key = f"tenants/{TENANT}/notes/changing.txt"
    worker = poller(aws, resources)
    document_id = document_id_for(aws_settings.raw_bucket, key)
    aws["s3"].put_object(Bucket=aws_settings.raw_bucket, Key=key, Body=b"The vault code is amber falcon.")
    drain(worker, container, [document_id])
    aws["s3"].put_object(Bucket=aws_settings.raw_bucket, Key=key, Body=b"The vault code is violet heron.")
    deadline = time.monotonic() + 30
    while "violet" not in json.dumps(
        container.search.search(TENANT, SearchRequest(query="vault code", mode="keyword"))
    ):
        assert time.monotonic() < deadline
        worker.poll_once()
    texts = [
        r["text"]
        for r in container.search.search(TENANT, SearchRequest(query="vault code", mode="keyword"))["results"]
    ]
    assert texts == ["The vault code is violet heron."]


def test_transient_failures_retry_then_dead_letter_with_the_document_failed(container, aws, resources):
    class DownEmbedder(type(container.embedder)):
        def embed_documents(self, texts):
            raise TransientError("embedding provider unavailable (simulated outage)")

    container.__dict__["embedder"] = DownEmbedder()
    container.__dict__.pop("ingest", None)
    document_id = upload(container, "lighthouse.txt", FACT_DOCUMENTS["lighthouse.txt"][0])
    worker = poller(aws, resources)
    deadline = time.monotonic() + 60
    while queue_depth(aws, resources.dlq_url) == 0:
        assert time.monotonic() < deadline, "message never reached the DLQ"
        worker.poll_once()
        time.sleep(0.3)
    view = container.documents.get(TENANT, document_id)
    assert view["status"] == "FAILED"
    # The provider's text ("simulated outage") is logged, not shown (tests/unit/test_failure_messages.py).
    assert (
        view["error"]["code"] == "PROVIDER_ERROR"
        and "the embedding service kept failing" in view["error"]["message"]
    )
    assert queue_depth(aws, resources.queue_url) == 0


def test_delete_removes_chunks_output_and_source(container, aws, resources, aws_settings):
    document_id = upload(container, "risotto.json", FACT_DOCUMENTS["risotto.json"][0])
    view = drain(poller(aws, resources), container, [document_id])[document_id]
    assert container.index.count(document_id) == view["chunk_count"] > 0
    answer = container.documents.delete(TENANT, document_id)
    assert answer == {"document_id": document_id, "status": "DELETED", "chunks_removed": view["chunk_count"]}
    assert container.index.count(document_id) == 0
    assert container.documents.get(TENANT, document_id)["status"] == "DELETED"
    listed = aws["s3"].list_objects_v2(Bucket=aws_settings.processed_bucket).get("Contents", [])
    assert listed == []
    assert aws["s3"].list_objects_v2(Bucket=aws_settings.raw_bucket).get("KeyCount") == 0


def test_object_deleted_event_removes_the_document(container, aws, resources, aws_settings):
    document_id = upload(container, "orchard.md", FACT_DOCUMENTS["orchard.md"][0])
    worker = poller(aws, resources)
    view = drain(worker, container, [document_id])[document_id]
    aws["s3"].delete_object(Bucket=aws_settings.raw_bucket, Key=view["source"]["key"])
    # moto emits no "Object Deleted" for a versioned bucket, so send the event AWS would.
    event = {
        "version": "0",
        "source": "aws.s3",
        "detail-type": "Object Deleted",
        "time": "2026-11-24T22:00:00Z",
        "detail": {
            "bucket": {"name": aws_settings.raw_bucket},
            "object": {"key": view["source"]["key"], "sequencer": "FFFF"},
            "reason": "DeleteObject",
        },
    }
    aws["sqs"].send_message(QueueUrl=resources.queue_url, MessageBody=json.dumps(event))
    drain(worker, container, [document_id])
    while queue_depth(aws, resources.queue_url):
        worker.poll_once()
    assert container.documents.get(TENANT, document_id)["status"] == "DELETED"
    assert container.index.count(document_id) == 0


class MeetingExtractor(LocalExtractor):
    """The first `parties` documents meet at a barrier inside extraction: that only succeeds if the
    worker has that many records in flight at once."""

    def __init__(self, parties: int) -> None:
        super().__init__()
        self.barrier = threading.Barrier(parties, timeout=10)
        self.calls = 0
        self._lock = threading.Lock()

    def extract(self, text, title_hint=None, content_type=None, schema=None):
        with self._lock:
            self.calls += 1
            first_wave = self.calls <= self.barrier.parties
        if first_wave:
            self.barrier.wait()
        return super().extract(text, title_hint, content_type, schema)


def test_a_batch_runs_its_records_concurrently_and_logs_each_under_its_own_document(
    container, aws, resources
):
    meeting = container.__dict__["extractor"] = MeetingExtractor(parties=4)
    captured = io.StringIO()
    capture = logging.StreamHandler(captured)
    capture.setFormatter(logger.registered_formatter)
    logger.addHandler(capture)
    try:
        names = sorted(FACT_DOCUMENTS)[:4] * 2
        ids = [upload(container, f"{i}-{name}", FACT_DOCUMENTS[name][0]) for i, name in enumerate(names)]
        worker = poller(
            aws, resources, handler=lambda event, context: handle_batch(event, context, container.ingest, 4)
        )
        views = drain(worker, container, ids)
    finally:
        logger.removeHandler(capture)
    assert {d: v["status"] for d, v in views.items()} == dict.fromkeys(ids, "INDEXED")
    assert not meeting.barrier.broken, "four records were never in extraction at once"
    indexed = [
        line
        for line in map(json.loads, captured.getvalue().splitlines())
        if line["message"] == "document indexed"
    ]
    assert sorted(line["document_id"] for line in indexed) == sorted(ids)
    assert len({line["message_id"] for line in indexed}) == len(ids)
