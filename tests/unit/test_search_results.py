"""The search service's result options over a real SQLite index: cursor paging (no duplicates and no
gaps over a fixed store, in every mode; forged or foreign cursors are 400s), group_by document,
highlights and min_score."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chalicelib.adapters.local_embedders import HashingEmbedder
from chalicelib.adapters.sqlite import SqliteVectorIndex
from chalicelib.api.requests import SearchRequest
from chalicelib.config import Settings
from chalicelib.model import Chunk, IndexedChunk, InvalidRequest
from chalicelib.paging import depth_for
from chalicelib.ports import Reranker
from chalicelib.search import SearchService
from tests.fakes import MemoryCatalog

TENANT = "acme"
WORDS = ["lighthouse", "keeper", "storm", "harbour", "seabirds", "granite", "lantern", "tide", "fog", "reef"]


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> SearchService:
    embedder = HashingEmbedder(dimensions=64)
    index = SqliteVectorIndex(Path(tmp_path_factory.mktemp("results")) / "index.db", embedder.dimensions)
    # 12 documents of 6 chunks: each chunk a few of the words, so rankings have many near-ties.
    for d in range(12):
        texts = [
            f"The {WORDS[(d + c) % 10]} and the {WORDS[(d * c) % 10]} near {WORDS[(c * 3) % 10]} {d}-{c}."
            for c in range(6)
        ]
        chunks = [
            IndexedChunk(
                chunk=Chunk(f"doc{d:02}:{c}", f"doc{d:02}", c, text), vector=vector, version="v1",
                key=f"notes/{d}.txt", content_type="text/plain", metadata={"n": d}, tenant=TENANT,
                model_id=embedder.model_id, dimensions=embedder.dimensions,
            )
            for c, (text, vector) in enumerate(zip(texts, embedder.embed_documents(texts), strict=True))
        ]  # fmt: skip
        index.replace_document(f"doc{d:02}", "v1", chunks)
    # A small hybrid candidate depth, so paging crosses several depths within the 72 chunks.
    return SearchService(
        Settings(hybrid_candidates=8, search_catalog_check=False), embedder, index, MemoryCatalog()
    )


def pages(service: SearchService, **options) -> list[dict]:
    """Every page of a search, following next_cursor."""
    request = SearchRequest(**options)
    found, cursor = [], None
    while True:
        answer = service.search(TENANT, replace_cursor(request, cursor))
        found.append(answer)
        cursor = answer["next_cursor"]
        if cursor is None:
            return found
        assert len(found) < 100


def replace_cursor(request: SearchRequest, cursor: str | None) -> SearchRequest:
    return request.model_copy(update={"cursor": cursor})


@pytest.mark.parametrize("mode", ["vector", "keyword", "hybrid"])
@pytest.mark.parametrize("k", [1, 7, 10])
def test_paging_shows_every_result_once(service: SearchService, mode: str, k: int) -> None:
    query = "lighthouse keeper in the storm"
    answers = pages(service, query=query, mode=mode, k=k)
    shown = [r["chunk_id"] for a in answers for r in a["results"]]
    assert len(shown) == len(set(shown)), "a result came back on two pages"
    assert all(len(a["results"]) == k for a in answers[:-1])
    # The first page is the plain search, and pages together hold everything the search can find.
    assert [r["chunk_id"] for r in answers[0]["results"]] == [
        r["chunk_id"] for r in service.search(TENANT, SearchRequest(query=query, mode=mode, k=k))["results"]
    ]
    everything = {
        r["chunk_id"] for r in service.search(TENANT, SearchRequest(query=query, mode=mode, k=100))["results"]
    }
    if mode == "keyword":
        keyword_all = service._index.search_keyword(query, 1000, service_filters())
        everything = {h.chunk_id for h in keyword_all}
    else:
        everything = {f"doc{d:02}:{c}" for d in range(12) for c in range(6)}
    assert set(shown) == everything


def service_filters():
    from chalicelib.model import SearchFilters

    return SearchFilters(tenant=TENANT)


def test_the_page_depth_doubles_from_the_first_pages() -> None:
    assert [depth_for(p, 10, 100, 1000) for p in (0, 9, 10, 19, 20, 99)] == [100, 100, 200, 200, 400, 1000]
    assert [depth_for(p, 7, 7, 1000) for p in (0, 1, 2, 3, 4)] == [7, 14, 28, 28, 56]


def cursor_of(service: SearchService, **options) -> str:
    cursor = service.search(TENANT, SearchRequest(**options))["next_cursor"]
    assert cursor
    return cursor


@pytest.mark.parametrize(
    "tamper",
    [
        lambda c: c[:-2] + ("AA" if not c.endswith("AA") else "BB"),
        lambda c: "x" + c,
        lambda c: "not-a-cursor",
        lambda c: c.split(".")[0],
        lambda c: forged_page(c, 5),
    ],
)
def test_a_forged_cursor_is_a_400(service: SearchService, tamper) -> None:
    cursor = cursor_of(service, query="storm", mode="keyword", k=3)
    with pytest.raises(InvalidRequest) as raised:
        service.search(TENANT, SearchRequest(query="storm", mode="keyword", k=3, cursor=tamper(cursor)))
    assert raised.value.code == "invalid_cursor" and raised.value.status == 400


def forged_page(cursor: str, page: int) -> str:
    import base64

    payload, mac = cursor.split(".")
    decoded = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    decoded["p"] = page
    forged = (
        base64.urlsafe_b64encode(json.dumps(decoded, separators=(",", ":")).encode()).decode().rstrip("=")
    )
    return f"{forged}.{mac}"


@pytest.mark.parametrize(
    "other",
    [
        {"query": "fog", "mode": "keyword", "k": 3},
        {"query": "storm", "mode": "vector", "k": 3},
        {"query": "storm", "mode": "keyword", "k": 4},
        {"query": "storm", "mode": "keyword", "k": 3, "group_by": "document"},
        {"query": "storm", "mode": "keyword", "k": 3, "filter": {"equals": {"key": "n", "value": 1}}},
    ],
)
def test_a_cursor_of_another_search_is_a_400(service: SearchService, other: dict) -> None:
    cursor = cursor_of(service, query="storm", mode="keyword", k=3)
    with pytest.raises(InvalidRequest, match="another search"):
        service.search(TENANT, SearchRequest(**other, cursor=cursor))


def test_a_cursor_of_another_tenant_is_a_400(service: SearchService) -> None:
    cursor = cursor_of(service, query="storm", mode="keyword", k=3)
    with pytest.raises(InvalidRequest, match="another search"):
        service.search("globex", SearchRequest(query="storm", mode="keyword", k=3, cursor=cursor))


def test_a_cursor_of_another_deployment_is_a_400(service: SearchService) -> None:
    cursor = cursor_of(service, query="storm", mode="keyword", k=3)
    other = SearchService(
        Settings(search_cursor_secret="another", search_catalog_check=False),
        service._embedder,
        service._index,
        MemoryCatalog(),
    )
    with pytest.raises(InvalidRequest, match="not one this API returned"):
        other.search(TENANT, SearchRequest(query="storm", mode="keyword", k=3, cursor=cursor))


@pytest.mark.parametrize("mode", ["vector", "keyword", "hybrid"])
def test_group_by_document_gives_each_document_once_with_its_best_chunk_first(
    service: SearchService, mode: str
) -> None:
    query = "lighthouse keeper storm"
    chunks = service.search(TENANT, SearchRequest(query=query, mode=mode, k=100))["results"]
    answers = pages(service, query=query, mode=mode, k=4, group_by="document", chunks_per_document=2)
    documents = [r for a in answers for r in a["results"]]
    assert len({d["document_id"] for d in documents}) == len(documents) == 12
    for answer in answers:
        scores = [d["score"] for d in answer["results"]]
        assert scores == sorted(scores, reverse=True)
    best_chunk = {}
    for hit in chunks:
        best_chunk.setdefault(hit["document_id"], hit)
    for document in documents:
        assert 1 <= len(document["chunks"]) <= 2
        scores = [c["score"] for c in document["chunks"]]
        assert scores == sorted(scores, reverse=True)
        if mode != "hybrid":  # (hybrid's fused scores depend on the depth each page is fused at)
            assert document["chunks"][0]["chunk_id"] == best_chunk[document["document_id"]]["chunk_id"]
        assert document["score"] == document["chunks"][0]["score"]
        assert all(c["document_id"] == document["document_id"] for c in document["chunks"])
        assert document["metadata"] == {"n": int(document["document_id"][3:])}


def test_keyword_and_hybrid_results_carry_highlights_of_the_query_words(service: SearchService) -> None:
    for mode in ("keyword", "hybrid"):
        results = service.search(TENANT, SearchRequest(query="Lighthouses, storms!", mode=mode, k=5))[
            "results"
        ]
        for result in results:
            marked = [result["text"][h["start"] : h["end"]].lower() for h in result["highlights"]]
            assert set(marked) <= {"lighthouse", "storm"}
        assert any(r["highlights"] for r in results)
    vector = service.search(TENANT, SearchRequest(query="storm", mode="vector", k=3))["results"]
    assert all("highlights" not in r for r in vector)


def test_stop_words_are_not_highlighted(service: SearchService) -> None:
    [result] = service.search(TENANT, SearchRequest(query="the fog", mode="keyword", k=1))["results"]
    assert [result["text"][h["start"] : h["end"]] for h in result["highlights"]] == ["fog"]


@pytest.mark.parametrize("mode", ["vector", "keyword", "hybrid"])
def test_min_score_leaves_out_lower_scores(service: SearchService, mode: str) -> None:
    every = service.search(TENANT, SearchRequest(query="granite reef", mode=mode, k=20))["results"]
    threshold = every[5]["score"]
    kept = service.search(TENANT, SearchRequest(query="granite reef", mode=mode, k=20, min_score=threshold))
    assert kept["results"] and all(r["score"] >= threshold for r in kept["results"])
    assert [r["chunk_id"] for r in kept["results"]] == [
        r["chunk_id"] for r in every if r["score"] >= threshold
    ]


class ReverseReranker(Reranker):
    """A typed stand-in for Bedrock's Rerank: the candidates in reverse order, scored 1, 0.9, ..."""

    model_id = "test/reverse"

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[str], int]] = []

    def rerank(self, query: str, texts, top_n: int) -> list[tuple[int, float]]:
        self.calls.append((query, list(texts), top_n))
        order = list(reversed(range(len(texts))))[:top_n]
        return [(index, 1.0 - 0.1 * rank) for rank, index in enumerate(order)]


