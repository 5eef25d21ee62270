"""The document lifecycle's rules, on in-memory ports."""

from __future__ import annotations

from dataclasses import replace

import pytest

from chalicelib.keys import processed_key
from chalicelib.lifecycle import DocumentLifecycle
from chalicelib.model import Chunk, ClaimLost, DocumentBusy, DocumentRecord, IndexedChunk, ObjectRef, Status
from chalicelib.ports import VectorIndex
from tests.fakes import MemoryCatalog, MemoryObjectStore, RecordingSweeps

T0 = "2026-01-01T00:00:00.000Z"
WITHIN_LEASE = "2026-01-01T00:00:01.000Z"
AFTER_LEASE = "2026-01-01T01:00:00.000Z"
LEASE_S = 900
TENANT = "acme"
REF = ObjectRef(bucket="raw", key="tenants/acme/a.txt", etag="v1", size=10)
DOCUMENT_ID = REF.document_id


class MemoryIndex(VectorIndex):
    """Chunks per document; the lifecycle only replaces, counts and deletes them."""

    def __init__(self) -> None:
        self.chunks: dict[str, list[IndexedChunk]] = {}

    def replace_document(self, document_id, version, chunks):
        self.chunks[document_id] = list(chunks)

    def delete_document(self, document_id):
        return len(self.chunks.pop(document_id, []))

    def sweep(self, document_id, keep_version):
        kept = [c for c in self.chunks.get(document_id, []) if c.version == keep_version]
        removed = len(self.chunks.get(document_id, [])) - len(kept)
        self.chunks[document_id] = kept
        return removed

    def count(self, document_id=None):
        return sum(len(c) for d, c in self.chunks.items() if document_id in (None, d))

    def search_vector(self, vector, k, filters):
        raise NotImplementedError

    def search_keyword(self, query, k, filters):
        raise NotImplementedError

    def embedding_model(self):
        return None


class Parts:
    def __init__(self):
        self.catalog = MemoryCatalog()
        self.store = MemoryObjectStore()
        self.index = MemoryIndex()
        self.now = T0
        self.sweeps = RecordingSweeps()
        self.lifecycle = DocumentLifecycle(
            self.catalog,
            self.store,
            self.index,
            processed_bucket="out",
            claim_lease_s=LEASE_S,
            clock=lambda: self.now,
            sweeps=self.sweeps,
        )

    def outputs_left(self) -> bool:
        output = ("out", processed_key(TENANT, DOCUMENT_ID))
        return self.index.count(DOCUMENT_ID) > 0 or output in self.store.json

    def write_outputs(self, chunks: int = 2) -> None:
        """What a worker leaves behind: chunks in the index and the processed JSON."""
        self.index.replace_document(
            DOCUMENT_ID,
            "v1",
            [
                IndexedChunk(
                    chunk=Chunk(f"{DOCUMENT_ID}:{n}", DOCUMENT_ID, n, f"text {n}"),
                    vector=[1.0, 0.0, 0.0, 0.0],
                    version="v1",
                    key=REF.key,
                    content_type="text/plain",
                    tenant=TENANT,
                    model_id="test/model",
                    dimensions=4,
                )
                for n in range(chunks)
            ],
        )
        self.store.put_json("out", processed_key(TENANT, DOCUMENT_ID), {"document_id": DOCUMENT_ID})


@pytest.fixture
def parts() -> Parts:
    return Parts()


def test_a_claim_takes_the_document_with_a_lease_and_a_live_one_keeps_others_out(parts):
    claimed = parts.lifecycle.claim(REF, None, attempt=1, tenant=TENANT)
    stored = parts.catalog.get(DOCUMENT_ID)
    assert stored.status == Status.PROCESSING and stored.claim_token == claimed.claim_token
    assert stored.lease_expires_at > T0 and stored.etag == "v1" and stored.attempts == 1
    parts.now = WITHIN_LEASE
    with pytest.raises(DocumentBusy):
        parts.lifecycle.claim(REF, stored, attempt=2, tenant=TENANT)
    parts.now = AFTER_LEASE
    assert parts.lifecycle.claim(REF, stored, attempt=2, tenant=TENANT).claim_token != claimed.claim_token


