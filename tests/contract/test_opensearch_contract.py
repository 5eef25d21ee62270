"""OpenSearchVectorIndex against a recording HTTP server: every request it sends to OpenSearch
Serverless, pinned, and the documented response shapes fed back (bulk partial failures, k-NN and
BM25 hits, search_after pages). The production client is used: requests, SigV4 for `aoss`."""

from __future__ import annotations

import hashlib
import math
from typing import Any

import pytest

from chalicelib.adapters.opensearch import OpenSearchVectorIndex
from chalicelib.filtering import parse_filter
from chalicelib.model import (
    Chunk,
    ConfigurationError,
    DocumentError,
    ErrorCode,
    IndexedChunk,
    IndexModelMismatch,
    SearchFilters,
    TransientError,
)
from tests.contract.conftest import FakeTime, aoss_index
from tests.contract.recording_server import RecordingServer

INDEX = "/quarry-chunks"
BULK = "/quarry-chunks/_bulk"
SEARCH = "/quarry-chunks/_search"
NOW_NS = 1_700_000_000_123_456_789  # 2023-11-14T22:13:20.123Z
# A search with no filter but the tenant scope every search carries.
ACME = SearchFilters(tenant="acme")
TENANT_CLAUSE = {"term": {"tenant": "acme"}}


def chunk(document_id: str, ordinal: int, text: str = "some text", **fields: Any) -> IndexedChunk:
    vector = [0.0, 0.0, 0.0, 0.0]
    vector[ordinal % 4] = 1.0
    return IndexedChunk(
        chunk=Chunk(f"{document_id}:{ordinal}", document_id, ordinal, text, page=fields.pop("page", None)),
        vector=vector,
        version=fields.pop("version", "v2"),
        key=fields.pop("key", "reports/q3.pdf"),
        content_type=fields.pop("content_type", "application/pdf"),
        metadata=fields.pop("metadata", {"team": "finance"}),
        tenant=fields.pop("tenant", "acme"),
        model_id=fields.pop("model_id", "test/model"),
        dimensions=4,
    )


def created(doc_id: str) -> dict[str, Any]:
    return {
        "index": {"_index": "quarry-chunks", "_id": doc_id, "_version": 1, "result": "created", "status": 201}
    }


def item_error(status: int, kind: str, reason: str) -> dict[str, Any]:
    return {
        "index": {
            "_index": "quarry-chunks",
            "_id": "x",
            "status": status,
            "error": {"type": kind, "reason": reason},
        }
    }


