"""The chunk index's shape in OpenSearch: its mapping, the stored document of a chunk and the hit read
back from one, the filter clauses, and the rules that turn raw hits into the port's results."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chalicelib.adapters.opensearch.expression import (
    ATTRIBUTES_FIELD,
    ATTRIBUTES_MAPPING,
    attribute_entries,
    expression_clause,
)
from chalicelib.model import Chunk, EmbeddingModel, Hit, IndexedChunk, SearchFilters

VECTOR_FIELD = "vector"
# The chunk fields naming the model that made its vector; an index made before them gains them.
MODEL_FIELDS = {"model_id": {"type": "keyword"}, "dimensions": {"type": "integer", "index": False}}


def index_body(
    dimensions: int, model: EmbeddingModel | None = None, alias: str | None = None
) -> dict[str, Any]:
    """Settings and mapping of the chunk index. `dynamic: strict` keeps stray fields (and AOSS's
    per-index field limit) out: a document with an unmapped field is rejected, not silently mapped.
    The mapping's `_meta` records the embedding model the index is for; `alias`, when given, is
    added in the same request, so the index is never reachable under its alias without its mapping."""
    body = _index_body(dimensions)
    if model is not None:
        body["mappings"]["_meta"] = {"embedding_model": model_meta(model)}
    if alias is not None:
        body["aliases"] = {alias: {}}
    return body


def model_meta(model: EmbeddingModel) -> dict[str, Any]:
    return {"model_id": model.model_id, "dimensions": model.dimensions}


def recorded_model(mapping: dict[str, Any]) -> EmbeddingModel | None:
    """The model an index mapping's `_meta` records; None for an index made before models were."""
    meta = (mapping.get("_meta") or {}).get("embedding_model")
    if not isinstance(meta, dict):
        return None
    return EmbeddingModel(str(meta["model_id"]), int(meta["dimensions"]))


def _index_body(dimensions: int) -> dict[str, Any]:
    keyword = {"type": "keyword"}
    return {
        "settings": {"index": {"knn": True}},
        "mappings": {
            "dynamic": "strict",
            "properties": {
                VECTOR_FIELD: {
                    "type": "knn_vector",
                    "dimension": dimensions,
                    "method": {
                        "name": "hnsw",
                        "engine": "faiss",
                        "space_type": "innerproduct",
                        "parameters": {"m": 16, "ef_construction": 128},
                    },
                },
                "text": {"type": "text", "analyzer": "english"},
                "chunk_id": keyword,
                "document_id": keyword,
                # Every search has a term filter on it: one tenant never sees another's chunks.
                "tenant": keyword,
                "version": keyword,
                "generation": keyword,
                # Unique per stored copy: the tie-breaker search_after needs, since _id cannot be sorted on.
                "entry_id": keyword,
                "key": keyword,
                "content_type": keyword,
                # "key=value" strings: one term filter per metadata pair, whatever keys users choose,
                # without a mapped field per key.
                "metadata_pairs": keyword,
                "metadata": {"type": "object", "enabled": False},
                "ordinal": {"type": "integer"},
                "page": {"type": "integer"},
                "start": {"type": "integer", "index": False},
                "end": {"type": "integer", "index": False},
                "indexed_at": {"type": "date"},
                **MODEL_FIELDS,
                **TYPED_FILTER_FIELDS,
            },
        },
    }


# The fields typed filters read (expression.py); ensure_index adds them to an index made before them.
TYPED_FILTER_FIELDS = {ATTRIBUTES_FIELD: ATTRIBUTES_MAPPING, "created_at": {"type": "keyword"}}


def metadata_pair(key: str, value: str) -> str:
    """'key=value', with '\\' and '=' escaped in the key so that ('a=b', 'c') and ('a', 'b=c') differ."""
    escaped = key.replace("\\", "\\\\").replace("=", "\\=")
    return f"{escaped}={value}"


