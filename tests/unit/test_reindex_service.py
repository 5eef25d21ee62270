"""DocumentsService.reindex on the typed fakes: what it queues, what the catalog shows, and that a
request the queue refused leaves the document as it was."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from chalicelib.adapters.sqlite import SqliteVectorIndex
from chalicelib.config import Settings
from chalicelib.documents import DocumentsService
from chalicelib.model import DocumentRecord, InvalidRequest, ObjectRef, Status, document_id_for
from chalicelib.ports import IngestRequests
from tests.fakes import MemoryCatalog, MemoryObjectStore

KEY = "tenants/acme/uploads/u/notes.txt"
T0 = "2026-01-01T00:00:00.000Z"


class RecordingRequests(IngestRequests):
    def __init__(self, refuse: bool = False):
        self.sent: list[tuple[list[ObjectRef], str]] = []
        self.refuse = refuse

    def send(self, refs: Sequence[ObjectRef], reason: str) -> None:
        if self.refuse:
            raise RuntimeError("the ingest queue refused 1 of 1 requests: AccessDenied")
        self.sent.append((list(refs), reason))


@pytest.fixture
def parts(tmp_path):
    settings = Settings()
    store, catalog = MemoryObjectStore(), MemoryCatalog()
    obj = store.add(settings.raw_bucket, KEY, b"some text")
    record = DocumentRecord(
        document_id_for(settings.raw_bucket, KEY),
        Status.FAILED,
        settings.raw_bucket,
        KEY,
        T0,
        T0,
        tenant="acme",
        etag=obj.etag,
        error_code="EMPTY",
        error_message="no text",
    )
    catalog.put(record)
    index = SqliteVectorIndex(tmp_path / "index.sqlite3", 2)
    return settings, store, catalog, index, record


def test_a_failed_document_is_queued_forced_and_reads_pending(parts):
    settings, store, catalog, index, record = parts
    requests = RecordingRequests()
    service = DocumentsService(settings, store, catalog, index, ingest_requests=requests)

    answer = service.reindex("acme", record.document_id)

    assert answer == {"document_id": record.document_id, "status": "PENDING"}
    ((refs, reason),) = requests.sent
    assert reason == "reindex"
    assert refs == [ObjectRef(settings.raw_bucket, KEY, etag=record.etag, size=9, force=True)]
    pending = catalog.get(record.document_id)
    assert pending.status == Status.PENDING and pending.error_code is None and pending.error_message is None
    # Its own claim token: the reaper fails it, conditionally on that token, if no delivery claims it.
    assert pending.claim_token.startswith("reindex-") and pending.lease_expires_at is None


def test_a_request_the_queue_refuses_leaves_the_failure_shown(parts):
    settings, store, catalog, index, record = parts
    service = DocumentsService(
        settings, store, catalog, index, ingest_requests=RecordingRequests(refuse=True)
    )

    with pytest.raises(RuntimeError, match="refused"):
        service.reindex("acme", record.document_id)

    assert catalog.get(record.document_id) == record


def test_a_key_that_only_prefixes_another_object_is_not_its_source(parts):
    settings, store, catalog, index, record = parts
    store.delete(settings.raw_bucket, KEY)
    store.add(settings.raw_bucket, KEY + ".bak", b"another document")
    requests = RecordingRequests()

    with pytest.raises(InvalidRequest) as refused:
        DocumentsService(settings, store, catalog, index, ingest_requests=requests).reindex(
            "acme", record.document_id
        )

    assert (refused.value.status, refused.value.code) == (409, "source_missing")
    assert requests.sent == [] and catalog.get(record.document_id) == record
