"""The assembled API in front of the app: sign-in at the gateway, CORS, gateway responses, throttling."""

from __future__ import annotations

import itertools
import json
import re
from typing import Any

import pytest

from chalicelib.api.auth import PUBLIC_ROUTES, WWW_AUTHENTICATE
from infra.tools import api_swagger, assemble, tfconfig
from tests.infra.test_assembled import resolve

API = assemble.API
VARIANTS = {
    assemble.swagger_variant(cognito, cors): (cognito, cors)
    for cognito, cors in itertools.product((True, False), repeat=2)
}


def swaggers(config: tfconfig.Config) -> dict[str, dict[str, Any]]:
    """Each swagger the REST API can be deployed with, parsed (the `${...}` stay as text)."""
    return {variant: json.loads(text) for variant, text in config.locals["api_swaggers"].body.items()}


def variant_keys(expression: str) -> set[str]:
    """Every value a template of `${cond ? "a" : "b"}` parts can take."""
    parts = re.split(r'(\$\{[^?]+\?\s*"[^"]*"\s*:\s*"[^"]*"\s*\})', expression)
    choices = []
    for part in parts:
        if match := re.fullmatch(r'\$\{[^?]+\?\s*"([^"]*)"\s*:\s*"([^"]*)"\s*\}', part):
            choices.append(match.groups())
        else:
            assert "${" not in part, f"unexpected expression in {expression!r}"
            choices.append((part,))
    return {"".join(combination) for combination in itertools.product(*choices)}


def test_the_rest_api_serves_the_variant_the_variables_select(config: tfconfig.Config) -> None:
    rest_api = config.resource_body("aws_api_gateway_rest_api", "rest_api")
    assert rest_api["body"] == "${local.chalice_api_swagger}"
    assert config.locals["chalice_api_swagger"].body == "${local.api_swaggers[local.api_swagger_variant]}"
    assert set(swaggers(config)) == set(VARIANTS)
    expression = config.locals["api_swagger_variant"].body
    assert variant_keys(expression) == set(VARIANTS)
    assert "local.gateway_checks_tokens" in expression and 'var.web_origin == ""' in expression
    # A body change redeploys the stage: the authorizer, CORS and gateway responses reach it.
    deployment = config.resource_body("aws_api_gateway_deployment", "rest_api")
    assert deployment["triggers"]["redeployment"] == "${md5(local.chalice_api_swagger)}"


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_method_but_health_openapi_and_preflights_has_the_cognito_authorizer(
    config: tfconfig.Config, variant: str
) -> None:
    swagger = swaggers(config)[variant]
    cognito, cors = VARIANTS[variant]
    methods = list(api_swagger.operations(swagger))
    assert {(m, p) for m, p, _ in methods} >= set(PUBLIC_ROUTES) | {("POST", "/search"), ("POST", "/uploads")}
    for method, path, operation in methods:
        public = method == "OPTIONS" or (method, path) in PUBLIC_ROUTES
        wanted = None if public or not cognito else [{api_swagger.AUTHORIZER: []}]
        assert operation.get("security") == wanted, f"{variant}: {method} {path}"
    if cognito:
        (definition,) = swagger["securityDefinitions"].values()
        assert definition["x-amazon-apigateway-authorizer"] == {
            "type": "cognito_user_pools",
            "providerARNs": ["${local.gateway_user_pool_arn}"],
        }
        assert definition["name"] == "Authorization" and definition["in"] == "header"
    else:
        assert "securityDefinitions" not in swagger
    assert any(method == "OPTIONS" for method, _, _ in methods) == cors


def test_the_gateway_checks_tokens_of_our_pool_or_the_operators_cognito_pool(config: tfconfig.Config) -> None:
    checks = config.locals["gateway_checks_tokens"].body
    assert checks == "${local.create_user_pool || var.cognito_user_pool_arn != null}"
    arn = config.locals["gateway_user_pool_arn"].body
    assert "aws_cognito_user_pool.quarry[0].arn" in arn and "var.cognito_user_pool_arn" in arn
    assert config.locals["create_user_pool"].body == "${var.auth_issuer == null}"


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_gateway_responses_carry_the_error_shape_www_authenticate_and_cors(
    config: tfconfig.Config, variant: str
) -> None:
    responses = swaggers(config)[variant]["x-amazon-apigateway-gateway-responses"]
    _, cors = VARIANTS[variant]
    for response_type in ("UNAUTHORIZED", "ACCESS_DENIED", "DEFAULT_4XX", "DEFAULT_5XX"):
        template = responses[response_type]["responseTemplates"]["application/json"]
        body = json.loads(template.replace("$context.error.messageString", '"a message"'))
        assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, response_type
        headers = responses[response_type]["responseParameters"]
        origin = headers.get("gatewayresponse.header.Access-Control-Allow-Origin")
        assert origin == ("'${var.web_origin}'" if cors else None), response_type
    assert (responses["UNAUTHORIZED"]["statusCode"], responses["ACCESS_DENIED"]["statusCode"]) == (
        "401",
        "403",
    )
    unauthorized = responses["UNAUTHORIZED"]["responseParameters"]
    assert unauthorized["gatewayresponse.header.WWW-Authenticate"] == f"'{WWW_AUTHENTICATE}'"


@pytest.mark.parametrize("variant", [v for v, (_, cors) in VARIANTS.items() if cors])
def test_preflights_allow_the_web_origin_the_authorization_header_and_the_paths_methods(
    config: tfconfig.Config, variant: str
) -> None:
    for path, item in swaggers(config)[variant]["paths"].items():
        integration = item["options"]["x-amazon-apigateway-integration"]
        assert integration["type"] == "mock", path
        headers = integration["responses"]["default"]["responseParameters"]
        assert headers["method.response.header.Access-Control-Allow-Origin"] == "'${var.web_origin}'"
        assert "Authorization" in headers["method.response.header.Access-Control-Allow-Headers"]
        allowed = headers["method.response.header.Access-Control-Allow-Methods"].strip("'").split(",")
        assert set(allowed) == {m.upper() for m in item if m in api_swagger.HTTP_METHODS}, path