def bulk_response(*items: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    errors = any("error" in next(iter(item.values())) for item in items)
    return 200, {"took": 3, "errors": errors, "items": list(items)}


def hits(*found: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    return 200, {
        "took": 2,
        "timed_out": False,
        "_shards": {"total": 0, "successful": 0, "skipped": 0, "failed": 0},
        "hits": {"total": {"value": len(found), "relation": "eq"}, "max_score": None, "hits": list(found)},
    }


def source_hit(
    doc_id: str, score: float, document_id: str, chunk_id: str, generation: str, version: str = "v"
) -> dict[str, Any]:
    return {
        "_index": "quarry-chunks",
        "_id": doc_id,
        "_score": score,
        "_source": {
            "chunk_id": chunk_id,
            "document_id": document_id,
            "generation": generation,
            "version": version,
            "text": f"text of {chunk_id}",
            "key": f"{document_id}.txt",
            "page": None,
            "content_type": "text/plain",
            "metadata": {"team": "a"},
        },
    }


# The fields typed filters read, as the index maps them.
TYPED_FILTER_MAPPING = {
    "attributes": {
        "type": "nested",
        "properties": {
            "name": {"type": "keyword"},
            "kind": {"type": "keyword"},
            "s": {"type": "keyword"},
            "n": {"type": "double"},
            "b": {"type": "boolean"},
        },
    },
    "created_at": {"type": "keyword"},
}


def existing_index(server: RecordingServer, dimensions: int = 4, typed_filter_fields: bool = True) -> None:
    server.on("HEAD", INDEX, (200, None))
    properties = {"vector": {"type": "knn_vector", "dimension": dimensions}, "model_id": {"type": "keyword"}}
    if typed_filter_fields:
        properties.update(TYPED_FILTER_MAPPING)
    mapping = {
        "mappings": {
            "_meta": {"embedding_model": {"model_id": "test/model", "dimensions": dimensions}},
            "properties": properties,
        }
    }
    server.on("GET", f"{INDEX}/_mapping", (200, {"quarry-chunks": mapping}))


def test_ensure_index_creates_the_knn_and_text_mapping(aoss: RecordingServer, fake_time: FakeTime) -> None:
    aoss.on("HEAD", INDEX, (404, None))
    aoss.on(
        "PUT", INDEX, (200, {"acknowledged": True, "shards_acknowledged": True, "index": "quarry-chunks"})
    )
    aoss_index(aoss, fake_time, model_id="test/model").ensure_index()
    [create] = aoss.sent("PUT", INDEX)
    keyword = {"type": "keyword"}
    assert create.json() == {
        "settings": {"index": {"knn": True}},
        "mappings": {
            # The index's embedding model, set at creation: the guard against mixing models reads it.
            "_meta": {"embedding_model": {"model_id": "test/model", "dimensions": 4}},
            "dynamic": "strict",
            "properties": {
                "vector": {
                    "type": "knn_vector",
                    "dimension": 4,
                    "method": {
                        "name": "hnsw",
                        "engine": "faiss",
                        "space_type": "innerproduct",
                        "parameters": {"m": 16, "ef_construction": 128},
                    },
                },
                "text": {"type": "text", "analyzer": "english"},
                "chunk_id": keyword,
                "document_id": keyword,
                "tenant": keyword,
                "version": keyword,
                "generation": keyword,
                "entry_id": keyword,
                "key": keyword,
                "content_type": keyword,
                "metadata_pairs": keyword,
                "metadata": {"type": "object", "enabled": False},
                "ordinal": {"type": "integer"},
                "page": {"type": "integer"},
                "start": {"type": "integer", "index": False},
                "end": {"type": "integer", "index": False},
                "indexed_at": {"type": "date"},
                "model_id": keyword,
                "dimensions": {"type": "integer", "index": False},
                **TYPED_FILTER_MAPPING,
            },
        },
    }


def test_an_index_from_before_typed_filters_gains_their_fields(
    aoss: RecordingServer, fake_time: FakeTime
) -> None:
    existing_index(aoss, typed_filter_fields=False)
    aoss.on("PUT", f"{INDEX}/_mapping", (200, {"acknowledged": True}))
    aoss_index(aoss, fake_time).ensure_index()
    [put] = aoss.sent("PUT", f"{INDEX}/_mapping")
    assert put.json() == {"properties": TYPED_FILTER_MAPPING}


def test_an_index_with_the_typed_filter_fields_is_left_alone(
    aoss: RecordingServer, fake_time: FakeTime
) -> None:
    existing_index(aoss)
    aoss_index(aoss, fake_time).ensure_index()
    assert aoss.sent("PUT", f"{INDEX}/_mapping") == []


def test_ensure_index_tolerates_a_concurrent_create(aoss: RecordingServer, fake_time: FakeTime) -> None:
    aoss.on("HEAD", INDEX, (404, None))
    aoss.on(
        "PUT",
        INDEX,
        (400, {"error": {"type": "resource_already_exists_exception", "reason": "exists"}, "status": 400}),
    )
    aoss.on(
        "GET",
        f"{INDEX}/_mapping",
        (
            200,
            {
                "quarry-chunks": {
                    "mappings": {
                        "properties": {
                            "vector": {"type": "knn_vector", "dimension": 4},
                            "model_id": {"type": "keyword"},
                            **TYPED_FILTER_MAPPING,
                        }
                    }
                }
            },
        ),
    )
    aoss_index(aoss, fake_time).ensure_index()
    assert len(aoss.sent("PUT", INDEX)) == 1


def test_an_index_made_before_models_were_recorded_gains_the_model_fields(
    aoss: RecordingServer, fake_time: FakeTime
) -> None:
    aoss.on("HEAD", INDEX, (200, None))
    legacy = {"mappings": {"properties": {"vector": {"type": "knn_vector", "dimension": 4}}}}
    aoss.on("GET", f"{INDEX}/_mapping", (200, {"quarry-chunks": legacy}))
    aoss.on("PUT", f"{INDEX}/_mapping", (200, {"acknowledged": True}))
    index = aoss_index(aoss, fake_time, model_id="test/model")
    index.ensure_index()
    # The model fields, then (a separate request, as old an index lacks them too) the typed-filter ones.
    [upgrade, typed] = aoss.sent("PUT", f"{INDEX}/_mapping")
    assert typed.json() == {"properties": TYPED_FILTER_MAPPING}
    assert upgrade.json() == {
        "properties": {"model_id": {"type": "keyword"}, "dimensions": {"type": "integer", "index": False}}
    }
    # Its vectors are taken to be the configured model's, their size agreeing.
    assert str(index.embedding_model()) == "test/model (4-d)"


def test_ensure_index_refuses_an_index_of_another_dimension(
    aoss: RecordingServer, fake_time: FakeTime
) -> None:
    existing_index(aoss, dimensions=1024)
    with pytest.raises(IndexModelMismatch, match=r"holds vectors of test/model \(1024-d\)"):
        aoss_index(aoss, fake_time).ensure_index()
    assert aoss.sent("PUT", INDEX) == []


def test_requests_are_signed_with_sigv4_for_aoss(aoss: RecordingServer, fake_time: FakeTime) -> None:
    aoss.on("POST", SEARCH, hits())
    aoss_index(aoss, fake_time).search_keyword("revenue", 5, ACME)
    [request] = aoss.sent("POST", SEARCH)
    authorization = request.headers["authorization"]
    assert authorization.startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "/us-east-1/aoss/aws4_request" in authorization
    signed = authorization.split("SignedHeaders=")[1].split(",")[0].split(";")
    assert {"host", "x-amz-content-sha256", "x-amz-date", "x-amz-security-token"} <= set(signed)
    assert request.headers["x-amz-content-sha256"] == hashlib.sha256(request.body).hexdigest()
    assert request.headers["x-amz-security-token"] == "fake-session-token"


def test_bulk_index_lines_carry_no_id_and_no_refresh(aoss: RecordingServer, fake_time: FakeTime) -> None:
    existing_index(aoss)
    aoss.on("POST", BULK, bulk_response(created("s1"), created("s2")))
    aoss.on("POST", SEARCH, hits())
    index = aoss_index(aoss, fake_time, wall_clock_ns=lambda: NOW_NS)
    index.replace_document("q3", "v2", [chunk("q3", 0, "Revenue grew.", page=1), chunk("q3", 1)])
    [bulk] = aoss.sent("POST", BULK)
    assert bulk.query == {}  # no refresh: AOSS rejects it
    assert bulk.headers["content-type"].startswith("application/")
    lines = bulk.ndjson()
    assert lines[0] == {"index": {}} and lines[2] == {"index": {}}
    first = lines[1]
    assert "_id" not in first
    assert first["entry_id"] != lines[3]["entry_id"]
    assert first == {
        "chunk_id": "q3:0",
        "document_id": "q3",
        "tenant": "acme",
        "version": "v2",
        "generation": first["generation"],
        "indexed_at": "2023-11-14T22:13:20.123Z",
        "key": "reports/q3.pdf",
        "content_type": "application/pdf",
        "metadata": {"team": "finance"},
        "metadata_pairs": ["team=finance"],
        "attributes": [{"name": "team", "kind": "string", "s": "finance"}],
        "created_at": "",
        "ordinal": 0,
        "page": 1,
        "start": 0,
        "end": 0,
        "text": "Revenue grew.",
        "vector": [1.0, 0.0, 0.0, 0.0],
        "model_id": "test/model",
        "dimensions": 4,
        "entry_id": first["entry_id"],
    }
    assert first["generation"].startswith(f"{NOW_NS:020d}-")


def test_throttled_bulk_items_are_resent_alone(aoss: RecordingServer, fake_time: FakeTime) -> None:
    existing_index(aoss)
    aoss.on(
        "POST",
        BULK,
        bulk_response(created("s1"), item_error(429, "too_many_requests", "throttled"), created("s3")),
        bulk_response(created("s2")),
    )
    aoss.on("POST", SEARCH, hits())
    aoss_index(aoss, fake_time).replace_document("q3", "v2", [chunk("q3", 0), chunk("q3", 1), chunk("q3", 2)])
    first, second = aoss.sent("POST", BULK)
    assert len(first.ndjson()) == 6
    resent = second.ndjson()
    assert len(resent) == 2 and resent[0] == {"index": {}}
    assert resent[1]["chunk_id"] == "q3:1"
    assert len(fake_time.sleeps) == 1


def test_a_rejected_bulk_item_fails_the_write_and_removes_what_was_written(
    aoss: RecordingServer, fake_time: FakeTime
) -> None:
    existing_index(aoss)
    aoss.on(
        "POST",
        BULK,
        bulk_response(
            created("s1"),
            item_error(400, "mapper_parsing_exception", "failed to parse [page]"),
            created("s3"),
        ),
        bulk_response(
            {"delete": {"_id": "s1", "result": "deleted", "status": 200}},
            {"delete": {"_id": "s3", "result": "deleted", "status": 200}},
        ),
    )
    with pytest.raises(DocumentError) as caught:
        aoss_index(aoss, fake_time).replace_document(
            "q3", "v2", [chunk("q3", 0), chunk("q3", 1), chunk("q3", 2)]
        )
    assert caught.value.code is ErrorCode.PROVIDER_ERROR
    assert "rejected 1 of 3 bulk items" in caught.value.message
    assert "mapper_parsing_exception: failed to parse [page]" in caught.value.message
    _, cleanup = aoss.sent("POST", BULK)
    assert cleanup.ndjson() == [{"delete": {"_id": "s1"}}, {"delete": {"_id": "s3"}}]
    assert aoss.sent("POST", SEARCH) == []  # the older version is left alone


def test_bulk_items_failing_past_the_deadline_raise_transient(
    aoss: RecordingServer, fake_time: FakeTime
) -> None:
    existing_index(aoss)
    aoss.on("POST", BULK, bulk_response(item_error(503, "unavailable", "busy")))
    with pytest.raises(TransientError, match="bulk items throttled or failed"):
        aoss_index(aoss, fake_time, write_deadline_s=30).replace_document("q3", "v2", [chunk("q3", 0)])
    assert sum(fake_time.sleeps) <= 30


def test_replace_deletes_older_generations_found_by_search_after(
    aoss: RecordingServer, fake_time: FakeTime
) -> None:
    existing_index(aoss)
    aoss.on(
        "POST",
        BULK,
        bulk_response(created("new-1")),
        bulk_response(
            *({"delete": {"_id": i, "result": "deleted", "status": 200}} for i in ("o1", "o2", "o3"))
        ),
    )
    aoss.on(
        "POST",
        SEARCH,
        hits({"_id": "o1", "_score": None, "sort": ["e1"]}, {"_id": "o2", "_score": None, "sort": ["e2"]}),
        hits({"_id": "o3", "_score": None, "sort": ["e3"]}),
    )
    aoss_index(aoss, fake_time, page_size=2).replace_document("q3", "v2", [chunk("q3", 0)])
    write, delete = aoss.sent("POST", BULK)
    generation = write.ndjson()[1]["generation"]
    first_page, second_page = (r.json() for r in aoss.sent("POST", SEARCH))
    assert first_page == {
        "size": 2,
        "query": {
            "bool": {
                "filter": [{"term": {"document_id": "q3"}}],
                "must_not": [{"term": {"generation": generation}}],
            }
        },
        "sort": [{"entry_id": "asc"}],
        "_source": False,
        "track_total_hits": False,
    }
    assert second_page == {**first_page, "search_after": ["e2"]}
    assert delete.ndjson() == [
        {"delete": {"_id": "o1"}},
        {"delete": {"_id": "o2"}},
        {"delete": {"_id": "o3"}},
    ]


def test_delete_document_looks_up_ids_and_counts_what_was_deleted(
    aoss: RecordingServer, fake_time: FakeTime
) -> None:
    aoss.on(
        "POST",
        SEARCH,
        hits({"_id": "a", "_score": None, "sort": ["e1"]}, {"_id": "b", "_score": None, "sort": ["e2"]}),
    )
    aoss.on(
        "POST",
        BULK,
        bulk_response(
            {"delete": {"_id": "a", "result": "deleted", "status": 200}},
            {"delete": {"_id": "b", "result": "not_found", "status": 404}},
        ),
    )
    assert aoss_index(aoss, fake_time).delete_document("q3") == 1
    [lookup] = aoss.sent("POST", SEARCH)
    assert lookup.json()["query"] == {"bool": {"filter": [{"term": {"document_id": "q3"}}]}}
    assert aoss.sent("POST", BULK)[0].ndjson() == [{"delete": {"_id": "a"}}, {"delete": {"_id": "b"}}]


ALL_FILTERS = SearchFilters(
    tenant="acme",
    content_types=("application/pdf", "text/html"),
    key_prefix="reports/",
    metadata=(("lang", "en"), ("a=b", "c")),
    document_ids=("q3",),
)
EXPECTED_CLAUSES = [
    TENANT_CLAUSE,
    {"terms": {"content_type": ["application/pdf", "text/html"]}},
    {"prefix": {"key": "reports/"}},
    {"term": {"metadata_pairs": "lang=en"}},
    {"term": {"metadata_pairs": "a\\=b=c"}},
    {"terms": {"document_id": ["q3"]}},
]


def test_knn_query_filters_inside_the_knn_clause(aoss: RecordingServer, fake_time: FakeTime) -> None:
    aoss.on(
        "POST",
        SEARCH,
        hits(source_hit("h1", 1.8, "q3", "q3:0", "g1"), source_hit("h2", 0.5, "q3", "q3:1", "g1")),
    )
    found = aoss_index(aoss, fake_time).search_vector([0.6, 0.8, 0.0, 0.0], 5, ALL_FILTERS)
    [request] = aoss.sent("POST", SEARCH)
    assert request.json() == {
        "size": 15,
        "_source": {"excludes": ["vector"]},
        "query": {
            "knn": {
                "vector": {
                    "vector": [0.6, 0.8, 0.0, 0.0],
                    "k": 15,
                    "filter": {"bool": {"filter": EXPECTED_CLAUSES}},
                }
            }
        },
    }
    # faiss innerproduct scores mapped back to cosine: 1 + dot for dot >= 0, 1 / (1 - dot) below.
    assert [h.chunk_id for h in found] == ["q3:0", "q3:1"]
    assert found[0].score == pytest.approx(0.8)
    assert found[1].score == pytest.approx(-1.0)
    assert found[0].metadata == {"team": "a"} and found[0].key == "q3.txt" and found[0].page is None
    # The chunk's version comes back with it: search checks it against the catalog.
    assert found[0].version == "v"


def test_a_typed_filter_goes_inside_the_knn_clause_beside_the_others(
    aoss: RecordingServer, fake_time: FakeTime
) -> None:
    aoss.on("POST", SEARCH, hits())
    expression = parse_filter(
        {
            "andAll": [
                {"greaterThan": {"key": "year", "value": 2020}},
                {"notEquals": {"key": "key", "value": "a"}},
            ]
        }
    )
    filters = SearchFilters(tenant="acme", expression=expression)
    aoss_index(aoss, fake_time).search_vector([1.0, 0.0, 0.0, 0.0], 2, filters)
    year_over_2020 = [
        {"term": {"attributes.name": "year"}},
        {"term": {"attributes.kind": "number"}},
        {"range": {"attributes.n": {"gt": 2020}}},
    ]
    typed = {
        "bool": {
            "filter": [
                {"nested": {"path": "attributes", "query": {"bool": {"filter": year_over_2020}}}},
                {"bool": {"must_not": [{"term": {"key": "a"}}]}},
            ]
        }
    }
    assert aoss.sent("POST", SEARCH)[0].json()["query"]["knn"]["vector"]["filter"] == {
        "bool": {"filter": [TENANT_CLAUSE, typed]}
    }


def test_knn_query_without_filters_filters_by_the_tenant_alone(
    aoss: RecordingServer, fake_time: FakeTime
) -> None:
    aoss.on("POST", SEARCH, hits())
    assert aoss_index(aoss, fake_time).search_vector([1.0, 0.0, 0.0, 0.0], 2, ACME) == []
    assert aoss.sent("POST", SEARCH)[0].json()["query"] == {
        "knn": {
            "vector": {
                "vector": [1.0, 0.0, 0.0, 0.0],
                "k": 6,
                "filter": {"bool": {"filter": [TENANT_CLAUSE]}},
            }
        }
    }


def test_keyword_query_is_a_bm25_match_with_filters(aoss: RecordingServer, fake_time: FakeTime) -> None:
    aoss.on("POST", SEARCH, hits(source_hit("h1", 7.25, "q3", "q3:0", "g1")))
    found = aoss_index(aoss, fake_time).search_keyword("quarterly revenue", 4, ALL_FILTERS)
    assert aoss.sent("POST", SEARCH)[0].json() == {
        "size": 12,
        "_source": {"excludes": ["vector"]},
        "query": {
            "bool": {
                "must": [{"match": {"text": {"query": "quarterly revenue", "operator": "or"}}}],
                "filter": EXPECTED_CLAUSES,
            }
        },
    }
    assert [(h.chunk_id, h.score) for h in found] == [("q3:0", 7.25)]


@pytest.mark.parametrize("mode", ["vector", "keyword"])
def test_results_keep_only_each_documents_newest_generation(
    aoss: RecordingServer, fake_time: FakeTime, mode: str
) -> None:
    old, new = "01700000000000000000-aaaa", "01700000060000000000-bbbb"
    aoss.on(
        "POST",
        SEARCH,
        hits(
            source_hit("1", 1.9, "a", "a:0", old),  # the old version, still visible: ranks first
            source_hit("2", 1.8, "a", "a:0", new),
            source_hit("3", 1.7, "b", "b:0", old),  # another document's only generation: kept
            source_hit("4", 1.6, "a", "a:0", new),  # the same chunk stored twice: kept once
            source_hit("5", 1.5, "a", "a:1", new),
            source_hit("6", 1.4, "a", "a:1", old),
        ),
    )
    index = aoss_index(aoss, fake_time)
    if mode == "vector":
        found = index.search_vector([1.0, 0.0, 0.0, 0.0], 10, ACME)
    else:
        found = index.search_keyword("text", 10, ACME)
    assert [(h.document_id, h.chunk_id) for h in found] == [("a", "a:0"), ("b", "b:0"), ("a", "a:1")]
    scores = [h.score for h in found]
    assert scores == sorted(scores, reverse=True)


def test_results_are_cut_to_k_after_dropping_stale_hits(aoss: RecordingServer, fake_time: FakeTime) -> None:
    aoss.on("POST", SEARCH, hits(*(source_hit(str(i), 10 - i, "a", f"a:{i}", "g") for i in range(6))))
    found = aoss_index(aoss, fake_time).search_keyword("text", 2, ACME)
    assert [h.chunk_id for h in found] == ["a:0", "a:1"]
    assert aoss.sent("POST", SEARCH)[0].json()["size"] == 6  # over-fetched: 3 x k


def test_search_retries_server_errors_then_succeeds(aoss: RecordingServer, fake_time: FakeTime) -> None:
    aoss.on("POST", SEARCH, (503, {"error": "unavailable"}), hits(source_hit("1", 2.0, "a", "a:0", "g")))
    found = aoss_index(aoss, fake_time).search_keyword("text", 1, ACME)
    assert [h.chunk_id for h in found] == ["a:0"]
    assert len(aoss.sent("POST", SEARCH)) == 2
    assert len(fake_time.sleeps) == 1


def test_forbidden_is_a_configuration_error_retried_later(aoss: RecordingServer, fake_time: FakeTime) -> None:
    aoss.on(
        "POST",
        SEARCH,
        (403, {"status": 403, "request-id": "r1", "error": {"reason": "403 Forbidden", "type": "Forbidden"}}),
    )
    # Issue 12: was DocumentError(PROVIDER_ERROR) (every document FAILED at once while the collection's
    # data-access policy was wrong); now ConfigurationError, a TransientError naming the fix.
    with pytest.raises(ConfigurationError, match="OpenSearch 403") as caught:
        aoss_index(aoss, fake_time).search_keyword("text", 1, ACME)
    assert isinstance(caught.value, TransientError) and not isinstance(caught.value, DocumentError)
    assert "data-access policy" in caught.value.fix
    assert len(aoss.sent("POST", SEARCH)) == 1
    assert fake_time.sleeps == []


def test_a_missing_index_searches_and_counts_as_empty(aoss: RecordingServer, fake_time: FakeTime) -> None:
    missing = (
        404,
        {"error": {"type": "index_not_found_exception", "reason": "no such index"}, "status": 404},
    )
    aoss.on("POST", SEARCH, missing)
    aoss.on("POST", "/quarry-chunks/_count", missing)
    index = aoss_index(aoss, fake_time)
    assert index.search_keyword("text", 3, ACME) == []
    assert index.count() == 0


def test_count_queries_the_count_api(aoss: RecordingServer, fake_time: FakeTime) -> None:
    aoss.on("POST", "/quarry-chunks/_count", (200, {"count": 7, "_shards": {"total": 0, "successful": 0}}))
    index = aoss_index(aoss, fake_time)
    assert index.count("q3") == 7
    assert index.count() == 7
    first, second = aoss.sent("POST", "/quarry-chunks/_count")
    assert first.json() == {"query": {"term": {"document_id": "q3"}}}
    assert second.json() == {"query": {"match_all": {}}}


def test_vectors_that_are_not_unit_length_are_refused(fake_time: FakeTime) -> None:
    index = OpenSearchVectorIndex(object(), "quarry-chunks", 4)
    bad = IndexedChunk(
        Chunk("q3:0", "q3", 0, "t"),
        [0.5, 0.5, 0.0, 0.0],
        "v1",
        "k",
        "text/plain",
        tenant="acme",
        model_id="test/model",
        dimensions=4,
    )
    with pytest.raises(ValueError, match="expected unit length"):
        index.replace_document("q3", "v1", [bad])
    assert math.isclose(sum(x * x for x in chunk("q3", 0).vector), 1.0)
