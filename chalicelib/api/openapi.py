"""The API's OpenAPI 3.1 description, served at GET /openapi.json and used by the API fuzz tests.

This module assembles it. Request bodies come from the pydantic models the routes validate with
(chalicelib/api/requests.py), so the description cannot drift from what the API accepts; response shapes
are written out in openapi_schemas.py from the views that build them (chalicelib/api/views.py;
tests/unit/test_views.py holds the two together); the routes are in openapi_paths.py.
Every error is a 4xx with {"error": {"code", "message"}}.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

from pydantic.json_schema import models_json_schema

from chalicelib.api.openapi_paths import route_paths, signed_in_paths
from chalicelib.api.openapi_schemas import REF, response_schemas
from chalicelib.api.requests import AnswerRequest, SearchRequest, UploadRequest
from chalicelib.extraction import Extraction
from chalicelib.filtering import filter_json_schema


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
    # so each request model must be under its own name for the paths (openapi_paths.py) to find it.
    for model in ("UploadRequest", "SearchRequest", "AnswerRequest"):
        assert model in schemas, f"{model} missing from the generated schemas"
    extraction_ref = refs[(Extraction, "serialization")]
    responses = response_schemas(extraction_ref)
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
        "paths": signed_in_paths(route_paths()),
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
