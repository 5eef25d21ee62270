"""A search never returns a chunk whose document is not searchable at that chunk's version in the
catalog: the real search service over the real DynamoDB catalog (moto server) and the embedded index,
behind an index that lags like OpenSearch Serverless (writes and deletes invisible until it catches
up), so that the index holds exactly the leftovers issue #12 describes.

Every document's state is written by the real DocumentLifecycle, as the worker and the API write it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

import pytest

from chalicelib.adapters.dynamo_catalog import DynamoCatalog
from chalicelib.api.requests import SearchRequest
from chalicelib.lifecycle import DocumentLifecycle
from chalicelib.model import (
    Chunk,
    DocumentRecord,
    EmbeddingModel,
    Hit,
    IndexedChunk,
    ObjectRef,
    SearchFilters,
    Status,
)
from chalicelib.ports import VectorIndex

TENANT = "acme"
MODES = ["vector", "keyword", "hybrid"]
QUERY = "heron colony nesting on the cliffs"


class LaggingIndex(VectorIndex):
    """The embedded index, lagging the way OpenSearch Serverless does: a chunk is invisible for about a
    minute after it is written, to searches and to the lookup a delete makes. With `deletes_miss`, a
    delete finds nothing (the chunks were written within the lag); with `writes_held`, writes are held
    back until `catch_up` (a new version's chunks not visible yet, the old version's still there)."""

    def __init__(self, inner: VectorIndex):
        self.inner = inner
        self.deletes_miss = False
        self.writes_held = False
        self._held: list[Callable[[], None]] = []

    def catch_up(self) -> None:
        held, self._held = self._held, []
        for write in held:
            write()

    def replace_document(self, document_id: str, version: str, chunks: Sequence[IndexedChunk]) -> None:
        def write() -> None:
            self.inner.replace_document(document_id, version, chunks)

        if self.writes_held:
            self._held.append(write)
        else:
            write()

    def delete_document(self, document_id: str) -> int:
        return 0 if self.deletes_miss else self.inner.delete_document(document_id)

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


class Library:
    """Documents written the way the worker writes them: claim, index the chunks, record."""

    def __init__(self, container, index: LaggingIndex):
        self.container = container
        self.index = index
        self.lifecycle = DocumentLifecycle(
            container.catalog,
            container.object_store,
            index,
            processed_bucket=container.settings.processed_bucket,
            claim_lease_s=container.settings.claim_lease_s,
        )

    def ref(self, name: str, version: str, tenant: str = TENANT) -> ObjectRef:
        return ObjectRef(
            bucket=self.container.settings.raw_bucket, key=f"tenants/{tenant}/{name}", etag=version
        )

    def claim(self, name: str, version: str, tenant: str = TENANT) -> DocumentRecord:
        ref = self.ref(name, version, tenant)
        record = self.lifecycle.claim(ref, self.container.catalog.get(ref.document_id), 1, tenant)
        assert record is not None
        return record

    def write_chunks(self, record: DocumentRecord, texts: list[str]) -> None:
        embedder = self.container.embedder
        vectors = embedder.embed_documents(texts)
        chunks = [
            IndexedChunk(
                chunk=Chunk(f"{record.document_id}:{record.etag}:{n}", record.document_id, n, text),
                vector=vector,
                version=record.etag,
                key=record.key,
                content_type="text/plain",
                tenant=record.tenant,
                model_id=embedder.model_id,
                dimensions=embedder.dimensions,
            )
            for n, (text, vector) in enumerate(zip(texts, vectors, strict=True))
        ]
        self.index.replace_document(record.document_id, record.etag, chunks)

    def indexed(self, name: str, version: str, texts: list[str], tenant: str = TENANT) -> str:
        record = self.claim(name, version, tenant)
        self.write_chunks(record, texts)
        self.lifecycle.finish_indexed(replace(record, status=Status.INDEXED, chunk_count=len(texts)))
        return record.document_id

    def failed(self, name: str, version: str, texts: list[str]) -> str:
        """A version whose chunks were written, then the document failed (and its cleanup lagged)."""
        record = self.claim(name, version)
        self.write_chunks(record, texts)
        self.lifecycle.discard_outputs(record.document_id, record.tenant)
        self.lifecycle.finish_failed(record, "CORRUPT", "the file is damaged")
        return record.document_id

    def deleted(self, name: str, version: str, texts: list[str]) -> str:
        document_id = self.indexed(name, version, texts)
        self.lifecycle.delete(document_id, self.container.catalog.get(document_id), wait_for_worker=True)
        return document_id


@pytest.fixture
def library(container, aws):
    index = LaggingIndex(container.index)
    # Searches and the library share the lagging index and a catalog whose DynamoDB calls are counted.
    calls: list[str] = []
    aws["dynamodb"].meta.events.register("before-call.dynamodb", lambda model, **_: calls.append(model.name))
    container.__dict__["index"] = index
    container.__dict__["catalog"] = DynamoCatalog(aws["dynamodb"], container.settings.documents_table)
    lib = Library(container, index)
    lib.calls = calls
    return lib


def search(library: Library, mode: str, k: int = 10, tenant: str = TENANT) -> list[dict]:
    return library.container.search.search(tenant, SearchRequest(query=QUERY, mode=mode, k=k))["results"]


def shown(library: Library, mode: str, k: int = 10) -> set[str]:
    return {r["document_id"] for r in search(library, mode, k)}


@pytest.mark.parametrize("mode", MODES)
def test_chunks_left_by_a_failed_document_are_never_returned(library, mode):
    good = library.indexed("good.txt", "g1", ["Herons nest in a colony on the sea cliffs."])
    library.index.deletes_miss = True
    bad = library.failed("bad.txt", "b1", [QUERY, "More about the heron colony."])
    assert library.index.count(bad) == 2  # the leftovers are there, and rank first
    assert shown(library, mode) == {good}


@pytest.mark.parametrize("mode", MODES)
def test_chunks_of_a_deleted_document_are_never_returned(library, mode):
    good = library.indexed("good.txt", "g1", ["Herons nest in a colony on the sea cliffs."])
    library.index.deletes_miss = True
    gone = library.deleted("gone.txt", "v1", [QUERY])
    assert library.container.catalog.get(gone).status == Status.DELETED and library.index.count(gone) == 1
    assert shown(library, mode) == {good}


@pytest.mark.parametrize("mode", MODES)
def test_a_stray_chunk_of_an_old_version_is_never_returned(library, mode):
    document_id = library.indexed("herons.txt", "v1", [QUERY])
    library.index.writes_held = True  # v2's chunks are not visible yet: v1's are the only ones left
    library.indexed("herons.txt", "v2", ["Herons left the cliffs this spring."])
    assert search(library, mode) == []
    record = library.container.catalog.get(document_id)
    assert (record.status, record.etag, record.indexed_etag) == (Status.INDEXED, "v2", "v2")
    library.index.catch_up()
    assert shown(library, mode) == {document_id}


@pytest.mark.parametrize("mode", MODES)
def test_while_a_new_version_is_processing_the_last_indexed_one_is_shown(library, mode):
    document_id = library.indexed("herons.txt", "v1", [QUERY])
    record = library.claim("herons.txt", "v2")
    assert shown(library, mode) == {document_id}
    # The worker wrote v2's chunks, then gave the document back for a retry: v2 is not recorded as
    # indexed, so its chunks are not shown (v1's are gone from the index) until a retry records it.
    library.write_chunks(record, [QUERY])
    library.lifecycle.release(record, "PROVIDER_ERROR", "try again")
    assert search(library, mode) == []
    current = library.container.catalog.get(document_id)
    assert (current.status, current.etag, current.indexed_etag) == (Status.PROCESSING, "v2", "v1")
    library.lifecycle.finish_indexed(replace(record, status=Status.INDEXED, chunk_count=1))
    assert [(r["document_id"], r["chunk_id"]) for r in search(library, mode)] == [
        (document_id, f"{document_id}:v2:0")
    ]


@pytest.mark.parametrize("mode", MODES)
def test_a_document_on_its_first_ingest_is_not_shown_before_it_is_indexed(library, mode):
    record = library.claim("new.txt", "v1")
    library.write_chunks(record, [QUERY])  # the worker died here, before recording the document
    assert search(library, mode) == []


@pytest.mark.parametrize("mode", MODES)
def test_chunks_with_no_catalog_record_are_never_returned(library, mode):
    record = library.claim("orphan.txt", "v1")
    library.write_chunks(record, [QUERY])
    library.container.catalog.delete(record.document_id)
    assert search(library, mode) == []


@pytest.mark.parametrize("mode", MODES)
def test_k_is_still_filled_when_strays_are_dropped(library, mode):
    good = {library.indexed(f"good-{n}.txt", "g1", [f"Herons nest in a colony, site {n}."]) for n in range(4)}
    library.index.deletes_miss = True
    for n in range(12):  # strays that match the query better than any good chunk
        library.deleted(f"gone-{n}.txt", "v1", [QUERY])
    library.calls.clear()
    results = search(library, mode, k=3)
    assert len(results) == 3 and {r["document_id"] for r in results} <= good
    # The first round's 3 hits were all strays: the search went deeper, one catalog read a round.
    batch_reads = library.calls.count("BatchGetItem")
    assert 1 <= batch_reads <= 3 and "GetItem" not in library.calls
    if mode != "hybrid":
        assert batch_reads >= 2


@pytest.mark.parametrize("mode", MODES)
def test_the_check_is_one_batch_read_of_the_catalog(library, mode):
    for n in range(30):
        library.indexed(f"doc-{n}.txt", "v1", [f"Herons nest in a colony, site {n}.", f"Cliffs, part {n}."])
    library.calls.clear()
    results = search(library, mode, k=10)
    assert len(results) == 10
    assert library.calls == ["BatchGetItem"]


def test_another_tenants_record_hides_a_chunk_filed_under_this_tenant(library):
    theirs = library.indexed("herons.txt", "v1", [QUERY], tenant="globex")
    record = library.container.catalog.get(theirs)
    # A chunk that claims tenant acme for a document the catalog files under globex.
    library.write_chunks(replace(record, tenant=TENANT), [QUERY])
    assert search(library, "keyword", tenant=TENANT) == []
