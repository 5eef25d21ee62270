"""HTTP edge of the API: JSON bodies in, domain errors out as {"error": {"code", "message"}} 4xx.

Services raise domain exceptions; this module is the one place that maps them to status codes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from chalice import Response

from chalicelib.model import InvalidRequest, NotFound

if TYPE_CHECKING:
    from chalicelib.api.requests import SearchRequest, UploadRequest


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    return Response(body={"error": {"code": code, "message": message}}, status_code=status, headers=headers)


def created(body: dict[str, Any]) -> Response:
    return Response(body=body, status_code=201)


def parse_upload(raw: bytes | None) -> UploadRequest:
    from chalicelib.api.requests import UploadRequest

    return _parse_body(raw, UploadRequest)


def parse_search(raw: bytes | None) -> SearchRequest:
    from chalicelib.api.requests import SearchRequest

    return _parse_body(raw, SearchRequest)


def _parse_body(raw: bytes | None, model: Any) -> Any:
    """The request body validated against a pydantic `model`; InvalidRequest with a readable reason if
    not. pydantic and the schemas are imported on the first request, not at cold start."""
    from pydantic import ValidationError

    if not raw:
        raise InvalidRequest("invalid_body", "request body must be a JSON object")
    try:
        payload = json.loads(raw)
    except (ValueError, RecursionError) as error:
        raise InvalidRequest("invalid_json", f"request body is not valid JSON: {error}") from error
    if not isinstance(payload, dict):
        raise InvalidRequest("invalid_body", "request body must be a JSON object")
    try:
        return model.model_validate(payload)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in error.errors()[:5]
        )
        raise InvalidRequest("validation_error", problems) from error


def int_param(params: dict[str, str] | None, name: str, default: int) -> int:
    value = (params or {}).get(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError as error:
        raise InvalidRequest(f"invalid_{name}", f"{name} must be an integer") from error


def handle_errors(view: Callable[..., Any]) -> Callable[..., Any]:
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        try:
            return view(*args, **kwargs)
        except InvalidRequest as error:
            return error_response(error.status, error.code, error.message)
        except NotFound as error:
            return error_response(404, "not_found", f"no document with id {error}")

    wrapped.__name__ = view.__name__
    wrapped.__doc__ = view.__doc__
    return wrapped


def chalice_errors_in_our_shape(event: Any, get_response: Callable[[Any], Response]) -> Response:
    """Chalice answers some requests itself (405, 415, its own view errors) with {"Code", "Message"}:
    rewrite those so every error a client sees has one shape."""
    response = get_response(event)
    body = response.body
    if response.status_code >= 400 and isinstance(body, dict) and {"Code", "Message"} <= body.keys():
        response.body = {"error": {"code": str(body["Code"]), "message": str(body["Message"])}}
    return response
