"""The services on typed in-memory fakes plus the real embedded index: orchestration and status rules."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import replace

import pytest

from chalicelib.adapters.local_embedders import HashingEmbedder
from chalicelib.adapters.local_extractor import LocalExtractor
from chalicelib.adapters.sqlite import SqliteVectorIndex
from chalicelib.api.requests import SearchRequest, UploadRequest
from chalicelib.config import Settings
from chalicelib.documents import DocumentsService
from chalicelib.ingest import IngestService
from chalicelib.lifecycle import DocumentLifecycle
from chalicelib.model import ConfigurationError, DocumentBusy, ObjectRef, Status, TransientError
from chalicelib.search import SearchService
from tests.documents import FACT_DOCUMENTS
from tests.fakes import MemoryCatalog, MemoryObjectStore

BUCKET = "raw"
TENANT = "acme"


def acme(name: str) -> str:
    """A key in the raw bucket under TENANT's prefix, where its objects go."""
    return f"tenants/{TENANT}/{name}"


@pytest.fixture
def parts(tmp_path):
    settings = Settings(
        raw_bucket=BUCKET,
        processed_bucket="out",
        max_receive_count=3,
        chunk_tokens=40,
        chunk_overlap_tokens=8,
    )
    embedder = HashingEmbedder()
    index = SqliteVectorIndex(tmp_path / "index.sqlite3", embedder.dimensions)
    store, catalog = MemoryObjectStore(), MemoryCatalog()
    ingest = IngestService(settings, store, catalog, LocalExtractor(), embedder, index)
    return settings, store, catalog, index, embedder, ingest


def lifecycle_for(settings, store, catalog, index, clock) -> DocumentLifecycle:
    """The lifecycle an IngestService built from the same parts and clock writes through."""
    return DocumentLifecycle(
        catalog,
        store,
        index,
        processed_bucket=settings.processed_bucket,
        claim_lease_s=settings.claim_lease_s,
        clock=clock,
    )


def ref_for(obj) -> ObjectRef:
    return ObjectRef(bucket=obj.bucket, key=obj.key, etag=obj.etag, size=obj.size)


LONG_TEXT = " ".join(f"Sentence {i} mentions the heron colony at Loch Awe." for i in range(60)).encode()


def test_the_ledger_entry_goes_on_the_indexed_record_with_the_write_that_ends_the_claim(parts):
    settings, store, catalog, index, embedder, _ = parts
    entries = []

    def usage_entry(source_bytes: int, chunks: int) -> dict:
        entries.append({"source_bytes": source_bytes, "chunks": chunks})
        return entries[-1]

    ingest = IngestService(
        settings, store, catalog, LocalExtractor(), embedder, index, usage_entry=usage_entry
    )
    obj = store.add(BUCKET, acme("notes/herons.txt"), LONG_TEXT, "text/plain")
    outcome = ingest.handle(ref_for(obj))
    record = catalog.get(outcome.document_id)
    assert outcome.usage_recorded and record.status == Status.INDEXED
    assert record.usage == entries[-1] == {"source_bytes": obj.size, "chunks": record.chunk_count}
    assert catalog.usage_writes == 0


def test_ingest_records_indexed_document_and_processed_output(parts):
    _, store, catalog, index, _, ingest = parts
    obj = store.add(BUCKET, acme("notes/herons.txt"), LONG_TEXT, "text/plain")
    outcome = ingest.handle(ref_for(obj))
    record = catalog.get(outcome.document_id)
    assert outcome.status == record.status == Status.INDEXED
    assert record.chunk_count == outcome.chunk_count == index.count(outcome.document_id) > 1
    assert [status for _, status in catalog.history] == [Status.PROCESSING, Status.INDEXED]
    processed = store.json[("out", f"tenants/acme/processed/{outcome.document_id}.json")]
    assert len(processed["chunks"]) == record.chunk_count and processed["source"]["etag"] == obj.etag
    assert record.extraction["data"]["keywords"]


