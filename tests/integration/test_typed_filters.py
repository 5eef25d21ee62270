"""Typed metadata and the `filter` field end to end: an upload's typed metadata goes through the real
ingest path (moto S3 → EventBridge → SQS → worker) into the catalog and the index, and POST /search
selects by it; a malformed filter is a 400 naming the clause."""

from __future__ import annotations

import json

from tests.documents import FACT_DOCUMENTS
from tests.integration.pipeline import drain, poller, upload

JSON = {"Content-Type": "application/json"}


def search(http, body):
    return http.post("/search", headers=JSON, body=json.dumps(body))


def test_typed_metadata_is_kept_and_filtered_on(http, container, aws, resources):
    data, _ = FACT_DOCUMENTS["lighthouse.txt"]
    old = upload(container, "old.txt", data, {"year": 2019, "tags": ["coast", "birds"], "public": True})
    new = upload(
        container, "new.txt", data, {"year": 2024, "tags": ["coast"], "public": False, "team": "sea"}
    )
    views = drain(poller(aws, resources), container, [old, new])
    assert {v["status"] for v in views.values()} == {"INDEXED"}
    assert views[old]["metadata"] == {"year": 2019, "tags": ["coast", "birds"], "public": True}

    def found(filter_, mode="keyword"):
        response = search(http, {"query": "Skerryvore seabirds", "mode": mode, "filter": filter_})
        assert response.status_code == 200, response.body
        return {hit["document_id"] for hit in json.loads(response.body)["results"]}

    for mode in ("keyword", "vector", "hybrid"):
        assert found({"greaterThan": {"key": "year", "value": 2020}}, mode) == {new}
        assert found({"listContains": {"key": "tags", "value": "birds"}}, mode) == {old}
    assert found({"equals": {"key": "public", "value": True}}) == {old}
    assert found({"equals": {"key": "year", "value": "2019"}}) == set()
    assert found(
        {"orAll": [{"equals": {"key": "team", "value": "sea"}}, {"startsWith": {"key": "key", "value": "x"}}]}
    ) == {new}
    # The old `filters` object still works, ANDed with `filter`.
    response = search(
        http,
        {
            "query": "Skerryvore",
            "mode": "keyword",
            "filters": {"document_id": [old, new]},
            "filter": {"notEquals": {"key": "team", "value": "sea"}},
        },
    )
    assert {hit["document_id"] for hit in json.loads(response.body)["results"]} == {old}
    hit = json.loads(
        search(http, {"query": "Skerryvore", "filter": {"equals": {"key": "document_id", "value": new}}}).body
    )["results"][0]
    assert hit["metadata"] == {"year": 2024, "tags": ["coast"], "public": False, "team": "sea"}


def test_a_malformed_filter_is_a_400_naming_the_clause(http):
    body = {
        "query": "x",
        "filter": {
            "andAll": [{"equals": {"key": "a", "value": 1}}, {"greaterThan": {"key": "b", "value": "z"}}]
        },
    }
    response = search(http, body)
    assert response.status_code == 400
    error = json.loads(response.body)["error"]
    assert error["code"] == "validation_error"
    assert "filter.andAll[1].greaterThan.value: greaterThan needs a number" in error["message"]


def test_search_pages_over_http_and_a_forged_cursor_is_a_400(http, container, aws, resources):
    data, _ = FACT_DOCUMENTS["lighthouse.txt"]
    ids = [upload(container, f"copy{i}.txt", data, {"i": i}) for i in range(3)]
    drain(poller(aws, resources), container, ids)
    body = {"query": "Skerryvore lighthouse", "mode": "hybrid", "k": 1, "group_by": "document"}
    seen, cursor = [], None
    while True:
        answer = json.loads(search(http, {**body, "cursor": cursor} if cursor else body).body)
        seen.extend(result["document_id"] for result in answer["results"])
        assert all(result["chunks"][0]["highlights"] for result in answer["results"])
        cursor = answer["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(ids)
    forged = search(http, {**body, "cursor": "eyJwIjo1fQ.AAAAAAAAAAAAAAAAAAAAAA"})
    assert forged.status_code == 400 and json.loads(forged.body)["error"]["code"] == "invalid_cursor"


def test_rerank_on_the_local_stage_is_a_clear_400(http):
    response = search(http, {"query": "anything", "rerank": True})
    assert response.status_code == 400
    error = json.loads(response.body)["error"]
    assert error["code"] == "rerank_unavailable" and "offline" in error["message"]
