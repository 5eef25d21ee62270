"""The component schemas of the API's responses: the shapes the views build, written out by hand.

The request schemas are not here: openapi.py generates them from the pydantic models the routes validate
with. These are written from the views that build each response (chalicelib/api/views.py;
tests/unit/test_views.py holds the two together), plus the small helpers that write a schema and a $ref.
"""

from __future__ import annotations

from typing import Any

from chalicelib.model import Status

REF = "#/components/schemas/{model}"


def ref(name: str) -> dict[str, Any]:
    return {"$ref": REF.format(model=name)}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


def _object(properties: dict[str, Any], optional: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": [name for name in properties if name not in optional],
        "additionalProperties": False,
    }


_STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
# Upload metadata: strings, numbers, booleans and lists of strings.
_METADATA_MAP = {
    "type": "object",
    "additionalProperties": {
        "anyOf": [
            {"type": "string"},
            {"type": "number"},
            {"type": "boolean"},
            {"type": "array", "items": {"type": "string"}},
        ]
    },
}
_NUMBER_MAP = {"type": "object", "additionalProperties": {"type": "number"}}
_DOCUMENT_ID = {"type": "string", "pattern": "^[0-9a-f]{32}$"}
_COUNT_MAP = {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0}}
_USAGE_AMOUNTS = {
    # Per model id: tokens read and written (local models report the tokens of their own tokenizer).
    "tokens": {
        "type": "object",
        "additionalProperties": _object(
            {"input": {"type": "integer", "minimum": 0}, "output": {"type": "integer", "minimum": 0}}
        ),
    },
    "provider_calls": _COUNT_MAP,
    "source_bytes": {"type": "integer", "minimum": 0},
    "chunks": {"type": "integer", "minimum": 0},
}