def test_a_version_already_indexed_is_skipped(parts):
    _, store, catalog, _, _, ingest = parts
    obj = store.add(BUCKET, acme("a.txt"), LONG_TEXT)
    ingest.handle(ref_for(obj))
    writes = len(catalog.history)
    again = ingest.handle(ref_for(obj))
    assert again.skipped and len(catalog.history) == writes


def test_a_bad_new_version_fails_and_removes_the_old_chunks(parts):
    _, store, catalog, index, _, ingest = parts
    good = store.add(BUCKET, acme("a.txt"), LONG_TEXT)
    document_id = ingest.handle(ref_for(good)).document_id
    assert index.count(document_id) > 0
    bad = store.add(BUCKET, acme("a.txt"), b"")
    outcome = ingest.handle(ref_for(bad))
    record = catalog.get(document_id)
    assert outcome.status == record.status == Status.FAILED and record.error_code == "EMPTY"
    assert index.count(document_id) == 0 and record.chunk_count == 0


def test_a_missing_object_fails_permanently(parts):
    _, _, catalog, _, _, ingest = parts
    outcome = ingest.handle(ObjectRef(bucket=BUCKET, key=acme("gone.txt"), etag="x"))
    assert catalog.get(outcome.document_id).error_code == "OBJECT_MISSING"


def test_transient_errors_propagate_and_fail_the_document_on_the_last_attempt(parts):
    settings, store, catalog, index, _embedder, _ = parts

    class Outage(HashingEmbedder):
        def embed_documents(self, texts):
            raise TransientError("throttled")

    ingest = IngestService(settings, store, catalog, LocalExtractor(), Outage(), index)
    obj = store.add(BUCKET, acme("a.txt"), LONG_TEXT)
    with pytest.raises(TransientError):
        ingest.handle(ref_for(obj), attempt=1)
    waiting = catalog.get(obj_id := ref_for(obj).document_id)
    assert waiting.status == Status.PROCESSING and waiting.lease_expires_at is None
    assert waiting.error_code == "PROVIDER_ERROR" and "will be retried" in waiting.error_message
    with pytest.raises(TransientError):
        ingest.handle(ref_for(obj), attempt=settings.max_receive_count)
    record = catalog.get(obj_id)
    assert record.status == Status.FAILED and record.error_code == "PROVIDER_ERROR"
    # The provider's text ("throttled") goes to the logs (tests/unit/test_failure_messages.py); the
    # record names the service that kept failing.
    assert record.error_message == "Gave up after 3 attempts: the embedding service kept failing"


class DeniedTitanClient:
    """A bedrock-runtime client whose role may not call the model: every call is refused."""

    def invoke_model(self, **params):
        from botocore.exceptions import ClientError

        raise ClientError(
            {
                "Error": {
                    "Code": "AccessDeniedException",
                    "Message": "not authorized to perform bedrock:InvokeModel",
                },
                "ResponseMetadata": {"HTTPStatusCode": 403},
            },
            "InvokeModel",
        )


def test_an_account_error_leaves_the_document_to_be_retried_not_failed(parts):
    """Issue 12: one bad deployment (a role without bedrock:InvokeModel) used to fail every document at
    once; the document now waits for the retry with the error and its fix visible."""
    from chalicelib.adapters.bedrock_embedder import TitanEmbedder

    settings, store, catalog, index, _embedder, _ = parts
    titan = TitanEmbedder(DeniedTitanClient(), dimensions=256, sleep=lambda s: None)
    ingest = IngestService(settings, store, catalog, LocalExtractor(), titan, index)
    obj = store.add(BUCKET, acme("a.txt"), LONG_TEXT)
    with pytest.raises(ConfigurationError):
        ingest.handle(ref_for(obj), attempt=1)
    waiting = catalog.get(ref_for(obj).document_id)
    assert waiting.status == Status.PROCESSING and waiting.lease_expires_at is None
    # The fix (which IAM statement) goes to the log line; the owner sees a plain retry notice (issue 11).
    assert "will be retried" in waiting.error_message and "arn:" not in waiting.error_message
    assert Status.FAILED not in [status for _, status in catalog.history]


