"""The delayed sweep through moto: the SQS scheduler's message on the sweep queue, and the Chalice
`sweep` handler (invoked by the poller as Lambda's event source mapping would) bringing the index in
line with the catalog for each status."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from app import app
from chalicelib.adapters.sqs_sweeps import SqsSweepScheduler
from chalicelib.bootstrap import Container
from chalicelib.config import Settings
from chalicelib.model import Chunk, IndexedChunk, Status, sweep_message
from devstack.poller import QueuePoller
from tests.integration.pipeline import TENANT, drain, poller, queue_depth, upload

TEXT = b"Otters fish in the estuary at dawn and rest on the sandbanks at noon. " * 30


@pytest.fixture
def aws_settings(aws_settings: Settings) -> Settings:
    return replace(aws_settings, sweep_delay_s=0)


def sweeper(aws: dict[str, Any], resources) -> QueuePoller:
    return QueuePoller(
        aws["sqs"], resources.sweep_queue_url, resources.sweep_queue_arn, app.handler_map["sweep"],
        "us-east-1", wait_s=0,
    )  # fmt: skip


def stray_chunks(container: Container, document_id: str, version: str, count: int = 2) -> list[IndexedChunk]:
    dimensions = container.embedder.dimensions
    return [
        IndexedChunk(
            chunk=Chunk(f"{document_id}:{version}:{n}", document_id, n, f"stray otter text {n}"),
            vector=[1.0] + [0.0] * (dimensions - 1),
            version=version,
            key="tenants/acme/uploads/x/otters.txt",
            content_type="text/plain",
            tenant=TENANT,
            model_id=container.embedder.model_id,
            dimensions=dimensions,
        )
        for n in range(count)
    ]


def ingested(container: Container, aws: dict[str, Any], resources) -> str:
    document_id = upload(container, "otters.txt", TEXT)
    assert drain(poller(aws, resources), container, [document_id])[document_id]["status"] == "INDEXED"
    return document_id


def run_sweeps(aws: dict[str, Any], resources) -> None:
    worker = sweeper(aws, resources)
    while worker.poll_once():
        pass
    assert queue_depth(aws, resources.sweep_queue_url) == 0


def test_the_scheduler_sends_a_delayed_message_naming_the_document(
    aws_settings: Settings, aws: dict[str, Any], resources
) -> None:
    SqsSweepScheduler(aws["sqs"], aws_settings.sweep_queue, delay_s=60).schedule_sweep("a" * 32)
    # Delayed: in the queue, but not receivable yet.
    attributes = aws["sqs"].get_queue_attributes(
        QueueUrl=resources.sweep_queue_url, AttributeNames=["ApproximateNumberOfMessagesDelayed"]
    )["Attributes"]
    assert attributes["ApproximateNumberOfMessagesDelayed"] == "1"
    assert aws["sqs"].receive_message(QueueUrl=resources.sweep_queue_url).get("Messages", []) == []
    SqsSweepScheduler(aws["sqs"], aws_settings.sweep_queue, delay_s=0).schedule_sweep("b" * 32)
    (message,) = aws["sqs"].receive_message(QueueUrl=resources.sweep_queue_url)["Messages"]
    assert json.loads(message["Body"]) == {"sweep": {"document_id": "b" * 32}}


def test_a_delay_sqs_cannot_give_is_refused(aws: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="0 to 900 seconds"):
        SqsSweepScheduler(aws["sqs"], "quarry-sweep", delay_s=901)


def test_a_delete_schedules_a_sweep_the_handler_consumes_and_an_ingest_needs_none(
    container: Container, aws: dict[str, Any], resources, http
) -> None:
    document_id = ingested(container, aws, resources)
    # The embedded index's replacement removed every older chunk as it wrote: nothing to sweep.
    assert container.index.lookups_see_writes
    assert queue_depth(aws, resources.sweep_queue_url) == 0
    assert container.index.count(document_id) == container.catalog.get(document_id).chunk_count > 0
    assert http.delete(f"/documents/{document_id}").status_code == 200
    assert queue_depth(aws, resources.sweep_queue_url) == 1  # the delete's
    # What a lagging index would have hidden from the delete, written straight into the index.
    container.index.replace_document(document_id, "v-stray", stray_chunks(container, document_id, "v-stray"))
    run_sweeps(aws, resources)
    assert container.index.count(document_id) == 0


@pytest.mark.parametrize("status", [Status.FAILED, Status.DELETED, Status.PENDING, None])
def test_the_sweep_removes_every_chunk_of_a_document_that_should_have_none(
    container: Container, aws: dict[str, Any], resources, status: Status | None
) -> None:
    document_id = ingested(container, aws, resources)
    record = container.catalog.get(document_id)
    if status is None:
        container.catalog.delete(document_id)
    else:
        container.catalog.put(replace(record, status=status))
    assert container.index.count(document_id) > 0
    container.sweep_scheduler.schedule_sweep(document_id)
    run_sweeps(aws, resources)
    assert container.index.count(document_id) == 0


def test_the_sweep_keeps_an_indexed_documents_version_and_removes_the_others(
    container: Container, aws: dict[str, Any], resources
) -> None:
    document_id = ingested(container, aws, resources)
    record = container.catalog.get(document_id)
    run_sweeps(aws, resources)
    container.catalog.put(replace(record, etag="v-newer"))
    container.sweep_scheduler.schedule_sweep(document_id)
    run_sweeps(aws, resources)
    assert container.index.count(document_id) == 0  # its chunks are of a version the catalog no longer names
    container.index.replace_document(document_id, "v-newer", stray_chunks(container, document_id, "v-newer"))
    container.sweep_scheduler.schedule_sweep(document_id)
    run_sweeps(aws, resources)
    assert container.index.count(document_id) == 2


def test_the_sweep_leaves_a_document_being_processed_alone(
    container: Container, aws: dict[str, Any], resources
) -> None:
    document_id = ingested(container, aws, resources)
    run_sweeps(aws, resources)
    record = container.catalog.get(document_id)
    container.catalog.put(replace(record, status=Status.PROCESSING, etag="v-next"))
    container.sweep_scheduler.schedule_sweep(document_id)
    run_sweeps(aws, resources)
    assert container.index.count(document_id) == record.chunk_count


def test_an_undecodable_message_is_dropped_and_a_failed_sweep_comes_back(
    container: Container, aws: dict[str, Any], resources
) -> None:
    class Unavailable(Exception):
        pass

    def broken(document_id: str, keep_version: str | None) -> int:
        raise Unavailable("the index is unavailable (injected)")

    sqs = aws["sqs"]
    sqs.send_message(QueueUrl=resources.sweep_queue_url, MessageBody="not a sweep")
    sqs.send_message(QueueUrl=resources.sweep_queue_url, MessageBody=sweep_message("c" * 32))
    answers: list[dict[str, Any]] = []

    def handler(event: dict[str, Any], context: Any) -> Any:
        answers.append(app.handler_map["sweep"](event, context))
        return answers[-1]

    container.index.sweep = broken  # type: ignore[method-assign]
    worker = QueuePoller(
        sqs, resources.sweep_queue_url, resources.sweep_queue_arn, handler, "us-east-1", wait_s=0
    )
    received = 0
    while received < 2:
        received += worker.poll_once()
    failed = [f["itemIdentifier"] for answer in answers for f in answer["batchItemFailures"]]
    assert len(failed) == 1
    # Only the sweep that failed stays on the queue (visible again after the 1 s visibility timeout).
    assert queue_depth(aws, resources.sweep_queue_url) == 1
