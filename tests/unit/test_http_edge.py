"""The HTTP edge: domain errors become 4xx in our shape on every route, and query strings parse once."""

from __future__ import annotations

import json

import pytest
from chalice import Chalice
from chalice.test import Client

from app import app
from chalicelib.api.http import map_domain_errors, parse_list_query
from chalicelib.model import InvalidRequest, NotFound


def test_every_route_of_the_app_maps_domain_errors() -> None:
    unwrapped = [
        f"{method} {path}"
        for path, methods in app.routes.items()
        for method, entry in methods.items()
        if not hasattr(entry.view_function, "__wrapped__")
    ]
    assert unwrapped == []


def test_domain_errors_answer_4xx_in_the_error_shape() -> None:
    demo = Chalice(app_name="demo")

    @demo.route("/invalid")
    def invalid():
        raise InvalidRequest("invalid_thing", "the thing is wrong")

    @demo.route("/missing/{document_id}")
    def missing(document_id):
        raise NotFound(document_id)

    @demo.route("/broken")
    def broken():
        raise RuntimeError("not a domain error")

    map_domain_errors(demo)
    with Client(demo) as client:
        invalid_response = client.http.get("/invalid")
        missing_response = client.http.get("/missing/abc")
        broken_response = client.http.get("/broken")
    assert invalid_response.status_code == 400
    assert json.loads(invalid_response.body) == {
        "error": {"code": "invalid_thing", "message": "the thing is wrong"}
    }
    assert missing_response.status_code == 404
    assert json.loads(missing_response.body)["error"]["code"] == "not_found"
    # Anything else is a bug, and stays Chalice's 500: the mapping must not hide it as a 4xx.
    assert broken_response.status_code == 500


def test_list_query_defaults_and_values() -> None:
    assert parse_list_query(None) == parse_list_query({})
    default = parse_list_query(None)
    assert (default.status, default.limit, default.cursor) == (None, 20, None)
    given = parse_list_query({"status": "failed", "limit": "5", "cursor": "abc"})
    assert (given.status, given.limit, given.cursor) == ("failed", 5, "abc")


def test_a_limit_that_is_not_an_integer_is_a_400() -> None:
    with pytest.raises(InvalidRequest) as raised:
        parse_list_query({"limit": "ten"})
    assert raised.value.code == "invalid_limit"