def test_deleted_event_removes_chunks_and_output(parts):
    _, store, catalog, index, _, ingest = parts
    obj = store.add(BUCKET, acme("a.txt"), LONG_TEXT)
    document_id = ingest.handle(ref_for(obj)).document_id
    store.delete(BUCKET, acme("a.txt"))
    ingest.handle(ObjectRef(bucket=BUCKET, key=acme("a.txt"), deleted=True))
    assert catalog.get(document_id).status == Status.DELETED
    assert (
        index.count(document_id) == 0
        and ("out", f"tenants/acme/processed/{document_id}.json") not in store.json
    )


def test_upload_creates_a_pending_record_under_a_fresh_key(parts):
    settings, store, catalog, index, _, _ = parts
    documents = DocumentsService(settings, store, catalog, index)
    first = documents.create_upload(
        TENANT, UploadRequest(filename="../../etc/passwd", content_type="text/plain")
    )
    second = documents.create_upload(TENANT, UploadRequest(filename="passwd"))
    assert first["key"].startswith("tenants/acme/uploads/") and first["key"].endswith("/passwd")
    assert first["key"] != second["key"] and first["document_id"] != second["document_id"]
    assert documents.get(TENANT, first["document_id"])["status"] == "PENDING"


def test_hybrid_search_fuses_vector_and_keyword_rankings(parts):
    settings, store, catalog, index, embedder, ingest = parts
    for name, text in {
        "herons.txt": LONG_TEXT,
        "otters.txt": b"Otters fish in the river Tay at dawn.",
        "budget.txt": b"The council budget for 2025 rose by four percent.",
    }.items():
        ingest.handle(ref_for(store.add(BUCKET, acme(name), text)))
    search = SearchService(settings, embedder, index, catalog)
    for mode in ("hybrid", "vector", "keyword"):
        results = search.search(TENANT, SearchRequest(query="otters fishing in the Tay", mode=mode, k=3))[
            "results"
        ]
        assert results[0]["source"]["key"] == acme("otters.txt"), mode
    hybrid = search.search(TENANT, SearchRequest(query="otters fishing in the Tay", k=3))
    assert {"embed_query", "vector", "keyword"} <= set(hybrid["timings_ms"])
    assert [r["score"] for r in hybrid["results"]] == sorted(
        (r["score"] for r in hybrid["results"]), reverse=True
    )


def test_a_live_claim_makes_a_second_delivery_retry_and_an_expired_one_does_not(parts):
    settings, store, catalog, index, embedder, _ = parts
    clock = iter(["2026-01-01T00:00:00.000Z", "2026-01-01T00:00:01.000Z", "2026-01-01T00:00:02.000Z"])
    obj = store.add(BUCKET, acme("a.txt"), LONG_TEXT)
    ingest = IngestService(
        settings, store, catalog, LocalExtractor(), embedder, index, clock=lambda: next(clock)
    )
    holder = lifecycle_for(settings, store, catalog, index, clock=lambda: next(clock)).claim(
        ref_for(obj), None, attempt=1, tenant=TENANT
    )
    assert catalog.get(holder.document_id).claim_token == holder.claim_token
    with pytest.raises(DocumentBusy):
        ingest.handle(ref_for(obj), attempt=1)
    # On the last attempt the busy delivery steps aside instead of dead-lettering a healthy document.
    late = IngestService(
        settings, store, catalog, LocalExtractor(), embedder, index, clock=lambda: "2026-01-01T00:00:03.000Z"
    )
    assert late.handle(ref_for(obj), attempt=settings.max_receive_count).skipped
    after_lease = IngestService(
        settings, store, catalog, LocalExtractor(), embedder, index, clock=lambda: "2026-01-01T01:00:00.000Z"
    )
    assert after_lease.handle(ref_for(obj), attempt=2).status == Status.INDEXED
    assert catalog.get(holder.document_id).claim_token is None


class WorkerKilled(BaseException):
    """A dying worker, as the code still running sees it: not an Exception, so nothing handles it."""


