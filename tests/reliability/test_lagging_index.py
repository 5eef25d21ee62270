"""An index that lags like OpenSearch Serverless (tests/reliability/lagging_index.py): a replacement, a
delete and a failure's clean-up each miss the chunks written less than a minute before them, so each
leaves chunks behind that later become searchable. The delayed sweep, run once the lag has passed (its
delay, 180 s by default and never under 120 s in Terraform, is past the 60 s window), purges them all:
afterwards no chunk and no hit belongs to a document that is not INDEXED at that version.

The run goes through the local stack: uploads through the pre-signed form, the SQS poller invoking the
Chalice ingest handler, DELETE through the API, and the Chalice sweep handler on the sweep queue.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import pytest

from app import app
from chalicelib.config import Settings
from chalicelib.model import DocumentError, ErrorCode, IndexedChunk, SearchFilters, Status
from devstack.poller import QueuePoller
from tests.integration.pipeline import TENANT, queue_depth, upload
from tests.reliability.faults import replace_adapter
from tests.reliability.harness import settle
from tests.reliability.invariants import check_invariants, check_no_stray_chunks, stored_versions
from tests.reliability.lagging_index import LaggingIndex

pytestmark = pytest.mark.timeout(120)

WINDOW_S = 60.0


def text(animal: str, version: int = 1) -> bytes:
    return (
        f"The {animal} survey, edition {version}. " * 5
        + f"Field notes on the {animal}: tracks by the river, a den under the old oak. " * 60
    ).encode()


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class PartlyRejected(LaggingIndex):
    """Like AOSS answering a bulk write with some items rejected: the accepted half of the chunks is
    stored, then the write fails for good (DocumentError, as the OpenSearch adapter raises)."""

    def replace_document(self, document_id: str, version: str, chunks: Sequence[IndexedChunk]) -> None:
        if chunks and "rejected" in chunks[0].key:
            super().replace_document(document_id, version, chunks[: max(1, len(chunks) // 2)])
            raise DocumentError(ErrorCode.PROVIDER_ERROR, "OpenSearch rejected 3 of 6 bulk items (injected)")
        super().replace_document(document_id, version, chunks)


@pytest.fixture
def aws_settings(aws_settings: Settings) -> Settings:
    # Sent undelayed: the test runs the sweep when it has moved the clock past the window.
    return replace(aws_settings, sweep_delay_s=0)


def run_sweeps(aws: dict[str, Any], resources) -> int:
    sweeper = QueuePoller(
        aws["sqs"], resources.sweep_queue_url, resources.sweep_queue_arn, app.handler_map["sweep"],
        "us-east-1", wait_s=0,
    )  # fmt: skip
    swept = 0
    while received := sweeper.poll_once():
        swept += received
    assert queue_depth(aws, resources.sweep_queue_url) == 0
    return swept


def test_replace_delete_and_failure_leave_no_stray_chunk_or_hit_once_swept(
    container, aws: dict[str, Any], resources, http
) -> None:
    clock = FakeClock()
    index = replace_adapter(container, "index", lambda inner: PartlyRejected(inner, WINDOW_S, clock))
    replaced = upload(container, "herons.txt", text("heron"))
    deleted = upload(container, "badgers.txt", text("badger"))
    failed = upload(container, "lynx-rejected.txt", text("lynx"))
    ids = [replaced, deleted, failed]
    settle(container, aws, resources, ids)
    first = container.catalog.get(replaced)
    assert first.status == Status.INDEXED
    assert container.catalog.get(failed).status == Status.FAILED

    # Within the window: a new version of one, a delete of another.
    aws["s3"].put_object(Bucket=first.bucket, Key=first.key, Body=text("heron", version=2))
    run = settle(container, aws, resources, ids)
    assert run.views[replaced]["status"] == "INDEXED"
    assert container.catalog.get(replaced).etag != first.etag
    assert http.delete(f"/documents/{deleted}").json_body["status"] == "DELETED"

    # The lag made every clean-up miss: the old version, the deleted and the failed document's chunks stay.
    stored = stored_versions(index)
    assert stored[(replaced, first.etag)] > 0 and index.count(deleted) > 0 and index.count(failed) > 0
    assert index.missed_by_lookups > 0
    with pytest.raises(AssertionError, match="not INDEXED at their version"):
        check_no_stray_chunks(container)

    # Once the window has passed, what was left behind is searchable: stray hits, were nothing to sweep it.
    clock.now += WINDOW_S + 1
    badger_hits = index.search_keyword("badger", 50, SearchFilters(tenant=TENANT))
    assert {hit.document_id for hit in badger_hits} == {deleted}

    assert run_sweeps(aws, resources) >= 4  # the two finishes, the failure's clean-up, the delete (at least)
    check_no_stray_chunks(container, queries=["heron", "badger", "lynx"])
    report = check_invariants(container, aws, resources, ids)
    assert report.records[replaced].status == Status.INDEXED
    assert report.records[deleted].status == Status.DELETED
    assert (report.records[failed].status, report.records[failed].error_code) == (
        Status.FAILED,
        "PROVIDER_ERROR",
    )
    assert index.search_keyword("badger", 50, SearchFilters(tenant=TENANT)) == []
    assert {hit.document_id for hit in index.search_keyword("heron", 50, SearchFilters(tenant=TENANT))} == {
        replaced
    }