def test_a_claim_of_a_version_already_indexed_is_none(parts):
    parts.catalog.put(
        DocumentRecord(DOCUMENT_ID, Status.INDEXED, "raw", REF.key, T0, T0, tenant=TENANT, etag="v1")
    )
    assert parts.lifecycle.claim(REF, parts.catalog.get(DOCUMENT_ID), attempt=1, tenant=TENANT) is None


def test_a_claim_clears_the_pending_expiry(parts):
    pending = DocumentRecord(
        DOCUMENT_ID, Status.PENDING, "raw", "a.txt", T0, T0, tenant=TENANT, expires_at=1_000
    )
    assert pending.status_at(999) == Status.PENDING and pending.status_at(1_000) == Status.EXPIRED
    parts.catalog.put(pending)
    claimed = parts.lifecycle.claim(REF, parts.catalog.get(DOCUMENT_ID), attempt=1, tenant=TENANT)
    assert claimed.expires_at is None and parts.catalog.get(DOCUMENT_ID).expires_at is None
    # Only PENDING expires: a document a worker holds, or has finished, never does.
    assert parts.catalog.get(DOCUMENT_ID).status_at(10**12) == Status.PROCESSING


def test_release_keeps_the_error_visible_and_ends_only_the_lease(parts):
    claimed = parts.lifecycle.claim(REF, None, attempt=1, tenant=TENANT)
    parts.lifecycle.release(claimed, "PROVIDER_ERROR", "Attempt 1 failed and will be retried: throttled")
    stored = parts.catalog.get(DOCUMENT_ID)
    assert stored.status == Status.PROCESSING and stored.lease_expires_at is None
    assert stored.error_code == "PROVIDER_ERROR" and "will be retried" in stored.error_message
    # The next delivery may claim it at once, without waiting for the lease.
    assert parts.lifecycle.claim(REF, stored, attempt=2, tenant=TENANT) is not None


def test_finish_failed_records_the_reason_and_clears_the_claim(parts):
    claimed = parts.lifecycle.claim(REF, None, attempt=1, tenant=TENANT)
    parts.lifecycle.finish_failed(replace(claimed, chunk_count=3), "EMPTY", "no text")
    stored = parts.catalog.get(DOCUMENT_ID)
    assert stored.status == Status.FAILED and stored.chunk_count == 0
    assert (stored.error_code, stored.error_message) == ("EMPTY", "no text")
    assert stored.claim_token is None and stored.lease_expires_at is None


def test_finish_indexed_clears_the_claim_and_a_lost_claim_records_nothing(parts):
    claimed = parts.lifecycle.claim(REF, None, attempt=1, tenant=TENANT)
    parts.now = WITHIN_LEASE
    parts.lifecycle.finish_indexed(replace(claimed, status=Status.INDEXED))
    stored = parts.catalog.get(DOCUMENT_ID)
    assert stored.status == Status.INDEXED and stored.updated_at == WITHIN_LEASE
    assert stored.claim_token is None and stored.lease_expires_at is None
    with pytest.raises(ClaimLost):
        parts.lifecycle.finish_indexed(replace(claimed, status=Status.INDEXED))


def test_release_and_finish_failed_step_aside_when_the_claim_was_lost(parts):
    claimed = parts.lifecycle.claim(REF, None, attempt=1, tenant=TENANT)
    parts.now = AFTER_LEASE
    taker = parts.lifecycle.claim(REF, parts.catalog.get(DOCUMENT_ID), attempt=2, tenant=TENANT)
    parts.lifecycle.release(claimed, "INTERNAL", "late")
    parts.lifecycle.finish_failed(claimed, "INTERNAL", "late")
    stored = parts.catalog.get(DOCUMENT_ID)
    assert stored.claim_token == taker.claim_token and stored.error_code is None


def test_discard_removes_the_chunks_and_the_processed_output(parts):
    parts.write_outputs(chunks=3)
    assert parts.lifecycle.discard_outputs(DOCUMENT_ID, TENANT) == 3
    assert parts.index.count(DOCUMENT_ID) == 0
    assert ("out", processed_key(TENANT, DOCUMENT_ID)) not in parts.store.json


