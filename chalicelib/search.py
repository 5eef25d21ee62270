"""The search service: vector, keyword or hybrid (reciprocal rank fusion) over the vector index.

Fusion happens here, above the index port, so ranking is the same whichever backend serves the
index (embedded SQLite or OpenSearch Serverless).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from chalicelib import metrics
from chalicelib.api.requests import SearchFiltersRequest, SearchRequest
from chalicelib.api.views import hit_view
from chalicelib.config import Settings
from chalicelib.model import EmbeddingModel, Hit, IndexModelMismatch, SearchFilters
from chalicelib.ports import Embedder, VectorIndex
from chalicelib.ranking import reciprocal_rank_fusion


def to_filters(tenant: str, request: SearchFiltersRequest | None) -> SearchFilters:
    """The index filters of a request, scoped to `tenant` (the signed-in caller's, never the body's)."""
    if request is None:
        return SearchFilters(tenant=tenant)

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
    )


class SearchService:
    def __init__(self, settings: Settings, embedder: Embedder, index: VectorIndex):
        self._settings = settings
        self._embedder = embedder
        self._index = index
        self._executor: ThreadPoolExecutor | None = None

    def _pool(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="keyword-search")
        return self._executor

    def search(self, tenant: str, request: SearchRequest) -> dict[str, Any]:
        started = time.perf_counter()
        filters = to_filters(tenant, request.filters)
        timings: dict[str, float] = {}
        if request.mode == "keyword":
            hits = self._keyword(request.query, request.k, filters, timings)
        elif request.mode == "vector":
            hits = self._vector(request.query, request.k, filters, timings)
        else:
            depth = max(request.k, self._settings.hybrid_candidates)
            # The two halves wait on different things (the model and the vector scan; SQLite or
            # OpenSearch for BM25), mostly outside the GIL: side by side, hybrid costs about the slower.
            keyword = self._pool().submit(self._keyword, request.query, depth, filters, timings)
            vector = self._vector(request.query, depth, filters, timings)
            hits = reciprocal_rank_fusion([vector, keyword.result()], k=self._settings.rrf_k, limit=request.k)
        took_ms = round((time.perf_counter() - started) * 1000, 2)
        metrics.record("SearchLatency", took_ms, request.mode, tenant=tenant)
        metrics.record("SearchResults", len(hits), tenant=tenant)
        return {"results": [hit_view(h) for h in hits], "took_ms": took_ms, "timings_ms": timings}

    def _vector(self, query: str, k: int, filters: SearchFilters, timings: dict[str, float]) -> list[Hit]:
        try:
            return self._vector_once(query, k, filters, timings)
        except IndexModelMismatch:
            # A re-embed switched models between the embedding and the search: once more, with the
            # new model (the embedder follows the live index's). A lasting mismatch is raised (503).
            return self._vector_once(query, k, filters, timings)

    def _vector_once(
        self, query: str, k: int, filters: SearchFilters, timings: dict[str, float]
    ) -> list[Hit]:
        started = time.perf_counter()
        model = EmbeddingModel(self._embedder.model_id, self._embedder.dimensions)
        vector = self._embedder.embed_query(query)
        embedded = time.perf_counter()
        hits = self._index.search_vector(vector, k, filters, model)
        timings["embed_query"] = round((embedded - started) * 1000, 2)
        timings["vector"] = round((time.perf_counter() - embedded) * 1000, 2)
        return hits

    def _keyword(self, query: str, k: int, filters: SearchFilters, timings: dict[str, float]) -> list[Hit]:
        started = time.perf_counter()
        hits = self._index.search_keyword(query, k, filters)
        timings["keyword"] = round((time.perf_counter() - started) * 1000, 2)
        return hits