def test_the_last_delivery_after_a_worker_died_fails_the_document_instead_of_dying_again(parts):
    """Issue 12: a file that kills the worker on every delivery left the document PROCESSING for ever
    (the last delivery died too and the message went to the DLQ)."""
    settings, store, catalog, index, embedder, _ = parts

    class Killer(HashingEmbedder):
        def embed_documents(self, texts):
            raise WorkerKilled("out of memory")

    obj = store.add(BUCKET, acme("a.txt"), LONG_TEXT)

    def at(moment: str, embedder_=None) -> IngestService:
        return IngestService(
            settings, store, catalog, LocalExtractor(), embedder_ or embedder, index, clock=lambda: moment
        )

    with pytest.raises(WorkerKilled):
        at("2026-01-01T00:00:00.000Z", Killer()).handle(ref_for(obj), attempt=1)
    dead = catalog.get(ref_for(obj).document_id)
    assert dead.status == Status.PROCESSING and dead.lease_expires_at is not None
    # Before the last delivery a died claim is simply taken over, and processing is tried again.
    with pytest.raises(WorkerKilled):
        at("2026-01-01T01:00:00.000Z", Killer()).handle(ref_for(obj), attempt=settings.max_receive_count - 1)
    store.put_json("out", f"tenants/acme/processed/{dead.document_id}.json", {"left": "behind"})
    outcome = at("2026-01-01T02:00:00.000Z", Killer()).handle(
        ref_for(obj), attempt=settings.max_receive_count
    )
    record = catalog.get(dead.document_id)
    assert outcome.status == record.status == Status.FAILED and record.error_code == "WORKER_DIED"
    assert "memory or time" in record.error_message and record.lease_expires_at is None
    assert record.claim_token is None and index.count(dead.document_id) == 0
    assert ("out", f"tenants/acme/processed/{dead.document_id}.json") not in store.json


def test_the_last_delivery_after_an_ordinary_failure_still_processes(parts):
    settings, store, catalog, index, embedder, _ = parts

    class Outage(HashingEmbedder):
        def embed_documents(self, texts):
            raise TransientError("throttled")

    obj = store.add(BUCKET, acme("a.txt"), LONG_TEXT)
    flaky = IngestService(settings, store, catalog, LocalExtractor(), Outage(), index)
    with pytest.raises(TransientError):
        flaky.handle(ref_for(obj), attempt=settings.max_receive_count - 1)
    healthy = IngestService(
        settings, store, catalog, LocalExtractor(), embedder, index, clock=lambda: "2099-01-01T00:00:00.000Z"
    )
    assert healthy.handle(ref_for(obj), attempt=settings.max_receive_count).status == Status.INDEXED


def test_a_worker_whose_claim_was_taken_over_records_nothing(parts):
    settings, store, catalog, index, _, _ = parts

    class TakenOverMidway(HashingEmbedder):
        """Embedding is slow enough that the lease runs out and another worker claims the document."""

        def embed_documents(self, texts):
            for record in catalog.records.values():
                record.claim_token = "second-worker"
            return super().embed_documents(texts)

    ingest = IngestService(settings, store, catalog, LocalExtractor(), TakenOverMidway(), index)
    obj = store.add(BUCKET, acme("a.txt"), LONG_TEXT)
    outcome = ingest.handle(ref_for(obj))
    record = catalog.get(outcome.document_id)
    assert outcome.skipped and record.status == Status.PROCESSING
    assert record.claim_token == "second-worker"


def test_a_stale_delete_event_leaves_a_rewritten_object_alone(parts):
    _, store, catalog, index, _, ingest = parts
    obj = store.add(BUCKET, acme("a.txt"), LONG_TEXT)
    document_id = ingest.handle(ref_for(obj)).document_id
    outcome = ingest.handle(ObjectRef(bucket=BUCKET, key=acme("a.txt"), deleted=True))
    assert outcome.skipped and catalog.get(document_id).status == Status.INDEXED
    assert index.count(document_id) > 0


