"""The request bodies the OpenSearch index sends: searches, lookups, pages and generation labels.

Pure functions of their arguments (no client, no I/O), so each body can be read and tested on its own;
index.py sends them. Why they look as they do (no _id of ours, no scroll, no refresh on AOSS) is in
index.py's docstring.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from chalicelib.adapters.opensearch.mapping import VECTOR_FIELD, filter_clauses
from chalicelib.model import SearchFilters

# A search returns at most this many candidates, whatever k and the over-fetch factor ask for.
MAX_CANDIDATES = 1000
# How far back changed_since looks before its marker: AOSS makes a write searchable about a minute
# after it, so a search at the marker may not have seen the writes of the minute before it.
VISIBILITY_LAG_S = 120


def candidates(k: int, overfetch: int) -> int:
    # Over-fetch: hits of stale generations and duplicates are dropped after the search.
    return max(1, min(MAX_CANDIDATES, k * overfetch))


def vector_search_body(vector: Sequence[float], size: int, filters: SearchFilters) -> dict[str, Any]:
    knn: dict[str, Any] = {"vector": [float(x) for x in vector], "k": size}
    # Inside the knn clause, faiss filters while it searches and still returns k results;
    # a post-filter would drop hits after the search and return fewer (or another tenant's).
    knn["filter"] = {"bool": {"filter": filter_clauses(filters)}}
    return {"size": size, "_source": {"excludes": [VECTOR_FIELD]}, "query": {"knn": {VECTOR_FIELD: knn}}}


def keyword_search_body(query: str, size: int, filters: SearchFilters) -> dict[str, Any]:
    return {
        "size": size,
        "_source": {"excludes": [VECTOR_FIELD]},
        "query": {
            "bool": {
                "must": [{"match": {"text": {"query": query, "operator": "or"}}}],
                "filter": filter_clauses(filters),
            }
        },
    }


def entry_ids_query(
    document_id: str, exclude_generation: str | None = None, exclude_version: str | None = None
) -> dict[str, Any]:
    """The document's stored chunks: all, or all outside one generation or one version."""
    query: dict[str, Any] = {"bool": {"filter": [{"term": {"document_id": document_id}}]}}
    if exclude_generation is not None:
        query["bool"]["must_not"] = [{"term": {"generation": exclude_generation}}]
    elif exclude_version is not None:
        query["bool"]["must_not"] = [{"term": {"version": exclude_version}}]
    return query


def paged_body(query: dict[str, Any], source: Any, page_size: int) -> dict[str, Any]:
    """The first page of every chunk matching `query`, sorted by entry_id for search_after paging."""
    return {
        "size": page_size,
        "query": query,
        "sort": [{"entry_id": "asc"}],
        "_source": source,
        "track_total_hits": False,
    }


def newest_generation_body(document_id: str, version: str | None = None) -> dict[str, Any]:
    match: list[dict[str, Any]] = [{"term": {"document_id": document_id}}]
    if version is not None:
        match.append({"term": {"version": version}})
    return {
        "size": 1,
        "query": {"bool": {"filter": match}},
        "sort": [{"generation": "desc"}],
        "_source": ["generation"],
    }


def documents_query(document_ids: Sequence[str]) -> dict[str, Any]:
    return {"bool": {"filter": [{"terms": {"document_id": list(document_ids)}}]}}


def written_since_query(marker: str) -> dict[str, Any]:
    """Chunks indexed at or after `marker` (an ISO instant) less VISIBILITY_LAG_S."""
    since = datetime.fromisoformat(marker.replace("Z", "+00:00")).timestamp() - VISIBILITY_LAG_S
    start = datetime.fromtimestamp(since, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return {"range": {"indexed_at": {"gte": start}}}


def new_generation(now_ns: int) -> tuple[str, str]:
    """A generation label that sorts by write time (zero-padded nanoseconds, then a random suffix
    so two writers in the same nanosecond differ), and the same instant as an ISO date."""
    moment = datetime.fromtimestamp(now_ns / 1e9, tz=UTC)
    indexed_at = moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    return f"{now_ns:020d}-{uuid.uuid4().hex[:8]}", indexed_at