def test_the_web_origin_is_an_origin_or_nothing(config: tfconfig.Config) -> None:
    variable = config.variable["web_origin"].body
    assert variable["default"] == ""
    (validation,) = variable["validation"]
    assert "regex" in validation["condition"] and 'var.web_origin == ""' in validation["condition"]


# --- the user pool --------------------------------------------------------------------------------


def test_the_user_pool_holds_a_tenant_only_administrators_assign(config: tfconfig.Config) -> None:
    pool = config.resource_body("aws_cognito_user_pool", "quarry")
    assert pool["count"] == "${local.create_user_pool ? 1 : 0}"
    (tenant,) = pool["schema"]
    assert (tenant["name"], tenant["attribute_data_type"], tenant["mutable"]) == ("tenant", "String", True)
    assert pool["admin_create_user_config"] == [{"allow_admin_create_user_only": True}]
    assert pool["mfa_configuration"] == "OPTIONAL"
    assert "var.user_pool_deletion_protection" in pool["deletion_protection"]
    (policy,) = pool["password_policy"]
    assert policy["minimum_length"] == "${var.user_pool_password_minimum_length}"
    assert all(policy[f"require_{kind}"] for kind in ("lowercase", "uppercase", "numbers", "symbols"))
    assert config.variable["user_pool_advanced_security_mode"].body["default"] == "OFF"
    assert pool["user_pool_add_ons"] == [
        {"advanced_security_mode": "${var.user_pool_advanced_security_mode}"}
    ]


def test_the_app_client_signs_in_by_password_and_cannot_write_the_tenant(config: tfconfig.Config) -> None:
    client = config.resource_body("aws_cognito_user_pool_client", "quarry")
    assert client["generate_secret"] is False
    assert set(client["explicit_auth_flows"]) == {
        "ALLOW_USER_PASSWORD_AUTH",
        "ALLOW_REFRESH_TOKEN_AUTH",
        "ALLOW_USER_SRP_AUTH",
    }
    assert client["id_token_validity"] == "${var.id_token_validity_minutes}"
    assert client["token_validity_units"] == [
        {"id_token": "minutes", "access_token": "minutes", "refresh_token": "days"}
    ]
    written = resolve(config, client["write_attributes"])
    read = resolve(config, client["read_attributes"])
    # An empty list would mean every attribute to Cognito.
    assert written and "custom:tenant" not in written
    assert "custom:tenant" in read and set(written) <= set(read)


def test_the_api_reads_its_issuer_audience_and_keys_from_terraform(config: tfconfig.Config) -> None:
    variables = config.resource_body("aws_lambda_function", API)["environment"]["variables"]
    assert {k: v for k, v in variables.items() if k.startswith(("QUARRY_AUTH_", "QUARRY_WEB_"))} == {
        "QUARRY_AUTH_ISSUER": "${local.auth_issuer}",
        "QUARRY_AUTH_AUDIENCE": "${local.auth_audience}",
        "QUARRY_AUTH_JWKS_URL": "${local.auth_jwks_url}",
        "QUARRY_AUTH_TOKEN_USE": "${var.auth_token_use}",
        "QUARRY_AUTH_TENANT_CLAIM": "${var.auth_tenant_claim}",
        "QUARRY_WEB_ORIGIN": "${var.web_origin}",
    }
    issuer = config.locals["auth_issuer"].body
    assert "https://${aws_cognito_user_pool.quarry[0].endpoint}" in issuer and "var.auth_issuer" in issuer
    assert "aws_cognito_user_pool_client.quarry[0].id" in config.locals["auth_audience"].body
    assert "/.well-known/jwks.json" in config.locals["auth_jwks_url"].body
    assert config.variable["auth_token_use"].body["default"] == "id"
    assert config.variable["auth_tenant_claim"].body["default"] == "custom:tenant"
    worker = config.resource_body("aws_lambda_function", assemble.WORKER)["environment"]["variables"]
    assert not [name for name in worker if name.startswith("QUARRY_AUTH_")]


def test_an_existing_issuer_must_come_with_its_audience(config: tfconfig.Config) -> None:
    conditions = [p["condition"] for p in config.output["auth_issuer"].body["precondition"]]
    assert "${var.auth_issuer == null || var.auth_audience != null}" in conditions
    assert any("var.auth_token_use" in c for c in conditions)
    values = {name: entry.body["value"] for name, entry in config.output.items()}
    assert values["user_pool_client_id"] == "${local.auth_audience}"
    assert values["auth_region"] == "${local.region}"
    assert "aws_cognito_user_pool.quarry[0].id" in values["user_pool_id"]


# --- throttling -----------------------------------------------------------------------------------


def test_the_stage_throttles_every_method(config: tfconfig.Config) -> None:
    settings = config.resource_body("aws_api_gateway_method_settings", "all")
    assert settings["rest_api_id"] == "${aws_api_gateway_rest_api.rest_api.id}"
    assert settings["stage_name"] == "${aws_api_gateway_stage.api.stage_name}"
    assert settings["method_path"] == "*/*"
    (values,) = settings["settings"]
    assert values["throttling_rate_limit"] == "${var.api_throttling_rate_limit}"
    assert values["throttling_burst_limit"] == "${var.api_throttling_burst_limit}"
    assert config.variable["api_throttling_rate_limit"].body["default"] > 0
    assert config.variable["api_throttling_burst_limit"].body["default"] >= 1
