"""The API's paths: every route, its parameters, request body, responses and which need the ID token.

Each operation names its request and response schemas by $ref; openapi_schemas.py and the pydantic request
models (chalicelib/api/requests.py) supply them. Every error is a 4xx with {"error": {"code", "message"}}.
"""

from __future__ import annotations

from typing import Any

from chalicelib.api.openapi_schemas import ref
from chalicelib.model import Status

JSON = "application/json"


def _json_response(description: str, schema_name: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": ref(schema_name)}}}


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
    return {"required": True, "content": {JSON: {"schema": ref(schema_name)}}}


def _document_id_parameter() -> dict[str, Any]:
    return {
        "name": "document_id",
        "in": "path",
        "required": True,
        "description": "32 hex digits, as POST /uploads returned",
        "schema": {"type": "string"},
    }


def route_paths() -> dict[str, Any]:
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


def signed_in_paths(paths: dict[str, Any]) -> dict[str, Any]:
    """Every operation but the public ones needs the ID token and may answer 401 and 403."""
    from chalicelib.api.auth import PUBLIC_ROUTES

    for path, item in paths.items():
        for method, operation in item.items():
            if method == "parameters" or (method.upper(), path) in PUBLIC_ROUTES:
                continue
            operation["security"] = [{"idToken": []}]
            operation["responses"].update(_errors("401", "403"))
    return paths
