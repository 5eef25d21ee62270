"""Errors that leak nothing: a provider's text (role ARNs, account ids, endpoints) reaches the logs,
with the document id, and never the document the API shows; the record gets a message for its owner."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from chalicelib.adapters.local_embedders import HashingEmbedder
from chalicelib.adapters.local_extractor import LocalExtractor
from chalicelib.adapters.sqlite import SqliteVectorIndex
from chalicelib.config import Settings
from chalicelib.documents import DocumentsService
from chalicelib.failures import OutOfTime, gave_up_message, permanent_failure_message, retry_message
from chalicelib.ingest import IngestService
from chalicelib.model import DocumentError, ErrorCode, ObjectRef, Status, TransientError
from chalicelib.observability import logger
from tests.fakes import MemoryCatalog, MemoryObjectStore

BUCKET = "quarry-raw-123456789012"
PROVIDER_TEXT = (
    "AccessDeniedException: User: arn:aws:sts::123456789012:assumed-role/quarry-ingest/fn is not "
    "authorized to perform bedrock:InvokeModel on https://bedrock-runtime.eu-west-1.amazonaws.com"
)
SECRETS = ("123456789012", "arn:aws", "amazonaws.com", BUCKET)
TEXT = " ".join(f"Sentence {i} about the heron colony at Loch Awe." for i in range(40)).encode()


@pytest.fixture
def logs() -> Iterator[io.StringIO]:
    captured = io.StringIO()
    capture = logging.StreamHandler(captured)
    capture.setFormatter(logger.registered_formatter)
    logger.addHandler(capture)
    yield captured
    logger.removeHandler(capture)


def log_lines(captured: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in captured.getvalue().splitlines()]


def service(tmp_path, embedder) -> tuple[IngestService, DocumentsService, MemoryObjectStore]:
    settings = Settings(
        raw_bucket=BUCKET,
        processed_bucket="out",
        max_receive_count=3,
        chunk_tokens=40,
        chunk_overlap_tokens=8,
    )
    index = SqliteVectorIndex(tmp_path / "index.sqlite3", HashingEmbedder().dimensions)
    store, catalog = MemoryObjectStore(), MemoryCatalog()
    ingest = IngestService(settings, store, catalog, LocalExtractor(), embedder, index)
    return ingest, DocumentsService(settings, store, catalog, index), store


def assert_nothing_leaks(view: dict) -> None:
    shown = json.dumps(view)
    for secret in SECRETS:
        assert secret not in shown, (secret, shown)


class Refusing(HashingEmbedder):
    def embed_documents(self, texts):
        raise DocumentError(ErrorCode.PROVIDER_ERROR, PROVIDER_TEXT)


class Throttled(HashingEmbedder):
    def embed_documents(self, texts):
        raise TransientError(f"gave up after 4 attempts in 59.0 s: {PROVIDER_TEXT}")


def test_a_provider_refusal_is_logged_with_the_document_and_shown_in_plain_words(tmp_path, logs):
    ingest, documents, store = service(tmp_path, Refusing())
    obj = store.add(BUCKET, "tenants/acme/uploads/a/notes.txt", TEXT)
    outcome = ingest.handle(ObjectRef(bucket=BUCKET, key=obj.key, etag=obj.etag, size=obj.size))
    view = documents.get("acme", outcome.document_id)
    assert view["status"] == "FAILED"
    assert view["error"] == {
        "code": "PROVIDER_ERROR",
        "message": "The embedding service refused this document, so it was not indexed; "
        "retrying will not help until the deployment is fixed",
    }
    assert "bucket" not in view["source"] and view["source"]["key"] == obj.key
    assert_nothing_leaks(view)
    (failed,) = [line for line in log_lines(logs) if line["message"] == "document failed"]
    assert failed["document_id"] == outcome.document_id and failed["detail"] == PROVIDER_TEXT
    assert failed["stage"] == "embed" and failed["error_code"] == "PROVIDER_ERROR"


def test_a_provider_outage_is_retried_then_given_up_in_plain_words(tmp_path, logs):
    ingest, documents, store = service(tmp_path, Throttled())
    obj = store.add(BUCKET, "tenants/acme/uploads/a/notes.txt", TEXT)
    ref = ObjectRef(bucket=BUCKET, key=obj.key, etag=obj.etag, size=obj.size)
    with pytest.raises(TransientError):
        ingest.handle(ref, attempt=1)
    waiting = documents.get("acme", ref.document_id)
    assert waiting["error"] == {
        "code": "PROVIDER_ERROR",
        "message": "Attempt 1: the embedding service could not be reached; the document will be retried",
    }
    assert_nothing_leaks(waiting)
    with pytest.raises(TransientError):
        ingest.handle(ref, attempt=3)
    failed = documents.get("acme", ref.document_id)
    assert failed["status"] == "FAILED"
    assert failed["error"]["message"] == "Gave up after 3 attempts: the embedding service kept failing"
    assert_nothing_leaks(failed)
    attempts = [line for line in log_lines(logs) if line["message"] == "attempt failed"]
    assert [line["attempt"] for line in attempts] == [1, 3]
    assert all(
        line["document_id"] == ref.document_id and PROVIDER_TEXT in line["detail"] for line in attempts
    )


def test_a_bug_is_an_internal_error_and_its_text_stays_in_the_logs(tmp_path, logs):
    class Broken(HashingEmbedder):
        def embed_documents(self, texts):
            raise KeyError(PROVIDER_TEXT)

    ingest, documents, store = service(tmp_path, Broken())
    obj = store.add(BUCKET, "tenants/acme/uploads/a/notes.txt", TEXT)
    ref = ObjectRef(bucket=BUCKET, key=obj.key, etag=obj.etag, size=obj.size)
    with pytest.raises(KeyError):
        ingest.handle(ref, attempt=3)
    failed = documents.get("acme", ref.document_id)
    assert failed["error"] == {
        "code": "INTERNAL",
        "message": "Gave up after 3 attempts: an internal error kept happening",
    }
    assert_nothing_leaks(failed)
    assert any(
        "123456789012" in line["detail"] for line in log_lines(logs) if line["message"] == "attempt failed"
    )


def test_a_file_problem_keeps_its_own_message() -> None:
    error = DocumentError(ErrorCode.ENCRYPTED, "The PDF is password-protected; remove the password")
    assert permanent_failure_message(error, "parse") == error.message


@pytest.mark.parametrize(
    "stage, service",
    [
        ("extract", "the extraction model"),
        ("embed", "the embedding service"),
        ("index", "the search index"),
        ("fetch", "the file store"),
        (None, "a service Quarry depends on"),
    ],
)
def test_each_stage_names_its_service(stage, service) -> None:
    outage = TransientError(PROVIDER_TEXT)
    assert (
        retry_message(outage, stage, 2)
        == f"Attempt 2: {service} could not be reached; the document will be retried"
    )
    assert gave_up_message(outage, stage, 5) == f"Gave up after 5 attempts: {service} kept failing"
    refused = permanent_failure_message(DocumentError(ErrorCode.PROVIDER_ERROR, PROVIDER_TEXT), stage)
    assert refused.startswith(service[0].upper() + service[1:]) and "123456789012" not in refused


def test_running_out_of_time_says_so() -> None:
    late = OutOfTime("the worker's time ran out before the embed stage; the document will be retried")
    assert retry_message(late, None, 1) == f"Attempt 1 failed and will be retried: {late}"
    assert gave_up_message(late, None, 4) == f"Gave up after 4 attempts: {late}"


def test_the_document_view_names_no_bucket(tmp_path) -> None:
    _, documents, _ = service(tmp_path, HashingEmbedder())
    from chalicelib.api.requests import UploadRequest

    created = documents.create_upload("acme", UploadRequest(filename="notes.txt"))
    view = documents.get("acme", created["document_id"])
    assert view["status"] == Status.PENDING.value
    assert set(view["source"]) == {"key", "etag", "size", "content_type"}
    assert_nothing_leaks(view)