def test_delete_leaves_a_tombstone_without_chunks_or_output(parts):
    parts.catalog.put(
        DocumentRecord(
            DOCUMENT_ID, Status.INDEXED, "raw", REF.key, T0, T0, tenant=TENANT, etag="v1", chunk_count=2
        )
    )
    parts.store.add("raw", REF.key, b"the source")
    parts.write_outputs(chunks=2)
    parts.now = WITHIN_LEASE
    removed = parts.lifecycle.delete(DOCUMENT_ID, parts.catalog.get(DOCUMENT_ID), wait_for_worker=True)
    stored = parts.catalog.get(DOCUMENT_ID)
    assert removed == 2 and stored.status == Status.DELETED and stored.chunk_count == 0
    assert stored.updated_at == WITHIN_LEASE and stored.etag == "v1"
    assert (
        parts.index.count(DOCUMENT_ID) == 0
        and ("out", processed_key(TENANT, DOCUMENT_ID)) not in parts.store.json
    )
    # The source stays unless the caller asks for it to go too.
    assert parts.store.exists("raw", REF.key)
    parts.lifecycle.delete(DOCUMENT_ID, stored, wait_for_worker=False, remove_source=True)
    assert not parts.store.exists("raw", REF.key)


def test_delete_of_a_document_never_recorded_discards_outputs_and_writes_no_tombstone(parts):
    parts.write_outputs(chunks=1)
    assert (
        parts.lifecycle.delete(DOCUMENT_ID, None, wait_for_worker=True, remove_source=True, tenant=TENANT)
        == 1
    )
    assert parts.catalog.get(DOCUMENT_ID) is None and parts.index.count(DOCUMENT_ID) == 0


def test_delete_waits_for_a_live_lease_only_when_asked_to(parts):
    claimed = parts.lifecycle.claim(REF, None, attempt=1, tenant=TENANT)
    parts.write_outputs(chunks=1)
    parts.now = WITHIN_LEASE
    with pytest.raises(DocumentBusy, match="delete will be retried"):
        parts.lifecycle.delete(DOCUMENT_ID, claimed, wait_for_worker=True)
    assert parts.catalog.get(DOCUMENT_ID).status == Status.PROCESSING and parts.index.count(DOCUMENT_ID) == 1
    parts.lifecycle.delete(DOCUMENT_ID, claimed, wait_for_worker=False)
    assert parts.catalog.get(DOCUMENT_ID).status == Status.DELETED and parts.index.count(DOCUMENT_ID) == 0


def test_an_expired_lease_does_not_hold_up_a_delete(parts):
    claimed = parts.lifecycle.claim(REF, None, attempt=1, tenant=TENANT)
    parts.now = AFTER_LEASE
    parts.lifecycle.delete(DOCUMENT_ID, claimed, wait_for_worker=True)
    assert parts.catalog.get(DOCUMENT_ID).status == Status.DELETED


# -- the tombstone wins; sweeps follow every write and delete of chunks ----------------------------


def test_the_tombstone_drops_the_claim_so_the_workers_finish_fails_and_its_outputs_go(parts):
    claimed = parts.lifecycle.claim(REF, None, attempt=1, tenant=TENANT)
    parts.write_outputs(chunks=2)
    parts.lifecycle.delete(DOCUMENT_ID, parts.catalog.get(DOCUMENT_ID), wait_for_worker=False)
    tombstone = parts.catalog.get(DOCUMENT_ID)
    assert tombstone.status == Status.DELETED
    assert tombstone.claim_token is None and tombstone.lease_expires_at is None
    parts.write_outputs(chunks=3)  # the worker goes on writing after the delete
    with pytest.raises(ClaimLost):
        parts.lifecycle.finish_indexed(replace(claimed, status=Status.INDEXED, chunk_count=3))
    assert parts.catalog.get(DOCUMENT_ID).status == Status.DELETED
    assert not parts.outputs_left()


