"""The search service's catalog check on the typed fakes and the real embedded index: which versions a
search may show, how deep it goes to fill k, and the setting that turns the check off."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import pytest

from chalicelib.adapters.local_embedders import HashingEmbedder
from chalicelib.adapters.sqlite import SqliteVectorIndex
from chalicelib.api.requests import SearchRequest
from chalicelib.config import Settings
from chalicelib.lifecycle import DocumentLifecycle
from chalicelib.model import (
    Chunk,
    DocumentRecord,
    DocumentState,
    EmbeddingModel,
    Hit,
    IndexedChunk,
    ObjectRef,
    SearchFilters,
    Status,
    searchable_version,
)
from chalicelib.ports import VectorIndex
from chalicelib.search import CHECK_DEPTH_GROWTH, CHECK_ROUNDS, SearchService
from tests.fakes import MemoryCatalog, MemoryObjectStore

TENANT = "acme"
QUERY = "heron colony on the cliffs"
NOW = "2026-01-01T00:00:00.000Z"


@pytest.mark.parametrize(
    ("status", "etag", "indexed_etag", "expected"),
    [
        (Status.INDEXED, "v2", "v2", "v2"),
        (Status.INDEXED, "v2", None, "v2"),  # a record written before indexed_etag existed
        (Status.PROCESSING, "v2", "v1", "v1"),  # a new version in flight: the last indexed one shows
        (Status.PROCESSING, "v1", None, None),  # a first ingest in flight: nothing yet
        (Status.PENDING, "v1", None, None),
        (Status.FAILED, "v2", None, None),
        (Status.DELETED, "v1", None, None),
        (Status.FAILED, "v2", "v1", None),  # never shown, whatever a stale field says
        (Status.DELETED, "v1", "v1", None),
    ],
)
def test_the_searchable_version_of_each_state(status, etag, indexed_etag, expected):
    assert searchable_version(status, etag, indexed_etag) == expected
    state = DocumentState("d", TENANT, status, etag, indexed_etag)
    for version in ("v1", "v2", None):
        assert state.shows(TENANT, version) == (expected is not None and version == expected)
    assert not state.shows("globex", expected)


class CountingIndex(VectorIndex):
    """The real embedded index, counting the searches made and the depths asked for."""

    def __init__(self, inner: VectorIndex):
        self.inner = inner
        self.depths: list[tuple[str, int]] = []
        self.returned: set[str] = set()

    def replace_document(self, document_id: str, version: str, chunks: Sequence[IndexedChunk]) -> None:
        self.inner.replace_document(document_id, version, chunks)

    def delete_document(self, document_id: str) -> int:
        return self.inner.delete_document(document_id)

    def sweep(self, document_id: str, keep_version: str | None) -> int:
        return self.inner.sweep(document_id, keep_version)

    def count(self, document_id: str | None = None) -> int:
        return self.inner.count(document_id)

    def embedding_model(self) -> EmbeddingModel | None:
        return self.inner.embedding_model()

    def _seen(self, mode: str, k: int, hits: list[Hit]) -> list[Hit]:
        self.depths.append((mode, k))
        self.returned |= {h.document_id for h in hits}
        return hits

    def search_vector(
        self, vector: Sequence[float], k: int, filters: SearchFilters, model: EmbeddingModel | None = None
    ) -> list[Hit]:
        return self._seen("vector", k, self.inner.search_vector(vector, k, filters, model))

    def search_keyword(self, query: str, k: int, filters: SearchFilters) -> list[Hit]:
        return self._seen("keyword", k, self.inner.search_keyword(query, k, filters))


@pytest.fixture
def world(tmp_path):
    embedder = HashingEmbedder()
    index = CountingIndex(SqliteVectorIndex(tmp_path / "index.sqlite3", embedder.dimensions))
    return embedder, index, MemoryCatalog()


def put_document(world, name: str, text: str, status: Status, version: str = "v1") -> str:
    embedder, index, catalog = world
    document_id = f"{name:0>32}"
    chunk = Chunk(f"{document_id}:{version}:0", document_id, 0, text)
    [vector] = embedder.embed_documents([text])
    key = f"tenants/{TENANT}/{name}.txt"
    index.replace_document(
        document_id,
        version,
        [
            IndexedChunk(
                chunk,
                vector,
                version,
                key,
                "text/plain",
                tenant=TENANT,
                model_id=embedder.model_id,
                dimensions=embedder.dimensions,
            )
        ],
    )
    indexed_etag = version if status == Status.INDEXED else None
    catalog.put(
        DocumentRecord(
            document_id, status, "raw", key, NOW, NOW, tenant=TENANT, etag=version, indexed_etag=indexed_etag
        )
    )
    return document_id


def service(world, **settings) -> SearchService:
    embedder, index, catalog = world
    return SearchService(Settings(**settings), embedder, index, catalog)


def run(search: SearchService, mode: str, k: int) -> list[str]:
    return [
        r["document_id"] for r in search.search(TENANT, SearchRequest(query=QUERY, mode=mode, k=k))["results"]
    ]


@pytest.mark.parametrize("mode", ["vector", "keyword"])
def test_a_search_full_of_strays_stops_after_a_bounded_number_of_rounds(world, mode):
    _, index, catalog = world
    for n in range(200):
        put_document(world, f"gone{n}", QUERY, Status.DELETED)
    put_document(world, "good", "a heron colony, far down the list", Status.INDEXED)
    found = run(service(world), mode, k=10)
    assert len(catalog.get_many_calls) == CHECK_ROUNDS
    assert index.depths == [(mode, 10 * CHECK_DEPTH_GROWTH**n) for n in range(CHECK_ROUNDS)]
    # 160 candidates were all strays: the page comes back short rather than the search going on.
    assert found == []
    # Each round read only the documents it had not seen before.
    asked = [d for call in catalog.get_many_calls for d in call]
    assert len(asked) == len(set(asked))


def test_hybrid_checks_the_union_of_both_sides_in_one_read_before_fusion(world):
    _, index, catalog = world
    good = {put_document(world, f"good{n}", f"heron colony number {n}", Status.INDEXED) for n in range(5)}
    stray = put_document(world, "stray", QUERY, Status.FAILED)
    found = run(service(world), "hybrid", k=5)
    assert set(found) == good
    assert [sorted(call) for call in catalog.get_many_calls] == [sorted(index.returned)]
    assert stray in index.returned


def test_with_the_check_off_the_index_answers_alone(world):
    catalog = world[2]
    stray = put_document(world, "stray", QUERY, Status.DELETED)
    assert run(service(world, search_catalog_check=False), "keyword", k=5) == [stray]
    assert catalog.get_many_calls == []
    assert run(service(world), "keyword", k=5) == []


def test_the_setting_reads_true_or_false_from_the_environment():
    assert Settings.from_env({}).search_catalog_check is True
    assert Settings.from_env({"QUARRY_SEARCH_CATALOG_CHECK": "false"}).search_catalog_check is False
    assert Settings.from_env({"QUARRY_SEARCH_CATALOG_CHECK": "1"}).search_catalog_check is True
    with pytest.raises(ValueError, match="QUARRY_SEARCH_CATALOG_CHECK"):
        Settings.from_env({"QUARRY_SEARCH_CATALOG_CHECK": "maybe"})


def test_the_lifecycle_keeps_the_searchable_version_in_the_record(world):
    _, index, catalog = world
    lifecycle = DocumentLifecycle(
        catalog, MemoryObjectStore(), index, processed_bucket="out", claim_lease_s=60
    )
    ref = ObjectRef(bucket="raw", key=f"tenants/{TENANT}/a.txt", etag="v1")
    first = lifecycle.claim(ref, None, 1, TENANT)
    assert catalog.get(ref.document_id).indexed_etag is None
    lifecycle.finish_indexed(replace(first, status=Status.INDEXED))
    assert catalog.get(ref.document_id).indexed_etag == "v1"
    second = lifecycle.claim(replace(ref, etag="v2"), catalog.get(ref.document_id), 1, TENANT)
    lifecycle.release(second, "PROVIDER_ERROR", "again")
    assert (catalog.get(ref.document_id).etag, catalog.get(ref.document_id).indexed_etag) == ("v2", "v1")
    lifecycle.finish_failed(second, "CORRUPT", "damaged")
    assert catalog.get(ref.document_id).indexed_etag is None
    third = lifecycle.claim(replace(ref, etag="v3"), catalog.get(ref.document_id), 1, TENANT)
    lifecycle.finish_indexed(replace(third, status=Status.INDEXED))
    assert catalog.get(ref.document_id).indexed_etag == "v3"
    lifecycle.delete(ref.document_id, catalog.get(ref.document_id), wait_for_worker=True)
    assert (catalog.get(ref.document_id).status, catalog.get(ref.document_id).indexed_etag) == (
        Status.DELETED,
        None,
    )
