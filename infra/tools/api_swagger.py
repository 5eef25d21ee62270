"""What API Gateway adds to Chalice's swagger: the Cognito authorizer, CORS preflights, gateway responses.

Pure functions over the parsed swagger (a dict); infra/tools/assemble.py serializes their results
into the Terraform configuration. Everything lives in the REST API's body, not in separate Terraform
resources: Terraform puts the body with PutRestApi in "overwrite" mode, which drops gateway
responses, authorizers and methods the body does not name (aws-cdk#28652 and
serverless-application-model#390 tell the same story), and the deployment is redeployed whenever
the body changes, so every change here reaches the stage.

The app checks tokens itself (chalicelib/api/auth.py) on every route but its PUBLIC_ROUTES; the
gateway's Cognito authorizer refuses unauthenticated requests before any Lambda runs, on the same
routes. chalice local has no gateway, which is why app.py declares no Chalice authorizer.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

from chalicelib.api.auth import PUBLIC_ROUTES, WWW_AUTHENTICATE

AUTHORIZER = "quarry-cognito"
HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "x-amazon-apigateway-any-method")
PREFLIGHT = "options"
CORS_ALLOWED_HEADERS = ("Authorization", "Content-Type")
CORS_MAX_AGE_S = 600

# The app's error shape, {"error": {"code", "message"}} (chalicelib/api/http.py:error_response), for
# what the gateway answers without the app: bad or missing tokens, throttling, unknown routes, its
# own failures. Gateway response templates are substituted, not run through VTL, so the message is
# either fixed or $context.error.messageString (already a quoted JSON string).
GATEWAY_MESSAGE = "$context.error.messageString"
GATEWAY_RESPONSES: dict[str, tuple[int | None, str, str]] = {
    "UNAUTHORIZED": (
        401,
        "unauthorized",
        "sign in: send a valid, unexpired ID token as Authorization: Bearer <ID token>",
    ),
    "ACCESS_DENIED": (403, "forbidden", "this token may not call this route"),
    "THROTTLED": (429, "throttled", "too many requests: slow down and retry"),
    "DEFAULT_4XX": (None, "request_refused", GATEWAY_MESSAGE),
    "DEFAULT_5XX": (None, "gateway_error", GATEWAY_MESSAGE),
}


class SwaggerError(ValueError):
    pass


def operations(swagger: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(METHOD, path, operation) for every operation of the swagger."""
    for path, item in swagger.get("paths", {}).items():
        for method in HTTP_METHODS:
            if method in item:
                yield method.upper(), path, item[method]


def needs_token(method: str, path: str) -> bool:
    """Whether the gateway asks for a token: every operation but the app's public routes and the
    CORS preflights (browsers never send credentials on a preflight)."""
    return method != PREFLIGHT.upper() and (method, path) not in PUBLIC_ROUTES


def with_cognito_authorizer(swagger: dict[str, Any], provider_arns: list[str]) -> dict[str, Any]:
    """API Gateway's native Cognito authorizer (COGNITO_USER_POOLS, identity source
    method.request.header.Authorization) on every operation that needs a token."""
    if not provider_arns:
        raise SwaggerError("a Cognito authorizer needs at least one user pool ARN")
    result = copy.deepcopy(swagger)
    missing = [route for route in PUBLIC_ROUTES if route not in {(m, p) for m, p, _ in operations(result)}]
    if missing:
        raise SwaggerError(f"the app's public routes {sorted(missing)} are not in the swagger")
    result.setdefault("securityDefinitions", {})[AUTHORIZER] = {
        "type": "apiKey",
        "name": "Authorization",
        "in": "header",
        "x-amazon-apigateway-authtype": "cognito_user_pools",
        "x-amazon-apigateway-authorizer": {"type": "cognito_user_pools", "providerARNs": list(provider_arns)},
    }
    for method, path, operation in operations(result):
        if needs_token(method, path):
            operation["security"] = [{AUTHORIZER: []}]
        elif "security" in operation:
            raise SwaggerError(f"{method} {path} is public but the swagger asks for {operation['security']}")
    return result