def response_schemas(extraction_ref: dict[str, Any]) -> dict[str, dict[str, Any]]:
    extraction_view = _object(
        {
            # The extractor's facts; {} when extraction failed (then `error` says why).
            "data": {"anyOf": [extraction_ref, {"type": "object", "maxProperties": 0}]},
            "model": {"type": "string"},
            "input_tokens": {"type": "integer", "minimum": 0},
            "output_tokens": {"type": "integer", "minimum": 0},
            "latency_ms": {"type": "number", "minimum": 0},
            "error": {"type": ["string", "null"]},
        }
    )
    return {
        "Error": _object(
            {"error": _object({"code": {"type": "string", "minLength": 1}, "message": {"type": "string"}})}
        ),
        "Health": _object({"status": {"const": "ok"}}),
        "SignInConfig": _object(
            {
                "issuer": {"type": ["string", "null"]},
                "client_id": {"type": ["string", "null"]},
                "region": {"type": "string"},
                "cognito_endpoint": {"type": ["string", "null"]},
                "token": {"const": "id"},
                "header": {"type": "string"},
            }
        ),
        "UploadResponse": _object(
            {
                "document_id": _DOCUMENT_ID,
                "key": {"type": "string"},
                # A pre-signed POST form: send `fields`, then the file (form field "file"), as
                # multipart/form-data to `url`. Its policy pins the key, Content-Type and size.
                "upload": _object(
                    {"method": {"const": "POST"}, "url": {"type": "string"}, "fields": _STRING_MAP}
                ),
                "expires_in": {"type": "integer", "minimum": 1},
            }
        ),
        "ExtractionView": extraction_view,
        "Document": _object(
            {
                "document_id": _DOCUMENT_ID,
                "status": {"type": "string", "enum": [s.value for s in Status]},
                "source": _object(
                    {
                        "key": {"type": "string"},
                        "etag": {"type": ["string", "null"]},
                        "size": {"type": ["integer", "null"], "minimum": 0},
                        "content_type": {"type": ["string", "null"]},
                    }
                ),
                "metadata": _METADATA_MAP,
                "chunk_count": {"type": "integer", "minimum": 0},
                "extraction": _nullable(ref("ExtractionView")),
                "error": _nullable(
                    _object({"code": {"type": "string"}, "message": {"type": ["string", "null"]}})
                ),
                "timings_ms": _NUMBER_MAP,
                "usage": _nullable(ref("DocumentUsage")),
                "created_at": {"type": "string"},
                "updated_at": {"type": "string"},
            }
        ),
        # What ingesting a document used (the attempt that ended it) and its estimated cost.
        "DocumentUsage": _object(
            {
                **_USAGE_AMOUNTS,
                "provider_retries": _COUNT_MAP,
                "provider_throttles": _COUNT_MAP,
                "estimated_cost_usd": {"type": "number", "minimum": 0},
            }
        ),
        "UsageReport": _object(
            {
                "tenant": {"type": "string"},
                "since": {"type": "string", "format": "date"},
                "until": {"type": "string", "format": "date"},
                "documents": _COUNT_MAP,
                **_USAGE_AMOUNTS,
                "estimated_cost_usd": {"type": "number", "minimum": 0},
                "cost_per_1000_documents_usd": {"type": ["number", "null"], "minimum": 0},
            }
        ),
        "DocumentList": _object(
            {
                "documents": {"type": "array", "items": ref("Document")},
                "next_cursor": {"type": ["string", "null"]},
            }
        ),
        "DeleteResponse": _object(
            {
                "document_id": _DOCUMENT_ID,
                "status": {"const": Status.DELETED.value},
                "chunks_removed": {"type": "integer", "minimum": 0},
            }
        ),
        "ReindexResponse": _object(
            {
                "document_id": _DOCUMENT_ID,
                # FAILED documents read PENDING until a worker takes them; the others keep theirs.
                "status": {"enum": [s.value for s in (Status.PENDING, Status.PROCESSING, Status.INDEXED)]},
            }
        ),
        "ChunkResult": _object(
            {
                "document_id": _DOCUMENT_ID,
                "chunk_id": {"type": "string"},
                "score": {"type": "number"},
                "text": {"type": "string"},
                "source": _object(
                    {
                        "key": {"type": "string"},
                        "content_type": {"type": "string"},
                        "page": {"type": "integer"},
                    },
                    optional=("page",),
                ),
                "metadata": _METADATA_MAP,
                # Keyword and hybrid modes: where the query's words are in `text` (text[start:end]).
                "highlights": {
                    "type": "array",
                    "items": _object(
                        {"start": {"type": "integer", "minimum": 0}, "end": {"type": "integer", "minimum": 0}}
                    ),
                },
            },
            optional=("highlights",),
        ),
        # group_by "document": a document, ranked by its best chunk, which comes first in `chunks`.
        "DocumentResult": _object(
            {
                "document_id": _DOCUMENT_ID,
                "score": {"type": "number"},
                "source": _object({"key": {"type": "string"}, "content_type": {"type": "string"}}),
                "metadata": _METADATA_MAP,
                "chunks": {"type": "array", "minItems": 1, "items": ref("ChunkResult")},
            }
        ),
        "SearchResponse": _object(
            {
                "results": {
                    "type": "array",
                    "items": {"anyOf": [ref("ChunkResult"), ref("DocumentResult")]},
                },
                # Send it back as `cursor`, with the same request otherwise, for the next page.
                "next_cursor": {"type": ["string", "null"]},
                "took_ms": {"type": "number", "minimum": 0},
                "timings_ms": _NUMBER_MAP,
            }
        ),
        "AnswerResponse": _object(
            {
                "answer": {"type": "string"},
                # false: the retrieved chunks did not hold the answer ("Not found in the documents.").
                "found": {"type": "boolean"},
                "citations": {
                    "type": "array",
                    "items": _object(
                        {
                            "chunk_id": {"type": "string"},
                            "document_id": _DOCUMENT_ID,
                            "source": _object(
                                {"key": {"type": "string"}, "page": {"type": ["integer", "null"]}}
                            ),
                            "text": {"type": "string"},
                        }
                    ),
                },
                "model": {"type": ["string", "null"]},
                "usage": _object(
                    {
                        "input_tokens": {"type": "integer", "minimum": 0},
                        "output_tokens": {"type": "integer", "minimum": 0},
                    }
                ),
                "took_ms": {"type": "number", "minimum": 0},
            }
        ),
        "OpenAPI": {"type": "object", "required": ["openapi", "info", "paths"]},
    }
