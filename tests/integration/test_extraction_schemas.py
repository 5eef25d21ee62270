"""A user's extraction schema can make Quarry fetch nothing: remote `$ref`s are refused at upload with a
400, the validators resolve nothing outside the schema, and size and depth are bounded."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator

import pytest

from chalicelib.extraction import check_extraction_schema, schema_violation


class CountingServer:
    """A local HTTP server that records every request: a fetch of a `$ref` would show up here."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.requests.append(self.path)
                body = json.dumps({"type": "string", "secret": "internal"}).encode()
                self.send_response(200)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}"


@pytest.fixture
def counting_server() -> Iterator[CountingServer]:
    server = CountingServer()
    yield server
    server.server.shutdown()


@pytest.fixture
def client(http):
    return http


def upload_with_schema(client, schema) -> tuple[int, dict]:
    body = json.dumps({"filename": "a.txt", "extraction_schema": schema})
    response = client.post("/uploads", headers={"Content-Type": "application/json"}, body=body)
    return response.status_code, json.loads(response.body)


def remote_ref_schemas(base: str) -> list[dict]:
    return [
        {"type": "object", "properties": {"x": {"$ref": f"{base}/schema.json"}}},
        {"type": "object", "$ref": f"{base}/whole.json"},
        {"type": "object", "properties": {"x": {"$ref": "file:///etc/passwd"}}},
        {"type": "object", "$defs": {"a": {"$dynamicRef": f"{base}/dyn.json"}}},
        {"type": "object", "properties": {"x": {"$ref": "https://example.com/s.json#/x"}}},
    ]


def test_a_remote_ref_is_refused_with_400_and_nothing_is_fetched(client, counting_server) -> None:
    for schema in remote_ref_schemas(counting_server.url):
        status, body = upload_with_schema(client, schema)
        assert status == 400, body
        assert "only local references" in body["error"]["message"]
    assert counting_server.requests == []


def test_the_validator_resolves_nothing_even_for_a_schema_that_skipped_the_check(counting_server) -> None:
    # A deployment-wide schema or a record written before this check: validation must still not fetch.
    schema = {"type": "object", "properties": {"x": {"$ref": f"{counting_server.url}/schema.json"}}}
    reason = schema_violation({"x": 1}, schema)
    assert reason is not None and "outside itself" in reason
    assert counting_server.requests == []


def test_local_refs_still_work() -> None:
    schema = {
        "type": "object",
        "$defs": {"money": {"type": "number", "minimum": 0}},
        "properties": {"total": {"$ref": "#/$defs/money"}},
    }
    check_extraction_schema(schema)
    assert schema_violation({"total": 3}, schema) is None
    assert "total" in (schema_violation({"total": -1}, schema) or "")


def nested(depth: int) -> dict:
    schema: dict = {"type": "string"}
    for _ in range(depth):
        schema = {"type": "object", "properties": {"child": schema}}
    return schema


@pytest.mark.parametrize("depth", [100, 400])
def test_a_deeply_nested_schema_is_a_400(client, depth: int) -> None:
    status, body = upload_with_schema(client, nested(depth))
    assert status == 400, body
    assert "nested more than" in body["error"]["message"] or "JSON" in body["error"]["message"]


def test_a_schema_within_the_depth_bound_is_accepted(client) -> None:
    status, body = upload_with_schema(client, nested(10))
    assert status == 201, body
