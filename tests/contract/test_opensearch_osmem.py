"""OpenSearchVectorIndex against a real engine: osmem-server, an in-memory OpenSearch-compatible
server on loopback. It has BM25, mappings, bulk with per-item errors, search_after and deletes by _id,
but no k-NN: here the index creation, writes, replacement, deletion, counts and keyword search run
for real; the k-NN query is only pinned by contract (test_opensearch_contract.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from opensearchpy import OpenSearch

from chalicelib.adapters.opensearch import OpenSearchVectorIndex
from chalicelib.model import Chunk, DocumentError, IndexedChunk, SearchFilters
from tests.contract.conftest import FakeTime

DIMENSIONS = 4
NO_FILTER = SearchFilters()


def item(document_id: str, ordinal: int, text: str, version: str = "v1", **fields: Any) -> IndexedChunk:
    vector = [0.0] * DIMENSIONS
    vector[ordinal % DIMENSIONS] = 1.0
    return IndexedChunk(
        chunk=Chunk(
            f"{document_id}:{version}:{ordinal}", document_id, ordinal, text, page=fields.get("page")
        ),
        vector=vector,
        version=version,
        key=fields.get("key", f"{document_id}/file.txt"),
        content_type=fields.get("content_type", "text/plain"),
        metadata=fields.get("metadata", {}),
    )


def pets(version: str = "v1") -> list[IndexedChunk]:
    meta = {"team": "pets", "lang": "en"}
    return [
        item("pets", 0, "The cat sat on the mat and purred.", version, key="pets/cats.txt", metadata=meta),
        item(
            "pets",
            1,
            "Kittens chase a ball of yarn across the rug.",
            version,
            key="pets/cats.txt",
            metadata=meta,
        ),
    ]


def finance() -> list[IndexedChunk]:
    meta = {"team": "finance", "lang": "en"}
    return [
        item(
            "finance",
            0,
            "Quarterly revenue grew five percent.",
            key="reports/q3.pdf",
            content_type="application/pdf",
            metadata=meta,
            page=1,
        ),
        item(
            "finance",
            1,
            "Operating margin improved; costs were flat.",
            key="reports/q3.pdf",
            content_type="application/pdf",
            metadata=meta,
            page=2,
        ),
    ]


def garden() -> list[IndexedChunk]:
    # Its key starts with "pets" but not "pets/": the prefix filter must tell them apart.
    meta = {"team": "garden", "lang": "de", "a=b": "c"}
    return [
        item(
            "garden",
            0,
            "Tomatoes need sun, water and a cat.",
            key="pets-and-plants/garden.html",
            content_type="text/html",
            metadata=meta,
        )
    ]


@pytest.fixture
def engine(osmem_clone: Any) -> OpenSearch:
    return OpenSearch(hosts=[osmem_clone.url], max_retries=0)


@pytest.fixture
def index(engine: OpenSearch, fake_time: FakeTime) -> OpenSearchVectorIndex:
    return OpenSearchVectorIndex(
        engine, "quarry-chunks", DIMENSIONS, sleep=fake_time.sleep, clock=fake_time.clock
    )


@pytest.fixture
def loaded(index: OpenSearchVectorIndex) -> Iterator[OpenSearchVectorIndex]:
    index.replace_document("pets", "v1", pets())
    index.replace_document("finance", "v1", finance())
    index.replace_document("garden", "v1", garden())
    yield index


def keyword_ids(index: OpenSearchVectorIndex, query: str, filters: SearchFilters = NO_FILTER) -> list[str]:
    return [h.chunk_id for h in index.search_keyword(query, 10, filters)]


def test_ensure_index_creates_the_mapping_once(engine: OpenSearch, index: OpenSearchVectorIndex) -> None:
    index.ensure_index()
    index.ensure_index()  # idempotent
    mapping = engine.indices.get_mapping(index="quarry-chunks")["quarry-chunks"]["mappings"]
    assert mapping["dynamic"] == "strict"
    assert mapping["properties"]["text"] == {"type": "text", "analyzer": "english"}
    assert mapping["properties"]["metadata_pairs"] == {"type": "keyword"}
    assert index.mapped_dimensions() == DIMENSIONS


def test_the_first_write_creates_the_index(engine: OpenSearch, index: OpenSearchVectorIndex) -> None:
    assert not engine.indices.exists(index="quarry-chunks")
    index.replace_document("pets", "v1", pets())
    assert engine.indices.exists(index="quarry-chunks")
    assert index.count("pets") == 2


def test_a_missing_index_is_empty(index: OpenSearchVectorIndex) -> None:
    assert index.search_keyword("cat", 5, NO_FILTER) == []
    assert index.count() == 0
    assert index.delete_document("pets") == 0


def test_counts_overall_and_per_document(loaded: OpenSearchVectorIndex) -> None:
    assert loaded.count() == 5
    assert loaded.count("pets") == 2
    assert loaded.count("nobody") == 0


def test_keyword_search_ranks_by_bm25_and_returns_the_chunk_fields(loaded: OpenSearchVectorIndex) -> None:
    hits = loaded.search_keyword("quarterly revenue", 10, NO_FILTER)
    assert hits[0].chunk_id == "finance:v1:0"
    assert hits[0].text == "Quarterly revenue grew five percent."
    assert (hits[0].key, hits[0].page, hits[0].content_type) == ("reports/q3.pdf", 1, "application/pdf")
    assert hits[0].metadata == {"team": "finance", "lang": "en"}
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_keyword_search_stems_english_and_drops_stop_words(loaded: OpenSearchVectorIndex) -> None:
    assert keyword_ids(loaded, "TOMATO") == ["garden:v1:0"]
    assert keyword_ids(loaded, "the and of a") == []


@pytest.mark.parametrize(
    ("filters", "expected_documents"),
    [
        (SearchFilters(content_types=("application/pdf", "text/html")), {"finance", "garden"}),
        (SearchFilters(key_prefix="pets/"), {"pets"}),
        (SearchFilters(key_prefix="pets"), {"pets", "garden"}),
        (SearchFilters(metadata=(("lang", "en"),)), {"pets", "finance"}),
        (SearchFilters(metadata=(("lang", "en"), ("team", "pets"))), {"pets"}),
        (SearchFilters(metadata=(("a=b", "c"),)), {"garden"}),
        (SearchFilters(metadata=(("a", "b=c"),)), set()),
        (SearchFilters(document_ids=("garden", "finance")), {"finance", "garden"}),
        (SearchFilters(content_types=("text/plain",), document_ids=("finance",)), set()),
    ],
)
def test_keyword_filters(
    loaded: OpenSearchVectorIndex, filters: SearchFilters, expected_documents: set[str]
) -> None:
    hits = loaded.search_keyword("cat kittens revenue margin tomatoes", 10, filters)
    assert {h.document_id for h in hits} == expected_documents


def test_a_new_version_replaces_the_old_chunks(loaded: OpenSearchVectorIndex) -> None:
    loaded.replace_document("pets", "v2", [item("pets", 0, "Dogs fetch sticks in the park.", "v2")])
    assert loaded.count("pets") == 1
    assert loaded.count() == 4
    assert keyword_ids(loaded, "dogs cat kittens") == ["pets:v2:0", "garden:v1:0"]


def test_the_same_version_twice_stores_it_once(loaded: OpenSearchVectorIndex) -> None:
    before = keyword_ids(loaded, "cat kittens")
    loaded.replace_document("pets", "v1", pets())
    assert loaded.count("pets") == 2
    assert keyword_ids(loaded, "cat kittens") == before


def test_replacement_finds_old_chunks_across_pages(engine: OpenSearch, fake_time: FakeTime) -> None:
    index = OpenSearchVectorIndex(
        engine,
        "quarry-chunks",
        DIMENSIONS,
        page_size=2,
        bulk_batch_size=3,
        sleep=fake_time.sleep,
        clock=fake_time.clock,
    )
    index.replace_document("big", "v1", [item("big", i, f"old words {i}") for i in range(7)])
    index.replace_document("big", "v2", [item("big", i, f"new words {i}", "v2") for i in range(2)])
    assert index.count("big") == 2
    assert {h.chunk_id for h in index.search_keyword("words", 10, NO_FILTER)} == {"big:v2:0", "big:v2:1"}


def test_a_rejected_chunk_fails_the_write_and_keeps_the_previous_version(
    loaded: OpenSearchVectorIndex,
) -> None:
    # A page that is not an integer: the engine rejects that one item inside a 200 bulk answer.
    broken = [item("pets", 0, "Parrots talk.", "v2"), item("pets", 1, "Parrots squawk.", "v2", page="eleven")]
    with pytest.raises(DocumentError, match="rejected 1 of 2 bulk items"):
        loaded.replace_document("pets", "v2", broken)
    assert loaded.count("pets") == 2
    assert keyword_ids(loaded, "parrots") == []
    assert set(keyword_ids(loaded, "cat kittens")) == {"pets:v1:0", "pets:v1:1", "garden:v1:0"}


def test_delete_document_removes_only_that_document(loaded: OpenSearchVectorIndex) -> None:
    assert loaded.delete_document("finance") == 2
    assert loaded.count() == 3
    assert keyword_ids(loaded, "revenue margin") == []
    assert loaded.delete_document("finance") == 0


def test_a_stale_version_left_by_a_lagging_lookup_is_hidden_then_swept(
    loaded: OpenSearchVectorIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    # On AOSS the lookup after a write cannot see chunks written in the last minute; simulate that
    # by making it find nothing, so v1 stays stored next to v2.
    real_lookup = loaded._entry_ids
    monkeypatch.setattr(loaded, "_entry_ids", lambda document_id, exclude_generation=None: [])
    loaded.replace_document("pets", "v2", [item("pets", 0, "The cat now sleeps on the sofa.", "v2")])
    assert loaded.count("pets") == 3  # both versions stored
    assert [
        h.chunk_id for h in loaded.search_keyword("cat kittens", 10, SearchFilters(document_ids=("pets",)))
    ] == ["pets:v2:0"]
    monkeypatch.setattr(loaded, "_entry_ids", real_lookup)
    assert loaded.sweep_document("pets") == 2
    assert loaded.count("pets") == 1
    assert loaded.sweep_document("pets") == 0