def test_no_stage_starts_without_the_time_reserve(parts):
    settings, store, catalog, _, _, ingest = parts
    obj = store.add(BUCKET, acme("a.txt"), LONG_TEXT)
    with pytest.raises(TransientError, match="time ran out before the fetch stage"):
        ingest.handle(ref_for(obj), attempt=1, remaining_ms=lambda: settings.time_reserve_s * 1000 - 1)
    record = catalog.get(ref_for(obj).document_id)
    assert record.status == Status.PROCESSING and record.lease_expires_at is None
    assert "split it" in record.error_message


PEOPLE_SCHEMA = {
    "type": "object",
    "properties": {"title": {"type": "string"}, "language": {"type": "string"}},
    "required": ["language"],
}


class RecordingExtractor(LocalExtractor):
    def __init__(self):
        self.schemas = []

    def extract(self, text, title_hint=None, content_type=None, schema=None):
        self.schemas.append(schema)
        return super().extract(text, title_hint, content_type, schema)


def test_the_upload_schema_wins_over_the_configured_default(parts):
    settings, store, catalog, index, embedder, _ = parts
    default = {"type": "object", "properties": {"summary": {"type": "string"}}}
    configured = replace(settings, extraction_schema=json.dumps(default))
    extractor = RecordingExtractor()
    ingest = IngestService(configured, store, catalog, extractor, embedder, index)
    documents = DocumentsService(configured, store, catalog, index)
    answer = documents.create_upload(TENANT, UploadRequest(filename="a.txt", extraction_schema=PEOPLE_SCHEMA))
    obj = store.add(BUCKET, answer["key"], FACT_DOCUMENTS["lighthouse.txt"][0])
    ingest.handle(ref_for(obj))
    ingest.handle(ref_for(store.add(BUCKET, acme("plain.txt"), LONG_TEXT)))
    assert extractor.schemas == [PEOPLE_SCHEMA, default]
    plain = catalog.get(ref_for(store.objects[(BUCKET, acme("plain.txt"))]).document_id).extraction
    assert set(plain["data"]) == {"summary"} and plain["error"] is None
    data = catalog.get(answer["document_id"]).extraction["data"]
    assert set(data) <= {"title", "language"} and data["language"] == "en"
    assert catalog.get(answer["document_id"]).extraction["error"] is None


@pytest.mark.parametrize(
    "schema, reason",
    [
        ({"type": "array"}, "must describe an object"),
        ({"type": "object", "properties": {"x": {"type": "no-such-type"}}}, "not a valid JSON Schema"),
        ({"type": "object", "description": "x" * 20_000}, "larger than"),
    ],
)
def test_unusable_extraction_schemas_are_refused(schema, reason):
    with pytest.raises(ValueError, match=reason):
        UploadRequest(filename="a.txt", extraction_schema=schema)


class RemoteLikeExtractor(LocalExtractor):
    waits_on_network = True  # so it runs in the extraction pool, beside embedding


@pytest.mark.parametrize("extractor", [LocalExtractor, RemoteLikeExtractor], ids=["local", "remote"])
def test_extraction_that_misses_a_required_field_is_recorded_not_fatal(parts, extractor):
    settings, store, catalog, index, embedder, _ = parts
    schema = {
        "type": "object",
        "properties": {"invoice_number": {"type": "string"}},
        "required": ["invoice_number"],
    }
    ingest = IngestService(
        replace(settings, extraction_schema=json.dumps(schema)),
        store,
        catalog,
        extractor(),
        embedder,
        index,
    )
    outcome = ingest.handle(ref_for(store.add(BUCKET, acme("a.txt"), LONG_TEXT)))
    record = catalog.get(outcome.document_id)
    assert record.status == Status.INDEXED
    assert "invoice_number" in record.extraction["error"]


def test_a_late_created_event_does_not_revive_a_deleted_document(parts):
    settings, store, catalog, index, _, ingest = parts
    obj = store.add(BUCKET, acme("a.txt"), LONG_TEXT)
    document_id = ingest.handle(ref_for(obj)).document_id
    DocumentsService(settings, store, catalog, index).delete(TENANT, document_id)
    outcome = ingest.handle(ref_for(obj))
    assert outcome.skipped and catalog.get(document_id).status == Status.DELETED
    again = store.add(BUCKET, acme("a.txt"), b"A new file under the old name about kestrels.")
    assert ingest.handle(ref_for(again)).status == Status.INDEXED


