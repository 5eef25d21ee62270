"""A file that kills the worker on every delivery, up to the last: the document must still end terminal
(FAILED, WORKER_DIED), with nothing the dead workers wrote left behind, and the rest of the work done.

As in AWS, the queue's visibility timeout outlasts the worker's claim lease (1,800 s against 300 s
there; 3 s against 1 s here), so each redelivery after a kill finds the dead worker's lease run out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import pytest

from chalicelib.config import Settings
from chalicelib.model import IndexedChunk, Status
from devstack.cloud import Resources, provision
from tests.reliability.faults import KillingIndex, WorkerKilled, replace_adapter
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

    def __init__(self, inner, poisoned: set[str]):
        super().__init__(inner, share=0.0)
        self.poisoned = poisoned

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

    # Every delivery but the last died; the last one failed the document instead of dying too.
    assert index.killed == [poisoned_id] * (DELIVERIES - 1), index.killed
    assert run.kills == DELIVERIES - 1
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