def filter_clauses(filters: SearchFilters) -> list[dict[str, Any]]:
    """The filter clauses of a search, the tenant's always first: never an empty list."""
    clauses: list[dict[str, Any]] = [{"term": {"tenant": filters.tenant}}]
    if filters.content_types:
        clauses.append({"terms": {"content_type": list(filters.content_types)}})
    if filters.key_prefix:
        clauses.append({"prefix": {"key": filters.key_prefix}})
    for key, value in filters.metadata:
        clauses.append({"term": {"metadata_pairs": metadata_pair(key, value)}})
    if filters.document_ids:
        clauses.append({"terms": {"document_id": list(filters.document_ids)}})
    if filters.expression is not None:
        clauses.append(expression_clause(filters.expression))
    return clauses


def chunk_source(item: IndexedChunk, version: str, generation: str, indexed_at: str) -> dict[str, Any]:
    """The stored document of one chunk (entry_id is added per send, see client.bulk_ndjson)."""
    chunk = item.chunk
    return {
        "chunk_id": chunk.chunk_id,
        "document_id": chunk.document_id,
        "tenant": item.tenant,
        "version": version,
        "generation": generation,
        "indexed_at": indexed_at,
        "key": item.key,
        "content_type": item.content_type,
        "metadata": dict(item.metadata),
        # The old `filters.metadata` matches string values only (a typed value needs `filter`).
        "metadata_pairs": [
            metadata_pair(k, v) for k, v in sorted(item.metadata.items()) if isinstance(v, str)
        ],
        ATTRIBUTES_FIELD: attribute_entries(item.metadata),
        "created_at": item.created_at,
        "ordinal": chunk.ordinal,
        "page": chunk.page,
        "start": chunk.start,
        "end": chunk.end,
        "text": chunk.text,
        VECTOR_FIELD: [float(x) for x in item.vector],
        "model_id": item.model_id,
        "dimensions": item.dimensions,
    }


def chunk_from_source(source: dict[str, Any], model: EmbeddingModel) -> IndexedChunk:
    """The IndexedChunk a stored chunk was written from, without its vector (a re-embed makes a new one)."""
    return IndexedChunk(
        chunk=Chunk(
            chunk_id=source["chunk_id"],
            document_id=source["document_id"],
            ordinal=source["ordinal"],
            text=source["text"],
            page=source.get("page"),
            start=source.get("start") or 0,
            end=source.get("end") or 0,
        ),
        vector=[],
        version=source["version"],
        key=source["key"],
        content_type=source["content_type"],
        metadata=dict(source.get("metadata") or {}),
        tenant=source["tenant"],
        created_at=source.get("created_at") or "",
        model_id=model.model_id,
        dimensions=model.dimensions,
    )


def hit_from_source(source: dict[str, Any], score: float) -> Hit:
    return Hit(
        chunk_id=source["chunk_id"],
        document_id=source["document_id"],
        score=score,
        text=source["text"],
        key=source["key"],
        page=source.get("page"),
        content_type=source["content_type"],
        metadata=dict(source.get("metadata") or {}),
        version=source.get("version"),
    )


def cosine_from_knn_score(score: float) -> float:
    """Undo the faiss innerproduct score: 1 + dot when dot >= 0, else 1 / (1 - dot)."""
    return score - 1.0 if score >= 1.0 else 1.0 - 1.0 / score


def newest_generation_only(raw_hits: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Hits in rank order, keeping per document only its newest generation among them, and one hit
    per chunk (a bulk request retried after a lost answer can store a chunk twice)."""
    newest: dict[str, str] = {}
    for raw in raw_hits:
        source = raw["_source"]
        document_id = source["document_id"]
        newest[document_id] = max(newest.get(document_id, ""), source["generation"])
    kept: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for raw in raw_hits:
        source = raw["_source"]
        chunk = (source["document_id"], source["chunk_id"])
        if source["generation"] == newest[source["document_id"]] and chunk not in seen:
            seen.add(chunk)
            kept.append(raw)
    return kept