def _static(value: str) -> str:
    """A header value as API Gateway's mapping expressions write a constant."""
    if "'" in value:
        raise SwaggerError(f"a static header value cannot hold a single quote: {value!r}")
    return f"'{value}'"


def with_cors_preflight(swagger: dict[str, Any], origin: str) -> dict[str, Any]:
    """An OPTIONS operation on every path, answered by the gateway itself (a mock integration, no
    Lambda), allowing `origin`, the Authorization and Content-Type headers and the path's methods.

    A preflight only lets the browser send the request: the browser also wants
    Access-Control-Allow-Origin on the answer itself, and Lambda proxy answers pass through the
    gateway untouched. So the app adds that header to its own responses (an error or not) when
    QUARRY_WEB_ORIGIN is set; the gateway's own answers get it below (with_gateway_responses)."""
    result = copy.deepcopy(swagger)
    for item in result.get("paths", {}).values():
        methods = [m.upper() for m in HTTP_METHODS if m in item and m != PREFLIGHT]
        headers = {
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Methods": ",".join([*methods, PREFLIGHT.upper()]),
            "Access-Control-Allow-Headers": ",".join(CORS_ALLOWED_HEADERS),
            "Access-Control-Max-Age": str(CORS_MAX_AGE_S),
            "Vary": "Origin",
        }
        item[PREFLIGHT] = {
            "consumes": ["application/json"],
            "produces": ["application/json"],
            "responses": {
                "200": {
                    "description": "CORS preflight",
                    "headers": {name: {"type": "string"} for name in headers},
                }
            },
            "x-amazon-apigateway-integration": {
                "type": "mock",
                "requestTemplates": {"application/json": '{"statusCode": 200}'},
                "passthroughBehavior": "when_no_match",
                "responses": {
                    "default": {
                        "statusCode": "200",
                        "responseParameters": {
                            f"method.response.header.{name}": _static(value)
                            for name, value in headers.items()
                        },
                    }
                },
            },
        }
    return result


def error_body(code: str, message: str) -> str:
    """The app's error JSON as a gateway response template."""
    if message == GATEWAY_MESSAGE:
        return f'{{"error": {{"code": {json.dumps(code)}, "message": {GATEWAY_MESSAGE}}}}}'
    return json.dumps({"error": {"code": code, "message": message}})


def with_gateway_responses(swagger: dict[str, Any], origin: str | None) -> dict[str, Any]:
    """The gateway's own answers in the app's error shape; the 401 says how to authenticate, and
    with a web origin every one carries Access-Control-Allow-Origin, or the browser would hide
    even the 401 from the page."""
    result = copy.deepcopy(swagger)
    responses = {}
    for response_type, (status, code, message) in GATEWAY_RESPONSES.items():
        headers: dict[str, str] = {}
        if status == 401:
            headers["WWW-Authenticate"] = WWW_AUTHENTICATE
        if origin:
            headers["Access-Control-Allow-Origin"] = origin
            headers["Vary"] = "Origin"
            if status == 401:
                headers["Access-Control-Expose-Headers"] = "WWW-Authenticate"
        response: dict[str, Any] = {
            "responseParameters": {f"gatewayresponse.header.{k}": _static(v) for k, v in headers.items()},
            "responseTemplates": {"application/json": error_body(code, message)},
        }
        if status is not None:
            response["statusCode"] = str(status)
        responses[response_type] = response
    result["x-amazon-apigateway-gateway-responses"] = responses
    return result


def for_gateway(
    swagger: dict[str, Any], provider_arns: list[str] | None, origin: str | None
) -> dict[str, Any]:
    """Chalice's swagger as the gateway serves it: with the Cognito authorizer when there is a user
    pool to check against (REST APIs have no generic JWT authorizer: another OIDC issuer is
    checked by the app alone), CORS preflights when there is a web origin, and gateway responses."""
    result = swagger
    if provider_arns:
        result = with_cognito_authorizer(result, provider_arns)
    if origin:
        result = with_cors_preflight(result, origin)
    return with_gateway_responses(result, origin)