def test_rerank_orders_the_fused_candidates_by_the_model(service: SearchService) -> None:
    reranker = ReverseReranker()
    settings = Settings(hybrid_candidates=8, rerank_candidates=6, search_catalog_check=False)
    reranking = SearchService(settings, service._embedder, service._index, MemoryCatalog(), reranker)
    plain = reranking.search(TENANT, SearchRequest(query="storm harbour", k=6))["results"]
    answer = reranking.search(TENANT, SearchRequest(query="storm harbour", k=3, rerank=True))
    [(query, texts, top_n)] = reranker.calls
    assert query == "storm harbour" and texts == [r["text"] for r in plain] and top_n == 6
    assert [r["chunk_id"] for r in answer["results"]] == [r["chunk_id"] for r in reversed(plain)][:3]
    assert [r["score"] for r in answer["results"]] == pytest.approx([1.0, 0.9, 0.8])
    assert "rerank" in answer["timings_ms"]
    # The next page continues in the model's order, without calling it on other candidates.
    second = reranking.search(
        TENANT, SearchRequest(query="storm harbour", k=3, rerank=True, cursor=answer["next_cursor"])
    )
    assert [r["chunk_id"] for r in second["results"]] == [r["chunk_id"] for r in reversed(plain)][3:]


def test_rerank_by_default_is_the_deployments_choice(service: SearchService) -> None:
    reranker = ReverseReranker()
    settings = Settings(hybrid_candidates=8, rerank_by_default=True, search_catalog_check=False)
    reranking = SearchService(settings, service._embedder, service._index, MemoryCatalog(), reranker)
    reranking.search(TENANT, SearchRequest(query="storm", k=3))
    reranking.search(TENANT, SearchRequest(query="storm", k=3, rerank=False))
    assert len(reranker.calls) == 1


