"""API fuzzing: schemathesis generates requests (valid and invalid) for every operation of the app's own
OpenAPI description (chalicelib/api/openapi.py, served at /openapi.json) and sends them over HTTP to the
Chalice local server (`chalice local`'s server, as `make local` runs it), backed by the moto server and
the embedded index through the `container` fixture. Checks: no 5xx, every response conforms to the
described schema, and every 4xx body is exactly {"error": {"code": str, "message": str}}.
"""

from __future__ import annotations

import base64
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
import schemathesis
from chalice.config import Config
from chalice.local import LocalDevServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from app import app
from chalicelib.api.openapi import openapi_spec
from chalicelib.config import Settings
from chalicelib.model import document_id_for
from tests.conftest import free_port, token_for
from tests.documents import FACT_DOCUMENTS
from tests.reliability.harness import settle

SEED_KEY = "tenants/acme/fuzz/lighthouse.txt"
SEED_ID = document_id_for(Settings().raw_bucket, SEED_KEY)


def fuzz_spec() -> dict:
    """The served description, plus examples that reach real data: the id of a document each test
    ingests first, and a query that finds it (the examples phase sends these before fuzzing)."""
    spec = openapi_spec()
    spec["paths"]["/documents/{document_id}"]["parameters"][0]["example"] = SEED_ID
    spec["paths"]["/documents/{document_id}/reindex"]["parameters"][0]["example"] = SEED_ID
    body = spec["paths"]["/search"]["post"]["requestBody"]["content"]["application/json"]
    body["example"] = {
        "query": "Skerryvore seabirds",
        "k": 5,
        "mode": "hybrid",
        "filters": {"key_prefix": "fuzz/", "metadata": {"team": "coast"}},
    }
    return spec


schema = schemathesis.openapi.from_dict(
    fuzz_spec(),
    config=schemathesis.Config.from_dict(
        {
            "generation": {"mode": "all", "max-examples": 50, "deterministic": True, "database": "none"},
            "phases": {
                "coverage": {
                    "enabled": True,
                    "unexpected-methods": ["GET", "PUT", "POST", "DELETE", "OPTIONS", "PATCH"],
                },
                "stateful": {"enabled": False},
            },
        }
    ),
)


@schemathesis.check
def error_in_the_one_shape(ctx, response, case) -> bool | None:
    """Every 4xx body is exactly {"error": {"code": <non-empty str>, "message": <non-empty str>}}."""
    if not 400 <= response.status_code < 500:
        return None
    try:
        body = json.loads(response.content)
    except ValueError as error:
        raise AssertionError(
            f"{response.status_code} body is not JSON: {response.content[:200]!r}"
        ) from error
    assert isinstance(body, dict) and set(body) == {"error"}, f"{response.status_code} body {body!r}"
    error = body["error"]
    assert isinstance(error, dict) and set(error) == {"code", "message"}, f"error object {error!r}"
    assert isinstance(error["code"], str) and error["code"], f"error code {error['code']!r}"
    assert isinstance(error["message"], str) and error["message"], f"error message {error['message']!r}"
    return True


@pytest.fixture(scope="module")
def api_url() -> Iterator[str]:
    """Chalice's own local HTTP server for the app, on a free port, in a thread."""
    port = free_port()
    server = LocalDevServer(
        app, Config.create(chalice_stage="local", api_gateway_stage="api"), "127.0.0.1", port
    )
    thread = threading.Thread(target=server.server.serve_forever, name="chalice-local", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    server.shutdown()
    thread.join(timeout=10)


@pytest.fixture
def seeded(container, aws, resources, aws_settings) -> str:
    """One INDEXED document, so reads, listings and searches answer with real data, not only empties."""
    data, _ = FACT_DOCUMENTS["lighthouse.txt"]
    aws["s3"].put_object(Bucket=aws_settings.raw_bucket, Key=SEED_KEY, Body=data, Metadata={"team": "coast"})
    run = settle(container, aws, resources, [SEED_ID])
    assert run.views[SEED_ID]["status"] == "INDEXED"
    return SEED_ID


@pytest.mark.timeout(120)
@schema.parametrize()
# The fixtures (server, moto-backed container, seeded document) serve every generated request of one
# operation; a request that changes them (DELETE of the seeded document) is part of what is tested.
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_api_never_fails_and_always_answers_in_shape(case, api_url, seeded, aws_settings):
    case.call_and_validate(
        base_url=api_url,
        headers={"Authorization": f"Bearer {signed_in_token(aws_settings)}"},
        checks=[not_a_server_error, response_schema_conformance, error_in_the_one_shape],
    )


def test_openapi_route_serves_the_description_the_fuzzer_uses(api_url, container):
    with urllib.request.urlopen(f"{api_url}/openapi.json") as response:
        served = json.loads(response.read())
    assert served == openapi_spec()
    routes = {
        (path, method.upper())
        for path, item in served["paths"].items()
        for method in item
        if method != "parameters"
    }
    declared = {(path, method) for path, methods in app.routes.items() for method in methods}
    assert routes == declared, "the description and the app's routes differ"


_tokens: dict[str, str] = {}


def signed_in_token(settings) -> str:
    """One ID token per user pool: signing in for each of the fuzzer's cases would only slow it."""
    if settings.auth_issuer not in _tokens:
        _tokens[settings.auth_issuer] = token_for(settings)
    return _tokens[settings.auth_issuer]


def request(
    api_url: str, method: str, path: str, body: dict | None = None, token: str = ""
) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    sent = urllib.request.Request(f"{api_url}{path}", data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(sent, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def assert_client_error_or_success(status: int, body: dict) -> None:
    assert status < 500, f"{status} {body}"
    if status >= 400:
        assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    payload=st.fixed_dictionaries({"document_id": _JSON}, optional={"status": _JSON, "updated_at": _JSON}),
    status=st.sampled_from(["", "&status=INDEXED"]),
)
def test_forged_cursors_are_client_errors(api_url, container, aws_settings, payload, status):
    cursor = base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()
    token = signed_in_token(aws_settings)
    answer = request(api_url, "GET", f"/documents?cursor={cursor}{status}", token=token)
    assert_client_error_or_success(*answer)
    assert answer[0] != 401


def test_an_oversized_metadata_filter_is_a_client_error(api_url, seeded, aws_settings):
    metadata = {f"key{n}": "value" for n in range(1000)}
    for mode in ("keyword", "hybrid"):
        body = {"query": "Skerryvore seabirds", "mode": mode, "filters": {"metadata": metadata}}
        answer = request(api_url, "POST", "/search", body, token=signed_in_token(aws_settings))
        assert_client_error_or_success(*answer)
        assert answer[0] != 401
