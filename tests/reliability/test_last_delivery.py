"""A file that kills the worker on every delivery, up to the last: the document must still end terminal
(FAILED, WORKER_DIED), with nothing the dead workers wrote left behind, and the rest of the work done.

Killed on every delivery but the last, the last delivery fails it (ingest.py). Killed on the last
delivery too, the message goes to the DLQ with nothing written: the reaper (chalicelib/reaper.py,
invoked through its Chalice schedule handler as EventBridge would) ends it FAILED, and the message
stays in the DLQ for a redrive.

As in AWS, the queue's visibility timeout outlasts the worker's claim lease (1,800 s against 300 s
there; 3 s against 1 s here), so each redelivery after a kill finds the dead worker's lease run out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import pytest

from chalicelib.config import Settings
from chalicelib.model import IndexedChunk, Status
from devstack.cloud import Resources, provision
from devstack.redrive import redrive
from tests.reliability.faults import KillingCatalog, KillingIndex, WorkerKilled, replace_adapter
from tests.reliability.harness import settle
from tests.reliability.invariants import check_invariants
from tests.reliability.workload import Item, small_text, submit

pytestmark = pytest.mark.timeout(120)

DELIVERIES = 3
POISON = "XYZZY-KILLS-EVERY-WORKER"


@pytest.fixture
def aws_settings(aws_settings: Settings) -> Settings:
    return replace(aws_settings, max_receive_count=DELIVERIES, claim_lease_s=1)


@pytest.fixture
def resources(aws_settings: Settings) -> Resources:
    return provision(aws_settings, visibility_timeout_s=3)


class KillsEveryTime(KillingIndex):
    """Kills the worker each time it indexes the poisoned document, after writing half its chunks."""

    def __init__(self, inner, poisoned: set[str], cleanup_kills: int = 0):
        super().__init__(inner, share=0.0)
        self.poisoned = poisoned
        # Also kill the dead-worker cleanup of the last delivery (ingest.py _fail_after_worker_deaths
        # removes the chunks first): the last delivery dies too.
        self.cleanup_kills = cleanup_kills
        self.killed_cleanups: list[str] = []

    def delete_document(self, document_id: str) -> int:
        if document_id in self.poisoned and len(self.killed_cleanups) < self.cleanup_kills:
            self.killed_cleanups.append(document_id)
            raise WorkerKilled(f"worker killed while removing the chunks of {document_id}")
        return self.inner.delete_document(document_id)

    def replace_document(self, document_id: str, version: str, chunks: Sequence[IndexedChunk]) -> None:
        if document_id in self.poisoned:
            self.inner.replace_document(document_id, version, chunks[: max(1, len(chunks) // 2)])
            self.killed.append(document_id)
            raise WorkerKilled(f"worker killed while indexing {document_id}")
        self.inner.replace_document(document_id, version, chunks)


def test_a_worker_killed_on_every_delivery_leaves_its_document_failed_not_processing(
    container, aws, resources
):
    poisoned: set[str] = set()
    index = replace_adapter(container, "index", lambda inner: KillsEveryTime(inner, poisoned))
    items = [Item(f"note-{n}.txt", small_text(n)) for n in range(4)]
    items.append(Item("poisoned.txt", small_text(999) + f"\n{POISON}\n".encode()))
    sent = submit(container, aws, items)
    (poisoned_id,) = [d for d, item in sent.items() if item.name == "poisoned.txt"]
    poisoned.add(poisoned_id)

    run = settle(container, aws, resources, sent, timeout_s=60)
    report = check_invariants(container, aws, resources, sent)

    # Every delivery but the last died, or (on a loaded machine) came back while the dead worker's lease
    # still held the document and was put off (reported in batchItemFailures); the last one failed the
    # document instead of dying too.
    put_off = [m for m in run.log.failures if "poisoned.txt" in run.log.failed_bodies[m]]
    assert index.killed and len(index.killed) + len(put_off) == DELIVERIES - 1, (index.killed, put_off)
    assert run.kills == len(index.killed)
    record = report.records[poisoned_id]
    assert (record.status, record.error_code) == (Status.FAILED, "WORKER_DIED"), record
    assert "out of memory or time" in record.error_message
    assert record.claim_token is None and record.lease_expires_at is None
    # The half-written chunks of the dead deliveries are gone (check_invariants: chunks match status),
    # nothing is PROCESSING, and the message was consumed rather than dead-lettered.
    assert container.index.count(poisoned_id) == 0
    assert not report.ids_with(Status.PROCESSING)
    assert report.dlq_documents == []
    assert report.ids_with(Status.INDEXED) == set(sent) - {poisoned_id}


def submit_with_poison(container, aws, resources) -> tuple[dict, str]:
    """The other files first, settled, then the poisoned one: a kill loses its whole batch, and a
    neighbour in every killed batch would be dead-lettered with it (its document INDEXED by then)."""
    sent = submit(container, aws, [Item(f"note-{n}.txt", small_text(n)) for n in range(4)])
    settle(container, aws, resources, sent, timeout_s=30)
    poisoned = submit(container, aws, [Item("poisoned.txt", small_text(999) + f"\n{POISON}\n".encode())])
    return {**sent, **poisoned}, next(iter(poisoned))


def assert_failed_by_the_reaper(container, aws, resources, sent, poisoned_id, run) -> None:
    report = check_invariants(container, aws, resources, sent)
    record = report.records[poisoned_id]
    assert (record.status, record.error_code) == (Status.FAILED, "WORKER_DIED"), record
    assert f"POST /documents/{poisoned_id}/reindex" in record.error_message
    assert record.claim_token is None and record.lease_expires_at is None
    assert container.index.count(poisoned_id) == 0
    assert not report.ids_with(Status.PROCESSING)
    assert report.ids_with(Status.INDEXED) == set(sent) - {poisoned_id}
    # The message is left in the DLQ (check_invariants: its document is FAILED) for a redrive.
    assert report.dlq_documents == [poisoned_id]
    assert run.reaper is not None and poisoned_id in {d for r in run.reaper.results for d in r["failed"]}


def test_killed_before_claiming_then_killed_on_the_last_delivery_the_reaper_fails_it(
    container, aws, resources
):
    """Deliveries 1 and 2 die before they can claim the document (nothing recorded); the last one claims
    it and dies mid-index. No delivery is left, the lease runs out: the reaper fails it."""
    catalog = replace_adapter(container, "catalog", lambda inner: KillingCatalog(inner, kills=DELIVERIES - 1))
    poisoned: set[str] = set()
    index = replace_adapter(container, "index", lambda inner: KillsEveryTime(inner, poisoned))
    sent, poisoned_id = submit_with_poison(container, aws, resources)
    poisoned.add(poisoned_id)
    catalog.poisoned.add(poisoned_id)

    run = settle(container, aws, resources, sent, timeout_s=60, reap_every_s=0.5)

    assert catalog.killed == [poisoned_id] * (DELIVERIES - 1) and index.killed == [poisoned_id]
    assert run.kills == DELIVERIES
    assert_failed_by_the_reaper(container, aws, resources, sent, poisoned_id, run)
    message = container.catalog.get(poisoned_id).error_message
    assert f"on its last delivery (attempt {DELIVERIES} of {DELIVERIES})" in message

    # Redrive keeps working: once the cause is gone, the dead-lettered message claims the FAILED
    # document again and indexes it.
    poisoned.clear()
    assert redrive(aws["sqs"], resources.dlq_url, resources.queue_url) == 1
    run = settle(container, aws, resources, sent, timeout_s=30, reap_every_s=0.5)
    report = check_invariants(container, aws, resources, sent)
    assert report.records[poisoned_id].status == Status.INDEXED and report.dlq_documents == []
    assert run.views[poisoned_id]["error"] is None


@pytest.mark.parametrize("abandoned_after_s", [5])
def test_killed_on_every_delivery_the_last_in_its_cleanup_the_reaper_fails_it(
    container, aws, resources, abandoned_after_s
):
    """Every delivery dies: the first two mid-index, the last while removing what they wrote (before it
    records anything). The document is PROCESSING at attempt 2 of 3 with no delivery left; nothing
    touches it for abandoned_after_s, and the reaper fails it."""
    container.settings = replace(container.settings, abandoned_after_s=abandoned_after_s)
    container.__dict__.pop("reaper", None)
    poisoned: set[str] = set()
    index = replace_adapter(
        container, "index", lambda inner: KillsEveryTime(inner, poisoned, cleanup_kills=1)
    )
    sent, poisoned_id = submit_with_poison(container, aws, resources)
    poisoned.add(poisoned_id)

    run = settle(container, aws, resources, sent, timeout_s=60, reap_every_s=0.5)

    assert index.killed == [poisoned_id] * (DELIVERIES - 1) and index.killed_cleanups == [poisoned_id]
    assert run.kills == DELIVERIES
    assert_failed_by_the_reaper(container, aws, resources, sent, poisoned_id, run)
    assert "no worker has reached this file for" in container.catalog.get(poisoned_id).error_message
