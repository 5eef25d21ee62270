"""HTTP edge of the API: JSON bodies in, domain errors out as {"error": {"code", "message"}} 4xx.

Services raise domain exceptions; this module is the one place that maps them to status codes.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chalice import Chalice, Response

from chalicelib.model import ConfigurationError, IndexModelMismatch, InvalidRequest, NotFound, TransientError
from chalicelib.observability import logger

if TYPE_CHECKING:
    from chalicelib.api.auth import TokenVerifier
    from chalicelib.api.requests import AnswerRequest, SearchRequest, UploadRequest
    from chalicelib.ports import RateLimiter


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    return Response(body={"error": {"code": code, "message": message}}, status_code=status, headers=headers)


def created(body: dict[str, Any]) -> Response:
    return Response(body=body, status_code=201)


def accepted(body: dict[str, Any]) -> Response:
    return Response(body=body, status_code=202)


def parse_upload(raw: bytes | None) -> UploadRequest:
    from chalicelib.api.requests import UploadRequest

    return _parse_body(raw, UploadRequest)


def parse_search(raw: bytes | None) -> SearchRequest:
    from chalicelib.api.requests import SearchRequest

    return _parse_body(raw, SearchRequest)


def parse_answer(raw: bytes | None) -> AnswerRequest:
    from chalicelib.api.requests import AnswerRequest

    return _parse_body(raw, AnswerRequest)


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


@dataclass(frozen=True)
class ListQuery:
    """`GET /documents`'s query string: which status, how many, and where the previous page ended."""

    status: str | None
    limit: int
    cursor: str | None


def parse_list_query(params: dict[str, str] | None) -> ListQuery:
    params = params or {}
    return ListQuery(params.get("status"), _int_param(params, "limit", 20), params.get("cursor"))


def _int_param(params: dict[str, str], name: str, default: int) -> int:
    value = params.get(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError as error:
        raise InvalidRequest(f"invalid_{name}", f"{name} must be an integer") from error


def map_domain_errors(app: Chalice) -> None:
    """Make every route of `app` answer the services' domain errors as 4xx in our error shape.

    Called once, after the routes are declared. Chalice's HTTP middleware cannot do this: Chalice turns
    any exception a view raises into its own 500 before middleware sees it (only ChaliceUnhandledError
    passes through), so the mapping has to wrap the view functions themselves.
    """
    for methods in app.routes.values():
        for entry in methods.values():
            entry.view_function = _answering_domain_errors(entry.view_function)


def _answering_domain_errors(view: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        try:
            return view(*args, **kwargs)
        except InvalidRequest as error:
            return error_response(error.status, error.code, error.message)
        except NotFound as error:
            return error_response(404, "not_found", f"no document with id {error}")
        except IndexModelMismatch as error:
            # 503, not 4xx: the request is fine, the deployment's query model and index disagree (a
            # re-embed half done, or settings naming another model) and an operator must act.
            return error_response(
                503, "index_model_mismatch", f"search is unavailable: {error}", {"Retry-After": "60"}
            )
        except ConfigurationError as error:
            # The caller can do nothing about the deployment's permissions or models: tell them it is
            # ours to fix; the log (and its alarm) carries what the operator must do.
            logger.error("configuration error answering a request", extra={"detail": str(error)})
            return error_response(
                503, "unavailable", "the service is misconfigured; its operators have been alerted",
                {"Retry-After": "60"},
            )  # fmt: skip
        except TransientError as error:
            # A throttled or briefly unreachable backend (the boto3 retries already spent): worth a retry.
            logger.warning("backend busy answering a request", extra={"detail": str(error)})
            return error_response(
                503,
                "unavailable",
                "a backend is busy or unreachable; try again shortly",
                {"Retry-After": "5"},
            )

    return wrapped


def chalice_errors_in_our_shape(event: Any, get_response: Callable[[Any], Response]) -> Response:
    """Chalice answers some requests itself (405, 415, its own view errors) with {"Code", "Message"}:
    rewrite those so every error a client sees has one shape."""
    response = get_response(event)
    body = response.body
    if response.status_code >= 400 and isinstance(body, dict) and {"Code", "Message"} <= body.keys():
        response.body = {"error": {"code": str(body["Code"]), "message": str(body["Message"])}}
    return response


def cors_for(origin: Callable[[], str | None]) -> Callable[[Any, Callable[[Any], Response]], Response]:
    """HTTP middleware, outermost: every answer (errors included, so a browser can read a 401 or a 429)
    allows the configured web origin. The gateway answers OPTIONS preflights (infra/tools/api_swagger.py)."""

    def middleware(event: Any, get_response: Callable[[Any], Response]) -> Response:
        response = get_response(event)
        allowed = origin()
        if allowed:
            response.headers["Access-Control-Allow-Origin"] = allowed
            response.headers["Access-Control-Expose-Headers"] = "Retry-After, WWW-Authenticate"
            response.headers["Vary"] = "Origin"
        return response

    return middleware


def tenant_rate_limits(
    limiter: Callable[[], RateLimiter], per_minute: Callable[[], dict[tuple[str, str], tuple[str, int]]]
) -> Callable[[Any, Callable[[Any], Response]], Response]:
    """HTTP middleware, after sign-in: a limited route answers 429 with Retry-After once the caller's
    tenant has used its requests of the minute. `per_minute` maps (method, path) to (action, limit)."""
    import math
    import time

    from chalicelib.api import auth

    def middleware(event: Any, get_response: Callable[[Any], Response]) -> Response:
        action, limit = per_minute().get((event.method, event.path), ("", 0))
        if limit > 0:
            wait_s = limiter().acquire(auth.signed_in().tenant, action, limit, time.time())
            if wait_s is not None:
                message = f"your tenant has made {limit} {action} requests this minute; try again shortly"
                return error_response(429, "rate_limited", message, {"Retry-After": str(math.ceil(wait_s))})
        return get_response(event)

    return middleware


def sign_in_required(
    verifier: Callable[[], TokenVerifier],
) -> Callable[[Any, Callable[[Any], Response]], Response]:
    """HTTP middleware: every route but the public ones answers 401 (with `WWW-Authenticate`) or 403
    unless the request carries a verified token with a tenant; the routes read the caller with
    `auth.signed_in()`. `verifier` is called per request, so building it waits for the first one."""
    from chalicelib.api import auth

    def middleware(event: Any, get_response: Callable[[Any], Response]) -> Response:
        if (event.method, event.path) in auth.PUBLIC_ROUTES:
            return get_response(event)
        try:
            principal = verifier().verify(event.headers.get("authorization"))
        except auth.AuthFailure as failure:
            headers = {"WWW-Authenticate": auth.WWW_AUTHENTICATE} if failure.status == 401 else None
            return error_response(failure.status, failure.code, failure.message, headers)
        token = auth.sign_in(principal)
        try:
            return get_response(event)
        finally:
            auth.sign_out(token)

    return middleware
