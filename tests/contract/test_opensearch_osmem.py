"""OpenSearchVectorIndex against a real engine, osmem-server, for what only OpenSearch has to do: the
mapping it creates, the index created on the first write, a missing index read as empty, old chunks
found across search_after pages, a rejected bulk item, and a stale generation left by AOSS's lag.

What every VectorIndex must do runs on osmem too, as the shared contract
(test_vector_index_opensearch.py); the k-NN query is only pinned by contract (test_opensearch_contract.py).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opensearchpy import OpenSearch

from chalicelib.adapters.opensearch import OpenSearchVectorIndex
from chalicelib.model import DocumentError, SearchFilters
from tests.contract.conftest import FakeTime, osmem_index

# The contract module holds assertions but is not a test_ module: ask pytest to rewrite them too,
# so a failure there shows its values.
pytest.register_assert_rewrite("tests.contract.vector_index_contract")

from tests.contract.vector_index_contract import (  # noqa: E402
    DIMENSIONS,
    NO_FILTER,
    TENANT,
    axis,
    finance,
    garden,
    ids,
    indexed,
    pets,
)


@pytest.fixture
def index(osmem_engine: OpenSearch, fake_time: FakeTime) -> OpenSearchVectorIndex:
    return osmem_index(osmem_engine, fake_time, DIMENSIONS)


@pytest.fixture
def loaded(index: OpenSearchVectorIndex) -> Iterator[OpenSearchVectorIndex]:
    index.replace_document("pets", "v1", pets())
    index.replace_document("finance", "v1", finance())
    index.replace_document("garden", "v1", garden())
    yield index


def keyword_ids(index: OpenSearchVectorIndex, query: str, filters: SearchFilters = NO_FILTER) -> list[str]:
    return ids(index.search_keyword(query, 10, filters))


def test_ensure_index_creates_the_mapping_once(
    osmem_engine: OpenSearch, index: OpenSearchVectorIndex
) -> None:
    index.ensure_index()
    index.ensure_index()  # idempotent
    mapping = osmem_engine.indices.get_mapping(index="quarry-chunks")["quarry-chunks"]["mappings"]
    assert mapping["dynamic"] == "strict"
    assert mapping["properties"]["text"] == {"type": "text", "analyzer": "english"}
    assert mapping["properties"]["metadata_pairs"] == {"type": "keyword"}
    assert index.mapped_dimensions() == DIMENSIONS


def test_the_first_write_creates_the_index(osmem_engine: OpenSearch, index: OpenSearchVectorIndex) -> None:
    assert not osmem_engine.indices.exists(index="quarry-chunks")
    index.replace_document("pets", "v1", pets())
    assert osmem_engine.indices.exists(index="quarry-chunks")
    assert index.count("pets") == 2


def test_a_missing_index_is_empty(index: OpenSearchVectorIndex) -> None:
    assert index.search_keyword("cat", 5, NO_FILTER) == []
    assert index.count() == 0
    assert index.delete_document("pets") == 0


def test_replacement_finds_old_chunks_across_pages(osmem_engine: OpenSearch, fake_time: FakeTime) -> None:
    index = osmem_index(osmem_engine, fake_time, DIMENSIONS, page_size=2, bulk_batch_size=3)
    index.replace_document("big", "v1", [indexed("big", i, f"old words {i}", axis(i)) for i in range(7)])
    index.replace_document(
        "big", "v2", [indexed("big", i, f"new words {i}", axis(i), version="v2") for i in range(2)]
    )
    assert index.count("big") == 2
    assert {h.chunk_id for h in index.search_keyword("words", 10, NO_FILTER)} == {"big:v2:0", "big:v2:1"}


def test_a_rejected_chunk_fails_the_write_and_keeps_the_previous_version(
    loaded: OpenSearchVectorIndex,
) -> None:
    # A page that is not an integer: the engine rejects that one item inside a 200 bulk answer.
    broken = [
        indexed("pets", 0, "Parrots talk.", axis(0), version="v2"),
        indexed("pets", 1, "Parrots squawk.", axis(1), version="v2", page="eleven"),  # type: ignore[arg-type]
    ]
    with pytest.raises(DocumentError, match="rejected 1 of 2 bulk items"):
        loaded.replace_document("pets", "v2", broken)
    assert loaded.count("pets") == 2
    assert keyword_ids(loaded, "parrots") == []
    assert set(keyword_ids(loaded, "cat kittens")) == {"pets:v1:0", "pets:v1:1", "garden:v1:0"}


def test_a_stale_version_left_by_a_lagging_lookup_is_hidden_then_swept(
    loaded: OpenSearchVectorIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    # On AOSS the lookup after a write cannot see chunks written in the last minute; simulate that
    # by making it find nothing, so v1 stays stored next to v2.
    real_lookup = loaded._entry_ids
    monkeypatch.setattr(loaded, "_entry_ids", lambda document_id, exclude_generation=None: [])
    loaded.replace_document(
        "pets", "v2", [indexed("pets", 0, "The cat now sleeps on the sofa.", axis(0), version="v2")]
    )
    assert loaded.count("pets") == 3  # both versions stored
    assert keyword_ids(loaded, "cat kittens", SearchFilters(tenant=TENANT, document_ids=("pets",))) == [
        "pets:v2:0"
    ]
    monkeypatch.setattr(loaded, "_entry_ids", real_lookup)
    assert loaded.sweep_document("pets") == 2
    assert loaded.count("pets") == 1
    assert loaded.sweep_document("pets") == 0


def test_the_sweep_keeps_the_version_the_catalog_names_whatever_the_lag_left_behind(
    loaded: OpenSearchVectorIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every lookup after a write misses what the lag hides: three writes leave three generations.
    real_lookup = loaded._entry_ids
    monkeypatch.setattr(loaded, "_entry_ids", lambda document_id, **_: [])
    v2 = [indexed("pets", 0, "The cat now sleeps on the sofa.", axis(0), version="v2")]
    loaded.replace_document("pets", "v2", v2)
    loaded.replace_document("pets", "v2", v2)  # a redelivery of the same version: a newer generation
    assert loaded.count("pets") == 4
    monkeypatch.setattr(loaded, "_entry_ids", real_lookup)
    # The catalog says v2: v1's two chunks and v2's older generation go, v2's newest stays.
    assert loaded.sweep("pets", "v2") == 3
    assert loaded.count("pets") == 1
    assert keyword_ids(loaded, "cat sofa", SearchFilters(tenant=TENANT, document_ids=("pets",))) == [
        "pets:v2:0"
    ]
    assert loaded.sweep("pets", "v2") == 0
    # Then deleted (or failed): nothing of it stays.
    assert loaded.sweep("pets", None) == 1
    assert loaded.count("pets") == 0 and loaded.count() == 3


def test_the_sweep_of_a_version_with_no_visible_chunk_removes_the_other_versions(
    loaded: OpenSearchVectorIndex,
) -> None:
    assert loaded.sweep("pets", "v9") == 2
    assert loaded.count("pets") == 0 and loaded.count() == 3
