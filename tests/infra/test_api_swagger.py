"""The gateway's additions to Chalice's swagger (infra/tools/api_swagger.py), on small swaggers."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from chalicelib.api.auth import PUBLIC_ROUTES, WWW_AUTHENTICATE
from infra.tools import api_swagger

POOL = "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_abc"
ORIGIN = "https://app.example.com"


def operation() -> dict[str, Any]:
    return {
        "responses": {"200": {"description": "200 response"}},
        "x-amazon-apigateway-integration": {
            "type": "aws_proxy",
            "uri": "${aws_lambda_function.f.invoke_arn}",
        },
    }


def chalice_like() -> dict[str, Any]:
    return {
        "swagger": "2.0",
        "paths": {
            "/health": {"get": operation()},
            "/openapi.json": {"get": operation()},
            "/auth/config": {"get": operation()},
            "/documents": {"get": operation(), "post": operation()},
            "/documents/{id}": {"get": operation(), "delete": operation(), "parameters": []},
            "/anything": {"x-amazon-apigateway-any-method": operation()},
        },
    }


def security_by_operation(swagger: dict[str, Any]) -> dict[tuple[str, str], Any]:
    return {(method, path): op.get("security") for method, path, op in api_swagger.operations(swagger)}


def test_every_operation_but_the_public_routes_asks_for_the_cognito_authorizer() -> None:
    swagger = api_swagger.with_cognito_authorizer(chalice_like(), [POOL])
    security = security_by_operation(swagger)
    assert {route for route, wanted in security.items() if wanted is None} == set(PUBLIC_ROUTES)
    assert {str(wanted) for route, wanted in security.items() if route not in PUBLIC_ROUTES} == {
        str([{api_swagger.AUTHORIZER: []}])
    }
    assert ("X-AMAZON-APIGATEWAY-ANY-METHOD", "/anything") in security
    definition = swagger["securityDefinitions"][api_swagger.AUTHORIZER]
    assert definition["x-amazon-apigateway-authtype"] == "cognito_user_pools"
    assert definition["x-amazon-apigateway-authorizer"] == {
        "type": "cognito_user_pools",
        "providerARNs": [POOL],
    }
    # API Gateway's identity source is method.request.header.<name>.
    assert (definition["type"], definition["in"], definition["name"]) == ("apiKey", "header", "Authorization")


def test_the_transformations_leave_their_input_alone() -> None:
    original = chalice_like()
    kept = copy.deepcopy(original)
    api_swagger.for_gateway(original, [POOL], ORIGIN)
    assert original == kept


def test_a_swagger_without_the_public_routes_or_with_a_guarded_one_is_refused() -> None:
    swagger = chalice_like()
    del swagger["paths"]["/health"]
    with pytest.raises(api_swagger.SwaggerError, match="public routes"):
        api_swagger.with_cognito_authorizer(swagger, [POOL])
    swagger = chalice_like()
    swagger["paths"]["/health"]["get"]["security"] = [{"other": []}]
    with pytest.raises(api_swagger.SwaggerError, match="GET /health is public"):
        api_swagger.with_cognito_authorizer(swagger, [POOL])
    with pytest.raises(api_swagger.SwaggerError, match="user pool ARN"):
        api_swagger.with_cognito_authorizer(chalice_like(), [])


def test_every_path_answers_its_preflight_from_the_gateway_without_a_token() -> None:
    swagger = api_swagger.for_gateway(chalice_like(), [POOL], ORIGIN)
    for path, item in swagger["paths"].items():
        preflight = item["options"]
        assert "security" not in preflight, path
        integration = preflight["x-amazon-apigateway-integration"]
        assert integration["type"] == "mock"
        headers = integration["responses"]["default"]["responseParameters"]
        assert headers["method.response.header.Access-Control-Allow-Origin"] == f"'{ORIGIN}'"
        assert (
            headers["method.response.header.Access-Control-Allow-Headers"] == "'Authorization,Content-Type'"
        )
        # Every header the integration sets is declared on the method response, or the import fails.
        declared = set(preflight["responses"]["200"]["headers"])
        assert {name.removeprefix("method.response.header.") for name in headers} == declared
    methods = swagger["paths"]["/documents/{id}"]["options"]["x-amazon-apigateway-integration"]
    allowed = methods["responses"]["default"]["responseParameters"][
        "method.response.header.Access-Control-Allow-Methods"
    ]
    assert allowed == "'GET,DELETE,OPTIONS'"


def test_without_a_web_origin_there_is_no_cors_and_without_a_pool_no_gateway_authorizer() -> None:
    swagger = api_swagger.for_gateway(chalice_like(), None, None)
    assert "securityDefinitions" not in swagger
    assert all(security is None for security in security_by_operation(swagger).values())
    assert not [path for path, item in swagger["paths"].items() if "options" in item]
    for response in swagger["x-amazon-apigateway-gateway-responses"].values():
        assert not [h for h in response["responseParameters"] if "Access-Control" in h]


def rendered(template: str) -> Any:
    """A gateway response body as API Gateway renders it ($context.error.messageString is a quoted string)."""
    return json.loads(
        template.replace(api_swagger.GATEWAY_MESSAGE, json.dumps("Missing Authentication Token"))
    )


@pytest.mark.parametrize("origin", [ORIGIN, None])
def test_the_gateways_own_answers_speak_the_apps_error_shape(origin: str | None) -> None:
    responses = api_swagger.for_gateway(chalice_like(), [POOL], origin)[
        "x-amazon-apigateway-gateway-responses"
    ]
    assert {"UNAUTHORIZED", "ACCESS_DENIED", "DEFAULT_4XX", "DEFAULT_5XX"} <= set(responses)
    assert responses["UNAUTHORIZED"]["statusCode"] == "401"
    assert responses["ACCESS_DENIED"]["statusCode"] == "403"
    for response_type, response in responses.items():
        body = rendered(response["responseTemplates"]["application/json"])
        assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, response_type
        assert body["error"]["code"] and body["error"]["message"]
        allow_origin = response["responseParameters"].get(
            "gatewayresponse.header.Access-Control-Allow-Origin"
        )
        assert allow_origin == (f"'{origin}'" if origin else None), response_type
    assert rendered(responses["UNAUTHORIZED"]["responseTemplates"]["application/json"])["error"]["code"] == (
        "unauthorized"
    )
    unauthorized = responses["UNAUTHORIZED"]["responseParameters"]
    assert unauthorized["gatewayresponse.header.WWW-Authenticate"] == f"'{WWW_AUTHENTICATE}'"
    assert WWW_AUTHENTICATE == 'Bearer realm="quarry"'


def test_a_header_value_that_would_break_the_mapping_expression_is_refused() -> None:
    with pytest.raises(api_swagger.SwaggerError, match="single quote"):
        api_swagger.with_cors_preflight(chalice_like(), "https://x'y")


def test_the_assembler_writes_one_swagger_per_configuration_and_nothing_it_did_not_mean() -> None:
    from infra.tools import assemble

    chalice_text = json.dumps(chalice_like())
    variants = assemble.swagger_variants(chalice_like())
    assert set(variants) == {"cognito/cors", "cognito/no-cors", "no-authorizer/cors", "no-authorizer/no-cors"}
    for variant in variants.values():
        assemble.serialize_swagger(variant, chalice_text)  # only Chalice's and our interpolations
    with pytest.raises(assemble.AssemblyError, match=r"var\.other"):
        assemble.serialize_swagger({"x": "${var.other}"}, chalice_text)
    with pytest.raises(assemble.AssemblyError, match="%"):
        assemble.serialize_swagger({"x": "%{ if true }"}, chalice_text)