@pytest.mark.parametrize("late_write", ["release", "finish_failed"])
def test_release_and_finish_failed_after_the_tombstone_remove_the_workers_outputs(parts, late_write):
    claimed = parts.lifecycle.claim(REF, None, attempt=1, tenant=TENANT)
    parts.lifecycle.delete(DOCUMENT_ID, claimed, wait_for_worker=False)
    parts.write_outputs(chunks=2)
    getattr(parts.lifecycle, late_write)(claimed, "INTERNAL", "late")
    stored = parts.catalog.get(DOCUMENT_ID)
    assert stored.status == Status.DELETED and stored.error_code is None
    assert not parts.outputs_left()


def test_a_claim_lost_to_a_live_worker_leaves_that_workers_result_alone(parts):
    claimed = parts.lifecycle.claim(REF, None, attempt=1, tenant=TENANT)
    parts.now = AFTER_LEASE
    taker = parts.lifecycle.claim(REF, parts.catalog.get(DOCUMENT_ID), attempt=2, tenant=TENANT)
    parts.write_outputs(chunks=2)
    parts.lifecycle.finish_indexed(replace(taker, status=Status.INDEXED, chunk_count=2))
    with pytest.raises(ClaimLost):
        parts.lifecycle.finish_indexed(replace(claimed, status=Status.INDEXED, chunk_count=2))
    parts.lifecycle.finish_failed(claimed, "INTERNAL", "late")
    stored = parts.catalog.get(DOCUMENT_ID)
    assert stored.status == Status.INDEXED and stored.chunk_count == 2
    assert parts.index.count(DOCUMENT_ID) == 2
    assert ("out", processed_key(TENANT, DOCUMENT_ID)) in parts.store.json


def test_every_write_and_delete_of_chunks_schedules_a_sweep(parts):
    claimed = parts.lifecycle.claim(REF, None, attempt=1, tenant=TENANT)
    assert parts.sweeps.scheduled == []
    parts.lifecycle.finish_indexed(replace(claimed, status=Status.INDEXED))
    assert parts.sweeps.scheduled == [DOCUMENT_ID]
    parts.lifecycle.discard_outputs(DOCUMENT_ID, TENANT)
    parts.lifecycle.delete(DOCUMENT_ID, parts.catalog.get(DOCUMENT_ID), wait_for_worker=True)
    assert parts.sweeps.scheduled == [DOCUMENT_ID] * 3


def test_on_an_index_that_sees_its_writes_only_deletes_and_lost_claims_schedule_a_sweep(parts):
    parts.index.lookups_see_writes = True
    stale = parts.lifecycle.claim(REF, None, attempt=1, tenant=TENANT)
    parts.now = AFTER_LEASE
    taker = parts.lifecycle.claim(REF, parts.catalog.get(DOCUMENT_ID), attempt=2, tenant=TENANT)
    parts.write_outputs(chunks=2)
    parts.lifecycle.finish_indexed(replace(taker, status=Status.INDEXED, chunk_count=2))
    assert parts.sweeps.scheduled == []
    # The worker whose lease ran out writes its chunks over the finished ones, then loses its claim.
    parts.write_outputs(chunks=3)
    with pytest.raises(ClaimLost):
        parts.lifecycle.finish_indexed(replace(stale, status=Status.INDEXED, chunk_count=3))
    assert parts.sweeps.scheduled == [DOCUMENT_ID]
    parts.lifecycle.delete(DOCUMENT_ID, parts.catalog.get(DOCUMENT_ID), wait_for_worker=True)
    assert parts.sweeps.scheduled == [DOCUMENT_ID] * 2


def test_a_sweep_that_cannot_be_scheduled_does_not_undo_the_write(parts):
    parts.sweeps.fail = True
    claimed = parts.lifecycle.claim(REF, None, attempt=1, tenant=TENANT)
    parts.write_outputs(chunks=2)
    parts.lifecycle.finish_indexed(replace(claimed, status=Status.INDEXED, chunk_count=2))
    assert parts.catalog.get(DOCUMENT_ID).status == Status.INDEXED
    assert parts.lifecycle.delete(DOCUMENT_ID, parts.catalog.get(DOCUMENT_ID), wait_for_worker=True) == 2
    assert parts.catalog.get(DOCUMENT_ID).status == Status.DELETED and not parts.outputs_left()
