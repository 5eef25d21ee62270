"""The search service: vector, keyword or hybrid (reciprocal rank fusion) over the vector index.

Fusion happens here, above the index port, so ranking is the same whichever backend serves the
index (embedded SQLite or OpenSearch Serverless). Before fusion every hit is checked against the
catalog (chalicelib/search_check.py): a search shows only chunks of documents searchable at the
chunk's version, and asks the index for more when dropping strays leaves k unfilled. What the
response holds of the ranking (the page, grouping, highlights) is chalicelib/results.py's.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from chalicelib import metrics
from chalicelib.api.requests import SearchFiltersRequest, SearchRequest
from chalicelib.config import Settings
from chalicelib.model import EmbeddingModel, FilterExpression, Hit, IndexModelMismatch, SearchFilters
from chalicelib.paging import CursorSigner
from chalicelib.ports import Catalog, Embedder, Reranker, VectorIndex
from chalicelib.ranking import reciprocal_rank_fusion
from chalicelib.reranking import reranked
from chalicelib.results import present
from chalicelib.search_check import CatalogCheck


def cursor_key(settings: Settings) -> bytes:
    """The search cursors' HMAC key: the configured secret, else one derived from the stack's names."""
    if settings.search_cursor_secret:
        return settings.search_cursor_secret.encode()
    return hashlib.sha256(
        f"quarry-search-cursor:{settings.documents_table}:{settings.raw_bucket}".encode()
    ).digest()


def to_filters(
    tenant: str, request: SearchFiltersRequest | None, expression: FilterExpression | None = None
) -> SearchFilters:
    """The index filters of a request (`filters` and the typed `filter`, ANDed), scoped to `tenant`
    (the signed-in caller's, never the body's)."""
    if request is None:
        return SearchFilters(tenant=tenant, expression=expression)

    def as_tuple(value: str | list[str] | None) -> tuple[str, ...]:
        if value is None:
            return ()
        return (value,) if isinstance(value, str) else tuple(value)

    return SearchFilters(
        tenant=tenant,
        content_types=as_tuple(request.content_type),
        key_prefix=request.key_prefix,
        metadata=tuple(sorted(request.metadata.items())),
        document_ids=as_tuple(request.document_id),
        expression=expression,
    )


# When the catalog check drops hits and leaves a ranking short of k while the index had more to give,
# the search asks the index again, CHECK_DEPTH_GROWTH times deeper, at most CHECK_ROUNDS times in all.
# Strays are rare and few: chunks of documents whose delete, replace or failure the index has not caught
# up with (OpenSearch Serverless hides writes for ~60 s, then the delayed sweep purges them), so the
# first round nearly always fills k and costs one catalog read. Three rounds reach 16 x the first depth
# (k=10: 160 chunks), which fills k unless more than 15 in 16 of the best candidates are strays; past
# that the page comes back short rather than a search scanning ever deeper: at most three index queries
# and three catalog reads, each later read only of documents not seen before.
CHECK_ROUNDS = 3
CHECK_DEPTH_GROWTH = 4

Rankings = list[list[Hit]]
# The model a query was embedded with, and its vector.
QueryVector = tuple[EmbeddingModel, list[float]]


class SearchService:
    def __init__(
        self,
        settings: Settings,
        embedder: Embedder,
        index: VectorIndex,
        catalog: Catalog,
        reranker: Reranker | None = None,
    ):
        self._settings = settings
        self._embedder = embedder
        self._index = index
        self._catalog = catalog
        self._reranker = reranker
        self._executor: ThreadPoolExecutor | None = None
        self._cursors = CursorSigner(cursor_key(settings))

    def _pool(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="keyword-search")
        return self._executor

    def search(self, tenant: str, request: SearchRequest) -> dict[str, Any]:
        started = time.perf_counter()
        filters = to_filters(tenant, request.filters, request.filter)
        timings: dict[str, float] = {}
        first_depth = self._first_depth(request)
        ranked = self._ranking(tenant, request, filters, timings)
        rerank = request.rerank
        if rerank is None:
            rerank = self._settings.rerank_by_default and self._reranker is not None
        if rerank:
            candidates = max(request.k, self._settings.rerank_candidates)
            ranked = reranked(ranked, self._reranker, request.query, candidates, first_depth, timings)
            first_depth = candidates
        results, next_cursor = present(tenant, request, ranked, first_depth, self._cursors)
        took_ms = round((time.perf_counter() - started) * 1000, 2)
        metrics.record("SearchLatency", took_ms, request.mode, tenant=tenant)
        metrics.record("SearchResults", len(results), tenant=tenant)
        return {"results": results, "next_cursor": next_cursor, "took_ms": took_ms, "timings_ms": timings}

    def retrieve(self, tenant: str, request: SearchRequest) -> list[Hit]:
        """The hits of the request's first page, for a service that reads the chunks themselves."""
        filters = to_filters(tenant, request.filters, request.filter)
        return self._ranking(tenant, request, filters, {})(self._first_depth(request))[: request.k]

    def _first_depth(self, request: SearchRequest) -> int:
        """How deep the first page's ranking goes: k, but hybrid fuses at least hybrid_candidates from
        each side (the page then takes k of them)."""
        return request.k if request.mode != "hybrid" else max(request.k, self._settings.hybrid_candidates)

    def _ranking(
        self, tenant: str, request: SearchRequest, filters: SearchFilters, timings: dict[str, float]
    ) -> Callable[[int], list[Hit]]:
        """The request's checked (and in hybrid mode fused) ranking as a function of its depth: paging
        asks for deeper ones. The query is embedded once whatever the depths."""
        embedded: list[QueryVector] = []

        def query_vector(again: bool = False) -> QueryVector:
            """The query's vector, embedded once per search (again only after a model switch)."""
            if again or not embedded:
                embedded[:] = [self._embed(request.query, timings)]
            return embedded[0]

        def fetch(depth: int) -> Rankings:
            if request.mode == "keyword":
                return [self._keyword(request.query, depth, filters, timings)]
            if request.mode == "vector":
                return [self._vector(query_vector, depth, filters, timings)]
            # The two halves wait on different things (the model and the vector scan; SQLite or
            # OpenSearch for BM25), mostly outside the GIL: side by side, hybrid costs about the slower.
            keyword = self._pool().submit(self._keyword, request.query, depth, filters, timings)
            vector = self._vector(query_vector, depth, filters, timings)
            return [vector, keyword.result()]

        def ranked(depth: int) -> list[Hit]:
            rankings = self._checked(tenant, fetch, depth, request.k, timings)
            if request.mode == "hybrid":
                return reciprocal_rank_fusion(rankings, k=self._settings.rrf_k, limit=depth)
            return rankings[0][:depth]

        return ranked

    def _checked(
        self, tenant: str, fetch: Callable[[int], Rankings], depth: int, k: int, timings: dict[str, float]
    ) -> Rankings:
        """The rankings `fetch` returns at `depth`, with only the hits the catalog vouches for; deeper
        (see CHECK_ROUNDS) while a ranking is left with fewer than `k` and the index had more."""
        if not self._settings.search_catalog_check:
            return fetch(depth)
        check = CatalogCheck(self._catalog, tenant)
        for _ in range(CHECK_ROUNDS):
            fetched = fetch(depth)
            checking = time.perf_counter()
            kept = check.keep(fetched)
            _add(timings, "catalog_check", checking)
            if not any(len(ours) < k and len(raw) >= depth for ours, raw in zip(kept, fetched, strict=True)):
                break
            depth *= CHECK_DEPTH_GROWTH
        return kept

    def _embed(self, query: str, timings: dict[str, float]) -> QueryVector:
        started = time.perf_counter()
        model = EmbeddingModel(self._embedder.model_id, self._embedder.dimensions)
        vector = self._embedder.embed_query(query)
        _add(timings, "embed_query", started)
        return model, vector

    def _vector(
        self,
        query_vector: Callable[[bool], QueryVector],
        k: int,
        filters: SearchFilters,
        timings: dict[str, float],
    ) -> list[Hit]:
        try:
            return self._vector_once(*query_vector(False), k, filters, timings)
        except IndexModelMismatch:
            # A re-embed switched models between the embedding and the search: once more, with the
            # new model (the embedder follows the live index's). A lasting mismatch is raised (503).
            return self._vector_once(*query_vector(True), k, filters, timings)

    def _vector_once(
        self,
        model: EmbeddingModel,
        vector: list[float],
        k: int,
        filters: SearchFilters,
        timings: dict[str, float],
    ) -> list[Hit]:
        started = time.perf_counter()
        hits = self._index.search_vector(vector, k, filters, model)
        _add(timings, "vector", started)
        return hits

    def _keyword(self, query: str, k: int, filters: SearchFilters, timings: dict[str, float]) -> list[Hit]:
        started = time.perf_counter()
        hits = self._index.search_keyword(query, k, filters)
        _add(timings, "keyword", started)
        return hits


def _add(timings: dict[str, float], part: str, started: float) -> None:
    """Add the ms since `started` to `part`: a search that goes deeper pays each part more than once."""
    timings[part] = round(timings.get(part, 0.0) + (time.perf_counter() - started) * 1000, 2)