def test_a_delete_waits_for_the_worker_that_holds_the_document(parts):
    settings, store, catalog, index, embedder, _ = parts
    obj = store.add(BUCKET, acme("a.txt"), LONG_TEXT)
    claimed_at = lifecycle_for(settings, store, catalog, index, clock=lambda: "2026-01-01T00:00:00.000Z")
    holder = claimed_at.claim(ref_for(obj), None, attempt=1, tenant=TENANT)
    store.delete(BUCKET, acme("a.txt"))
    within_lease = IngestService(
        settings, store, catalog, LocalExtractor(), embedder, index, clock=lambda: "2026-01-01T00:00:01.000Z"
    )
    delete = ObjectRef(bucket=BUCKET, key=acme("a.txt"), deleted=True)
    with pytest.raises(DocumentBusy, match="delete will be retried"):
        within_lease.handle(delete, attempt=1)
    assert catalog.get(holder.document_id).status == Status.PROCESSING
    # The last delivery deletes anyway rather than leave the message in the dead-letter queue.
    assert within_lease.handle(delete, attempt=settings.max_receive_count).status == Status.DELETED
    assert catalog.get(holder.document_id).status == Status.DELETED


def test_extraction_and_embedding_run_side_by_side(parts):
    settings, store, catalog, index, _, _ = parts
    meeting = threading.Barrier(2, timeout=10)

    class MeetingExtractor(LocalExtractor):
        waits_on_network = True  # as Bedrock's does

        def extract(self, *args, **kwargs):
            meeting.wait()
            return super().extract(*args, **kwargs)

    class MeetingEmbedder(HashingEmbedder):
        met = False

        def embed_documents(self, texts):
            if not self.met:  # the first batch meets the extraction; the rest need not
                self.met = True
                meeting.wait()
            return super().embed_documents(texts)

    ingest = IngestService(settings, store, catalog, MeetingExtractor(), MeetingEmbedder(), index)
    outcome = ingest.handle(ref_for(store.add(BUCKET, acme("a.txt"), LONG_TEXT)))
    record = catalog.get(outcome.document_id)
    assert record.status == Status.INDEXED and record.extraction["data"]["keywords"]
    assert {"extract", "embed"} <= set(record.timings_ms)


def test_a_failed_embedding_waits_for_the_extraction_before_giving_the_document_back(parts):
    settings, store, catalog, index, _, _ = parts
    extraction_done = threading.Event()

    class SlowExtractor(LocalExtractor):
        waits_on_network = True

        def extract(self, *args, **kwargs):
            time.sleep(0.2)
            result = super().extract(*args, **kwargs)
            extraction_done.set()
            return result

    class ThrottledEmbedder(HashingEmbedder):
        def embed_documents(self, texts):
            raise TransientError("throttled")

    ingest = IngestService(settings, store, catalog, SlowExtractor(), ThrottledEmbedder(), index)
    with pytest.raises(TransientError, match="throttled"):
        ingest.handle(ref_for(store.add(BUCKET, acme("a.txt"), LONG_TEXT)))
    assert extraction_done.is_set()


def test_an_extractor_that_computes_locally_runs_before_embedding_not_beside_it(parts):
    settings, store, catalog, index, _, _ = parts
    order = []

    class RecordingLocalExtractor(LocalExtractor):
        def extract(self, *args, **kwargs):
            order.append(("extract", threading.get_ident()))
            return super().extract(*args, **kwargs)

    class RecordingEmbedder(HashingEmbedder):
        def embed_documents(self, texts):
            order.append(("embed", threading.get_ident()))
            return super().embed_documents(texts)

    ingest = IngestService(settings, store, catalog, RecordingLocalExtractor(), RecordingEmbedder(), index)
    assert ingest.handle(ref_for(store.add(BUCKET, acme("a.txt"), LONG_TEXT))).status == Status.INDEXED
    assert order[0][0] == "extract" and {thread for _, thread in order} == {threading.get_ident()}
