"""The JSON shapes Quarry hands out, built from the model's dataclasses: the API's responses, which
openapi.py beside it describes for clients (tests/unit/test_views.py and the API fuzz test hold the
two together), and the processed-output file each indexed document gets.

The services call these views themselves and return plain dicts, rather than returning model objects
for the routes and the worker to render: app.py's routes stay one-line doors, and the processed JSON
is written inside the pipeline, not at its edge. That is why this module is standard library over
chalicelib.model only (no pydantic, no Chalice, nothing of api/http.py): importing it from a service
costs nothing, and `import app` stays lazy because bootstrap imports the services on first use.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from chalicelib.model import Chunk, DocumentRecord, ExtractionResult, Hit, StoredObject
from chalicelib.parsed import ParsedDocument


def document_view(record: DocumentRecord, now_s: float | None = None) -> dict[str, Any]:
    """A document as GET /documents/{id} and GET /documents show it (OpenAPI: Document), at `now_s`
    (default: now), when a PENDING record past its expiry reads as EXPIRED. The source's bucket is
    left out: its name carries the account id, and the key is all a client needs."""
    shown = record.status_at(time.time() if now_s is None else now_s)
    return {
        "document_id": record.document_id,
        "status": shown.value,
        "source": {
            "key": record.key,
            "etag": record.etag,
            "size": record.size,
            "content_type": record.content_type,
        },
        "metadata": record.metadata,
        "chunk_count": record.chunk_count,
        "extraction": record.extraction,
        "error": (
            {"code": record.error_code, "message": record.error_message} if record.error_code else None
        ),
        "timings_ms": record.timings_ms,
        "usage": record.usage,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
    }


def extraction_view(extraction: ExtractionResult) -> dict[str, Any]:
    """A document's extraction as the catalog keeps it and the API shows it (OpenAPI: ExtractionView):
    every field of the result, so the two cannot drift apart."""
    return dataclasses.asdict(extraction)


def hit_view(hit: Hit) -> dict[str, Any]:
    """One search result (OpenAPI: an item of SearchResponse.results)."""
    source: dict[str, Any] = {"key": hit.key, "content_type": hit.content_type}
    if hit.page is not None:
        source["page"] = hit.page
    return {
        "document_id": hit.document_id,
        "chunk_id": hit.chunk_id,
        "score": hit.score,
        "text": hit.text,
        "source": source,
        "metadata": hit.metadata,
    }


def processed_document(
    record: DocumentRecord,
    obj: StoredObject,
    parsed: ParsedDocument,
    chunks: list[Chunk],
    embedding_model: str,
) -> dict[str, Any]:
    """The JSON written to the processed-output bucket: everything ingestion learned, in one file."""
    return {
        "document_id": record.document_id,
        "source": {
            "bucket": obj.bucket,
            "key": obj.key,
            "etag": obj.etag,
            "size": obj.size,
            "content_type": parsed.content_type,
        },
        "metadata": record.metadata,
        "title": parsed.title,
        "text": parsed.text,
        "pages": len(parsed.pages),
        "chunks": [
            {
                "chunk_id": c.chunk_id,
                "ordinal": c.ordinal,
                "page": c.page,
                "start": c.start,
                "end": c.end,
                "text": c.text,
            }
            for c in chunks
        ],
        "extraction": record.extraction,
        "embedding_model": embedding_model,
        "timings_ms": record.timings_ms,
    }