def test_rerank_without_a_reranking_model_is_a_400(service: SearchService) -> None:
    with pytest.raises(InvalidRequest) as raised:
        service.search(TENANT, SearchRequest(query="storm", rerank=True))
    assert raised.value.status == 400 and raised.value.code == "rerank_unavailable"
    assert "no reranking model runs offline" in raised.value.message


@pytest.mark.parametrize(("raw", "expected"), [("true", True), ("1", True), ("false", False), ("no", False)])
def test_rerank_by_default_reads_as_a_boolean(raw: str, expected: bool) -> None:
    settings = Settings.from_env({"QUARRY_RERANK_BY_DEFAULT": raw, "QUARRY_RERANKER": "bedrock"})
    assert settings.rerank_by_default is expected and settings.reranker == "bedrock"


def test_highlights_stem_with_the_c_build_of_snowball() -> None:
    # PyStemmer (requirements.txt) is what keeps highlighting ten results at ~2 ms instead of ~22: the
    # pure-Python stemmer snowballstemmer falls back to when it is missing gives the same stems slowly.
    from chalicelib.highlighting import _stem, _stemmer

    assert type(_stemmer()).__module__ == "Stemmer"
    assert [_stem(word) for word in ("seabirds", "dying", "happily")] == ["seabird", "die", "happili"]
