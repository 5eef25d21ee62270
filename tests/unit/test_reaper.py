"""The reaper (chalicelib/reaper.py) on the typed fakes and a real embedded index: which PROCESSING
documents it ends FAILED, and that a delivery claiming one meanwhile always wins."""

from __future__ import annotations

from dataclasses import replace

import pytest

from chalicelib.adapters.sqlite import SqliteVectorIndex
from chalicelib.keys import processed_key
from chalicelib.lifecycle import DocumentLifecycle
from chalicelib.model import Chunk, DocumentRecord, IndexedChunk, Status
from chalicelib.reaper import Reaper
from tests.fakes import MemoryCatalog, MemoryObjectStore

NOW = "2026-01-01T12:00:00.000Z"
EARLIER = "2026-01-01T11:59:00.000Z"  # a minute ago: a lease that has run out
LATER = "2026-01-01T12:04:00.000Z"  # a lease still live
LONG_AGO = "2026-01-01T05:00:00.000Z"  # seven hours ago
MAX = 3


def record(n: int, **changes) -> DocumentRecord:
    base = DocumentRecord(
        document_id=f"{n:032x}",
        status=Status.PROCESSING,
        bucket="raw",
        key=f"tenants/acme/{n}.txt",
        created_at=LONG_AGO,
        updated_at=EARLIER,
        tenant="acme",
        etag="v1",
        attempts=MAX,
        claim_token=f"token-{n}",
        lease_expires_at=EARLIER,
    )
    return replace(base, **changes)


@pytest.fixture
def parts(tmp_path):
    catalog, store = MemoryCatalog(), MemoryObjectStore()
    index = SqliteVectorIndex(tmp_path / "index.sqlite3", 2)
    lifecycle = DocumentLifecycle(
        catalog, store, index, processed_bucket="processed", claim_lease_s=300, clock=lambda: NOW
    )
    reaper = Reaper(catalog, lifecycle, max_receive_count=MAX, abandoned_after_s=6 * 3600, clock=lambda: NOW)
    return catalog, store, index, reaper


def half_written(index, store, doc: DocumentRecord) -> None:
    chunk = Chunk(chunk_id=f"{doc.document_id}:0", document_id=doc.document_id, ordinal=0, text="left over")
    index.replace_document(
        doc.document_id,
        "v1",
        [
            IndexedChunk(
                chunk,
                [1.0, 0.0],
                "v1",
                doc.key,
                "text/plain",
                tenant="acme",
                model_id="test-model",
                dimensions=2,
            )
        ],
    )
    store.put_json("processed", processed_key("acme", doc.document_id), {"stale": True})


def test_a_document_whose_last_delivery_died_ends_failed_with_nothing_left(parts):
    catalog, store, index, reaper = parts
    dead = record(1)
    catalog.put(dead)
    half_written(index, store, dead)

    report = reaper.reap()

    assert report.failed == [dead.document_id] and report.examined == 1
    failed = catalog.get(dead.document_id)
    assert (failed.status, failed.error_code) == (Status.FAILED, "WORKER_DIED")
    assert f"attempt {MAX} of {MAX}" in failed.error_message
    assert f"POST /documents/{dead.document_id}/reindex" in failed.error_message
    assert failed.claim_token is None and failed.lease_expires_at is None and failed.chunk_count == 0
    assert index.count(dead.document_id) == 0 and not store.json


@pytest.mark.parametrize(
    "alive",
    [
        record(2, lease_expires_at=LATER),  # a worker may still be on it
        record(3, attempts=MAX - 1),  # its message has a delivery left
        record(4, attempts=MAX - 1, lease_expires_at=None),  # released, its retry due
        record(5, status=Status.INDEXED, claim_token=None, lease_expires_at=None),
        record(6, status=Status.FAILED, claim_token=None, lease_expires_at=None),
        # An upload still waiting for its bytes, however old: it reads EXPIRED, the reaper leaves it.
        record(9, status=Status.PENDING, claim_token=None, lease_expires_at=None, updated_at=LONG_AGO),
        # Queued by a reindex a minute ago: its request may still arrive.
        record(10, status=Status.PENDING, claim_token="reindex-1", lease_expires_at=None, attempts=0),
    ],
)
def test_a_document_a_delivery_may_still_end_is_left_alone(parts, alive):
    catalog, _, _, reaper = parts
    catalog.put(alive)

    assert reaper.reap().failed == []
    assert catalog.get(alive.document_id) == alive


@pytest.mark.parametrize("lease", [EARLIER, None])
def test_a_document_untouched_for_abandoned_after_s_ends_failed(parts, lease):
    catalog, _, _, reaper = parts
    stale = record(7, attempts=MAX - 1, lease_expires_at=lease, updated_at=LONG_AGO)
    catalog.put(stale)

    assert reaper.reap().failed == [stale.document_id]
    failed = catalog.get(stale.document_id)
    assert (
        failed.status == Status.FAILED and "no worker has reached this file for 6 h" in failed.error_message
    )


class ClaimedMeanwhile(MemoryCatalog):
    """Reads return the dead worker's record although a redriven delivery has just claimed it."""

    def __init__(self, stale: DocumentRecord):
        super().__init__()
        self.stale = stale

    def get(self, document_id: str):
        return replace(self.stale)


def test_a_delivery_that_claims_the_document_meanwhile_wins(tmp_path):
    dead = record(8)
    catalog = ClaimedMeanwhile(dead)
    claimed = replace(dead, attempts=1, claim_token="redriven", lease_expires_at=LATER, updated_at=NOW)
    catalog.put(claimed)
    store = MemoryObjectStore()
    index = SqliteVectorIndex(tmp_path / "index.sqlite3", 2)
    half_written(index, store, claimed)  # the new delivery's chunks
    lifecycle = DocumentLifecycle(catalog, store, index, processed_bucket="processed", claim_lease_s=300)
    reaper = Reaper(catalog, lifecycle, max_receive_count=MAX, abandoned_after_s=3600, clock=lambda: NOW)

    assert reaper.reap().failed == []
    assert catalog.records[dead.document_id] == claimed
    assert index.count(dead.document_id) == 1  # nothing of the new delivery's was removed


def test_one_run_reads_every_page(parts):
    catalog, _, _, reaper = parts
    for n in range(250):
        catalog.put(record(100 + n))

    report = reaper.reap()

    assert report.examined == 250 and len(report.failed) == 250
    assert not catalog.list_by_status(Status.PROCESSING, 10, None)[0]


def test_a_reindex_no_delivery_ever_claimed_ends_failed(parts):
    catalog, _, _, reaper = parts
    queued = record(
        11, status=Status.PENDING, claim_token="reindex-2", lease_expires_at=None, updated_at=LONG_AGO
    )
    catalog.put(queued)

    assert reaper.reap().failed == [queued.document_id]
    failed = catalog.get(queued.document_id)
    assert (failed.status, failed.error_code) == (Status.FAILED, "WORKER_DIED")
    assert "Queued for ingestion again 6 h ago" in failed.error_message
