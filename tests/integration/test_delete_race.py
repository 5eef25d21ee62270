"""DELETE while the worker is processing the document: the tombstone wins, on both index backends.

A real race through moto: the worker runs the Chalice SQS handler in its own thread and, once it has
indexed the document's chunks, is held (between the index and record stages) until the API's DELETE,
sent through the app's HTTP interface, has answered. The worker then writes its processed output and
tries to record the document INDEXED. Before the tombstone won, that write succeeded: the document
came back INDEXED, with chunks, and with no source object.

The OpenSearch run uses the production adapter on osmem-server (the contract tests' engine).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any

import pytest
from opensearchpy import OpenSearch

from chalicelib.adapters.opensearch import OpenSearchVectorIndex
from chalicelib.bootstrap import Container
from chalicelib.config import Settings
from chalicelib.keys import processed_key
from chalicelib.model import (
    EmbeddingModel,
    Hit,
    IndexedChunk,
    SearchFilters,
    Status,
    document_of_sweep_message,
)
from chalicelib.ports import VectorIndex
from tests.integration.pipeline import TENANT, drain, poller, upload
from tests.reliability.faults import replace_adapter

TEXT = (
    "Kestrels hover over the verge, scanning the grass for voles. " * 40
    + "The survey counted nine nesting pairs along the river. " * 40
).encode()


class HeldAfterIndexing(VectorIndex):
    """The worker's index, holding the worker after it has written `document_id`'s chunks until
    `release` is set. Every other call goes straight through."""

    def __init__(self, inner: VectorIndex, document_id: str):
        self.inner = inner
        self.document_id = document_id
        self.indexed = threading.Event()
        self.release = threading.Event()

    def replace_document(self, document_id: str, version: str, chunks: Sequence[IndexedChunk]) -> None:
        self.inner.replace_document(document_id, version, chunks)
        if document_id == self.document_id and not self.indexed.is_set():
            self.indexed.set()
            assert self.release.wait(30), "the test never let the worker go on"

    def delete_document(self, document_id: str) -> int:
        return self.inner.delete_document(document_id)

    def sweep(self, document_id: str, keep_version: str | None) -> int:
        return self.inner.sweep(document_id, keep_version)

    def count(self, document_id: str | None = None) -> int:
        return self.inner.count(document_id)

    def embedding_model(self) -> EmbeddingModel | None:
        return self.inner.embedding_model()

    def search_vector(
        self, vector: Sequence[float], k: int, filters: SearchFilters, model: EmbeddingModel | None = None
    ) -> list[Hit]:
        return self.inner.search_vector(vector, k, filters, model)

    def search_keyword(self, query: str, k: int, filters: SearchFilters) -> list[Hit]:
        return self.inner.search_keyword(query, k, filters)


@pytest.fixture
def aws_settings(aws_settings: Settings) -> Settings:
    # The sweep message is sent undelayed, so the test can read it at once; a 1 s lease, so a second
    # delivery may take over from a stalled worker within the test, and deliveries enough that the
    # stalled worker is not taken for dead (FAILED/WORKER_DIED on the last one) meanwhile.
    return replace(aws_settings, sweep_delay_s=0, claim_lease_s=1, max_receive_count=10)


@pytest.fixture(params=["sqlite", "opensearch"])
def backend(request: pytest.FixtureRequest, container: Container) -> Iterator[str]:
    if request.param == "opensearch":
        engine = OpenSearch(hosts=[request.getfixturevalue("osmem_clone").url], max_retries=0)
        replace_adapter(
            container,
            "index",
            lambda _: OpenSearchVectorIndex(engine, "quarry-chunks", container.embedder.dimensions),
        )
    yield request.param


def sweep_messages(aws: dict[str, Any], queue_url: str) -> list[str]:
    """The documents named by the sweep queue's messages, consumed."""
    named: list[str] = []
    while True:
        messages = aws["sqs"].receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return named
        for message in messages:
            named.append(document_of_sweep_message(message["Body"]))
            aws["sqs"].delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


def test_a_delete_while_the_worker_indexes_wins_and_removes_what_the_worker_wrote(
    container: Container, backend: str, aws: dict[str, Any], resources, http
) -> None:
    document_id = upload(container, "kestrels.txt", TEXT)
    held = replace_adapter(container, "index", lambda index: HeldAfterIndexing(index, document_id))
    worker = poller(aws, resources)
    working = threading.Thread(target=worker.poll_once, name="worker")
    working.start()
    try:
        assert held.indexed.wait(30), "the worker never indexed the document"
        assert held.inner.count(document_id) > 0  # the worker's chunks are in the index
        answer = http.delete(f"/documents/{document_id}")
        assert answer.status_code == 200 and answer.json_body["status"] == "DELETED"
    finally:
        held.release.set()
        working.join(60)
    assert not working.is_alive()

    record = container.catalog.get(document_id)
    assert record is not None and record.status == Status.DELETED, (
        f"the worker's late write brought the document back as {record.status.value if record else None}"
    )
    assert record.claim_token is None and record.chunk_count == 0
    assert held.inner.count(document_id) == 0
    settings = container.settings
    assert not container.object_store.exists(settings.processed_bucket, processed_key(TENANT, document_id))
    assert not container.object_store.exists(record.bucket, record.key)
    assert http.get(f"/documents/{document_id}").json_body["status"] == "DELETED"
    # The API's delete and the worker's clean-up each asked for a sweep of the document.
    assert sweep_messages(aws, resources.sweep_queue_url).count(document_id) >= 2


def test_a_claim_lost_to_a_live_worker_leaves_that_workers_result_alone(
    container: Container, backend: str, aws: dict[str, Any], resources
) -> None:
    """The first worker stalls after indexing until its lease has run out and a second delivery has
    claimed and finished the document; the first one's late finish then fails, and must not remove
    what the second one wrote."""
    settings = container.settings
    assert settings.claim_lease_s == 1
    document_id = upload(container, "kestrels.txt", TEXT)
    held = replace_adapter(container, "index", lambda index: HeldAfterIndexing(index, document_id))
    stalled = threading.Thread(target=poller(aws, resources).poll_once, name="stalled-worker")
    stalled.start()
    try:
        assert held.indexed.wait(30), "the first worker never indexed the document"
        # The message comes back after the 1 s visibility timeout, the lease has run out by then.
        views = drain(poller(aws, resources), container, [document_id], timeout_s=30)
        assert views[document_id]["status"] == "INDEXED"
    finally:
        held.release.set()
        stalled.join(60)
    assert not stalled.is_alive()
    record = container.catalog.get(document_id)
    assert record is not None and record.status == Status.INDEXED and record.claim_token is None
    assert held.inner.count(document_id) == record.chunk_count > 0
    assert container.object_store.exists(settings.processed_bucket, processed_key(TENANT, document_id))
