"""The HTTP API through chalice.test.Client: status codes and the one error shape."""

from __future__ import annotations

import json

import pytest

from chalicelib.model import ConfigurationError, TransientError
from tests.integration.pipeline import drain, poller, upload

JSON = {"Content-Type": "application/json"}


@pytest.fixture
def client(http):
    return http


def post(client, path, body, headers=JSON):
    raw = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return client.post(path, headers=headers, body=raw)


def assert_error(response, status, code=None):
    assert response.status_code == status, response.body
    body = json.loads(response.body)
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    assert body["error"]["message"]
    if code:
        assert body["error"]["code"] == code
    return body["error"]


def test_health(client):
    response = client.get("/health")
    assert response.status_code == 200 and json.loads(response.body) == {"status": "ok"}


def test_upload_returns_a_presigned_post_and_a_pending_document(client, aws_settings):
    response = post(client, "/uploads", {"filename": "notes/../report.pdf", "metadata": {"team": "ops"}})
    assert response.status_code == 201
    body = json.loads(response.body)
    assert body["key"].startswith("tenants/acme/uploads/") and body["key"].endswith("/report.pdf")
    assert body["upload"]["method"] == "POST"
    fields = body["upload"]["fields"]
    assert fields["Content-Type"] == "application/pdf" and fields["key"] == body["key"]
    assert (
        fields["x-amz-signature"]
        and fields["policy"]
        and body["expires_in"] == aws_settings.upload_url_expires_s
    )
    document = json.loads(client.get(f"/documents/{body['document_id']}").body)
    assert document["status"] == "PENDING"
    assert document["metadata"] == {"team": "ops"}
    assert document["source"]["key"] == body["key"] and document["error"] is None


@pytest.mark.parametrize(
    "body, code",
    [
        (b"", "invalid_body"),
        (b"{not json", "invalid_json"),
        (b"[1, 2]", "invalid_body"),
        ({"content_type": "text/plain"}, "validation_error"),
        ({"filename": ""}, "validation_error"),
        ({"filename": "a.txt", "metadata": {"k": {"nested": "object"}}}, "validation_error"),
        ({"filename": "a.txt", "metadata": {"k": [1, 2]}}, "validation_error"),
        ({"filename": "a.txt", "metadata": {"k": ["x"] * 21}}, "validation_error"),
        ({"filename": "a.txt", "metadata": {"k": 2**60}}, "validation_error"),
        ({"filename": "a.txt", "unexpected": True}, "validation_error"),
        ({"filename": "a.txt", "metadata": {f"k{i}": "v" for i in range(21)}}, "validation_error"),
    ],
)
def test_bad_upload_requests_are_400_in_the_error_shape(client, body, code):
    assert_error(post(client, "/uploads", body), 400, code)


@pytest.mark.parametrize(
    "body",
    [
        {"query": ""},
        {"query": "   "},
        {"query": "x", "k": 0},
        {"query": "x", "k": 101},
        {"query": "x", "mode": "fuzzy"},
        {"query": "x", "filters": {"colour": "red"}},
        {"k": 5},
        {"query": "x" * 5000},
    ],
)
def test_bad_search_requests_are_400(client, body):
    assert_error(post(client, "/search", body), 400, "validation_error")


def test_unknown_document_is_404(client):
    assert_error(client.get("/documents/" + "0" * 32), 404, "not_found")
    assert_error(client.get("/documents/not-an-id"), 404, "not_found")
    assert_error(client.delete("/documents/" + "f" * 32), 404, "not_found")


def test_listing_validates_its_parameters(client):
    assert_error(client.get("/documents?status=LOST"), 400, "invalid_status")
    assert_error(client.get("/documents?limit=0"), 400, "invalid_limit")
    assert_error(client.get("/documents?limit=abc"), 400, "invalid_limit")
    assert_error(client.get("/documents?cursor=%%%"), 400, "invalid_cursor")


def test_listing_pages_through_documents(client):
    ids = {
        json.loads(post(client, "/uploads", {"filename": f"f{i}.txt"}).body)["document_id"] for i in range(5)
    }
    seen, cursor = set(), None
    for _ in range(10):
        query = "/documents?status=pending&limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = json.loads(client.get(query).body)
        assert len(page["documents"]) <= 2
        seen |= {d["document_id"] for d in page["documents"]}
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == ids
    everything = json.loads(client.get("/documents?limit=100").body)
    assert {d["document_id"] for d in everything["documents"]} == ids


def test_wrong_method_and_media_type_and_route_use_the_error_shape(client):
    assert_error(client.put("/health"), 405)
    assert_error(post(client, "/search", {"query": "x"}, headers={"Content-Type": "text/plain"}), 415)
    # Unknown paths never reach the app: API Gateway (and Chalice's local gateway) answer them with 403.
    assert client.get("/no/such/route").status_code == 403


def test_search_on_an_empty_index_returns_no_results(client):
    for mode in ("hybrid", "vector", "keyword"):
        response = post(client, "/search", {"query": "anything at all", "mode": mode})
        assert response.status_code == 200
        body = json.loads(response.body)
        assert body["results"] == [] and body["took_ms"] >= 0


