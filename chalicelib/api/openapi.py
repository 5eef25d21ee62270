"""The API's OpenAPI 3.1 description, served at GET /openapi.json and used by the API fuzz tests.

Request bodies come from the pydantic models the routes validate with (chalicelib/api/requests.py), so the
description cannot drift from what the API accepts; response shapes are written out here from the
views that build them (chalicelib/api/views.py; tests/unit/test_views.py holds the two together).
Every error is a 4xx with {"error": {"code", "message"}}.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

from pydantic.json_schema import models_json_schema

from chalicelib.api.requests import AnswerRequest, SearchRequest, UploadRequest
from chalicelib.extraction import Extraction
from chalicelib.filtering import filter_json_schema
from chalicelib.model import Status

REF = "#/components/schemas/{model}"
JSON = "application/json"


def _ref(name: str) -> dict[str, Any]:
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


def _response_schemas(extraction_ref: dict[str, Any]) -> dict[str, dict[str, Any]]:
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
                "extraction": _nullable(_ref("ExtractionView")),
                "error": _nullable(
                    _object({"code": {"type": "string"}, "message": {"type": ["string", "null"]}})
                ),
                "timings_ms": _NUMBER_MAP,
                "usage": _nullable(_ref("DocumentUsage")),
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
                "documents": {"type": "array", "items": _ref("Document")},
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
                "chunks": {"type": "array", "minItems": 1, "items": _ref("ChunkResult")},
            }
        ),
        "SearchResponse": _object(
            {
                "results": {
                    "type": "array",
                    "items": {"anyOf": [_ref("ChunkResult"), _ref("DocumentResult")]},
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


def _json_response(description: str, schema_name: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": _ref(schema_name)}}}


def _errors(*statuses: str) -> dict[str, Any]:
    reasons = {
        "400": "The request is invalid: the error code and message say how",
        "404": "No such document",
        "409": "The document cannot be reindexed: deleted (document_deleted) or its source object is gone "
        "(source_missing)",
        "415": "The request body is not application/json",
        "401": "No token, or one that is not valid (expired, another issuer or audience, bad signature)",
        "403": "The signed-in user belongs to no tenant",
    }
    return {status: _json_response(reasons[status], "Error") for status in statuses}


def _json_body(schema_name: str) -> dict[str, Any]:
    return {"required": True, "content": {JSON: {"schema": _ref(schema_name)}}}


def _document_id_parameter() -> dict[str, Any]:
    return {
        "name": "document_id",
        "in": "path",
        "required": True,
        "description": "32 hex digits, as POST /uploads returned",
        "schema": {"type": "string"},
    }


def _paths() -> dict[str, Any]:
    return {
        "/health": {
            "get": {
                "operationId": "health",
                "summary": "Liveness",
                "responses": {"200": _json_response("The API is up", "Health")},
            }
        },
        "/uploads": {
            "post": {
                "operationId": "createUpload",
                "summary": (
                    "A pre-signed POST form to send a file's bytes with; the document starts PENDING "
                    "(EXPIRED if they never arrive). A file type Quarry cannot parse is refused (400)"
                ),
                "requestBody": _json_body("UploadRequest"),
                "responses": {
                    "201": _json_response("The upload form and the new document's id", "UploadResponse"),
                    **_errors("400", "415"),
                },
            }
        },
        "/documents": {
            "get": {
                "operationId": "listDocuments",
                "summary": "A page of documents, optionally only those with one status",
                "parameters": [
                    {
                        "name": "status",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "string", "enum": [s.value for s in Status]},
                    },
                    {
                        "name": "limit",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
                    },
                    {
                        "name": "cursor",
                        "in": "query",
                        "required": False,
                        "description": "next_cursor of the previous page",
                        "schema": {"type": "string"},
                    },
                ],
                "responses": {"200": _json_response("A page of documents", "DocumentList"), **_errors("400")},
            }
        },
        "/documents/{document_id}": {
            "parameters": [_document_id_parameter()],
            "get": {
                "operationId": "getDocument",
                "summary": "A document's status, source, extraction and error",
                "responses": {"200": _json_response("The document", "Document"), **_errors("404")},
            },
            "delete": {
                "operationId": "deleteDocument",
                "summary": "Remove its chunks, processed output and source; keep a DELETED tombstone",
                "responses": {"200": _json_response("What was removed", "DeleteResponse"), **_errors("404")},
            },
        },
        "/documents/{document_id}/reindex": {
            "parameters": [_document_id_parameter()],
            "post": {
                "operationId": "reindexDocument",
                "summary": (
                    "Ingest the document again from its source object, through the ingest queue and the "
                    "worker, even a version already INDEXED"
                ),
                "responses": {
                    "202": _json_response("Queued; the document's status now", "ReindexResponse"),
                    **_errors("404", "409"),
                },
            },
        },
        "/search": {
            "post": {
                "operationId": "search",
                "summary": "Hybrid (default), vector or keyword search over indexed chunks",
                "requestBody": _json_body("SearchRequest"),
                "responses": {
                    "200": _json_response("The best chunks, best first", "SearchResponse"),
                    **_errors("400", "415"),
                },
            }
        },
        "/usage": {
            "get": {
                "operationId": "usage",
                "summary": (
                    "The caller's tenant's documents by status, tokens per model and estimated cost "
                    "(total and per 1,000 documents) from `since` to today (UTC days)"
                ),
                "parameters": [
                    {
                        "name": "since",
                        "in": "query",
                        "required": False,
                        "description": "First day, YYYY-MM-DD (UTC): default 29 days ago, at most 365",
                        "schema": {"type": "string", "format": "date"},
                    }
                ],
                "responses": {"200": _json_response("The usage report", "UsageReport"), **_errors("400")},
            }
        },
        "/answer": {
            "post": {
                "operationId": "answer",
                "summary": "An answer from the caller's documents alone, citing the chunks it rests on",
                "requestBody": _json_body("AnswerRequest"),
                "responses": {
                    "200": _json_response(
                        'The answer and its citations, or "Not found in the documents."', "AnswerResponse"
                    ),
                    **_errors("400", "415"),
                },
            }
        },
        "/auth/config": {
            "get": {
                "operationId": "signInConfig",
                "summary": "What a client needs to sign in: issuer, app client id, Cognito endpoint",
                "responses": {"200": _json_response("How to sign in", "SignInConfig")},
            }
        },
        "/openapi.json": {
            "get": {
                "operationId": "openapi",
                "summary": "This description",
                "responses": {"200": _json_response("The OpenAPI description", "OpenAPI")},
            }
        },
    }


def _signed_in_paths(paths: dict[str, Any]) -> dict[str, Any]:
    """Every operation but the public ones needs the ID token and may answer 401 and 403."""
    from chalicelib.api.auth import PUBLIC_ROUTES

    for path, item in paths.items():
        for method, operation in item.items():
            if method == "parameters" or (method.upper(), path) in PUBLIC_ROUTES:
                continue
            operation["security"] = [{"idToken": []}]
            operation["responses"].update(_errors("401", "403"))
    return paths


@functools.cache
def _spec() -> dict[str, Any]:
    refs, top = models_json_schema(
        [
            (UploadRequest, "validation"),
            (SearchRequest, "validation"),
            (AnswerRequest, "validation"),
            (Extraction, "serialization"),
        ],
        ref_template=REF,
    )
    schemas = dict(top.get("$defs", {}))
    schemas["Filter"] = filter_json_schema(REF.format(model="Filter"))
    # models_json_schema names a model used in both modes Name-Input/Name-Output; ours are used once,
    # so each request model must be under its own name for the paths above to find it.
    for model in ("UploadRequest", "SearchRequest", "AnswerRequest"):
        assert model in schemas, f"{model} missing from the generated schemas"
    extraction_ref = refs[(Extraction, "serialization")]
    responses = _response_schemas(extraction_ref)
    clash = schemas.keys() & responses.keys()
    assert not clash, f"response schema names clash with model names: {clash}"
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Quarry",
            "version": "1.0.0",
            "description": "Document ingestion and semantic search. Every error is a 4xx with "
            '{"error": {"code": "...", "message": "..."}}.',
        },
        "paths": _signed_in_paths(_paths()),
        "components": {
            "schemas": {**schemas, **responses},
            "securitySchemes": {
                "idToken": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT (Cognito ID token)"}
            },
        },
    }


def openapi_spec() -> dict[str, Any]:
    """The OpenAPI 3.1 description of every route (a fresh copy: callers may change it)."""
    return copy.deepcopy(_spec())