# --- sign-in ---------------------------------------------------------------------------------------


def signed_routes():
    from app import app
    from chalicelib.api.auth import PUBLIC_ROUTES

    return sorted(
        (method, path.replace("{document_id}", "0" * 32))
        for path, methods in app.routes.items()
        for method in methods
        if (method, path) not in PUBLIC_ROUTES
    )


@pytest.mark.parametrize(("method", "path"), signed_routes())
def test_every_route_but_the_public_ones_needs_a_token(http_as, method, path):
    response = http_as(None).request(method, path, headers=JSON, body=b"{}")
    error = assert_error(response, 401, "unauthorized")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert "Authorization" in error["message"]


@pytest.mark.parametrize("token", ["garbage", "a.b.c", "Bearer", "Bearer x y"])
def test_a_malformed_token_is_401_not_a_crash(http_as, token):
    anonymous = http_as(None)
    response = anonymous.get("/documents", headers={"Authorization": token})
    assert_error(response, 401, "unauthorized")


def test_public_routes_need_no_token(http_as, aws_settings):
    anonymous = http_as(None)
    assert anonymous.get("/health").status_code == 200
    assert anonymous.get("/openapi.json").status_code == 200
    config = json.loads(anonymous.get("/auth/config").body)
    assert config["client_id"] == aws_settings.auth_audience
    assert config["issuer"] == aws_settings.auth_issuer


def test_a_signed_in_user_reaches_the_routes(http):
    assert http.get("/documents").status_code == 200


def test_a_tenant_over_its_upload_limit_gets_429_and_others_do_not(aws_settings, resources):
    from dataclasses import replace

    from chalice.test import Client

    from app import app
    from chalicelib import bootstrap
    from tests.conftest import ALICE, BOB, token_for
    from tests.signed_in import SignedInHttp

    bootstrap.use_container(bootstrap.Container(replace(aws_settings, uploads_per_minute=2)))
    try:
        with Client(app, stage_name="local") as client:
            alice = SignedInHttp(client.http, token_for(aws_settings, ALICE))
            bob = SignedInHttp(client.http, token_for(aws_settings, BOB))
            answers = [post(alice, "/uploads", {"filename": f"n{i}.txt"}) for i in range(3)]
            bobs = post(bob, "/uploads", {"filename": "b.txt"})
            search = post(alice, "/search", {"query": "anything"})
    finally:
        bootstrap.use_container(None)
    assert [a.status_code for a in answers[:2]] == [201, 201]
    assert_error(answers[2], 429, "rate_limited")
    assert 1 <= int(answers[2].headers["Retry-After"]) <= 60
    assert bobs.status_code == 201  # another tenant's count
    assert search.status_code == 200  # another action's count


def test_the_web_origin_is_allowed_on_every_answer_errors_included(aws_settings, resources):
    from dataclasses import replace

    from chalice.test import Client

    from app import app
    from chalicelib import bootstrap
    from tests.conftest import token_for
    from tests.signed_in import SignedInHttp

    origin = "https://quarry.example.com"
    bootstrap.use_container(bootstrap.Container(replace(aws_settings, web_origin=origin)))
    try:
        with Client(app, stage_name="local") as client:
            signed_in = SignedInHttp(client.http, token_for(aws_settings)).get("/documents")
            anonymous = SignedInHttp(client.http, None).get("/documents")
    finally:
        bootstrap.use_container(None)
    for response in (signed_in, anonymous):
        assert response.headers["Access-Control-Allow-Origin"] == origin
        assert "WWW-Authenticate" in response.headers["Access-Control-Expose-Headers"]
    assert anonymous.status_code == 401


def test_no_cors_header_without_a_web_origin(http):
    assert "Access-Control-Allow-Origin" not in http.get("/documents").headers


@pytest.mark.parametrize(
    ("error", "retry_after", "words"),
    [
        (TransientError("BatchGetItem left keys unprocessed past its retries"), "5", "try again"),
        (
            ConfigurationError("AccessDeniedException on BatchGetItem", "grant the API role"),
            "60",
            "operators",
        ),
    ],
)
def test_a_backend_fault_during_a_search_is_a_503_in_our_shape_not_a_500(
    container, aws, resources, http, monkeypatch, error, retry_after, words
):
    document_id = upload(container, "herons.txt", b"Herons wade in shallow water to fish.")
    assert drain(poller(aws, resources), container, [document_id])[document_id]["status"] == "INDEXED"

    def failing_get_many(document_ids):
        raise error

    # The catalog check's one read fails the way the DynamoDB adapter fails once its retries are spent.
    monkeypatch.setattr(container.catalog, "get_many", failing_get_many)
    response = http.post(
        "/search",
        headers={"Content-Type": "application/json"},
        body=json.dumps({"query": "herons", "mode": "keyword"}).encode(),
    )
    assert response.status_code == 503, response.body
    body = json.loads(response.body)["error"]
    assert body["code"] == "unavailable" and words in body["message"]
    assert "AccessDenied" not in body["message"]  # the operator's detail stays in the log
    assert response.headers["Retry-After"] == retry_after
