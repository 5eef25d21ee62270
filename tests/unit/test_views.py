"""The response views answer in the shapes chalicelib/api/openapi.py describes (the API fuzz test checks
the same over HTTP; this checks every branch of each view without a server)."""

from __future__ import annotations

import pytest
from jsonschema import Draft202012Validator

from chalicelib.adapters.local_extractor import LocalExtractor
from chalicelib.api.openapi import openapi_spec
from chalicelib.api.views import document_view, extraction_view, hit_view
from chalicelib.model import DocumentRecord, ExtractionResult, Hit, Status
from tests.documents import FACT_DOCUMENTS

T0 = "2026-01-01T00:00:00.000Z"


def conforms(value: object, schema_name: str) -> None:
    spec = openapi_spec()
    schema = {"$ref": f"#/components/schemas/{schema_name}", "components": spec["components"]}
    problems = Draft202012Validator(schema).iter_errors(value)
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in problems]
    assert not errors, errors


def pending() -> DocumentRecord:
    return DocumentRecord(
        "0" * 32, Status.PENDING, "raw", "tenants/acme/uploads/x/a.txt", T0, T0, tenant="acme"
    )


def indexed() -> DocumentRecord:
    text = FACT_DOCUMENTS["lighthouse.txt"][0].decode()
    return DocumentRecord(
        "1" * 32,
        Status.INDEXED,
        "raw",
        "tenants/acme/a.txt",
        T0,
        T0,
        tenant="acme",
        etag="v1",
        size=len(text),
        content_type="text/plain",
        metadata={"team": "coast"},
        chunk_count=3,
        extraction=extraction_view(LocalExtractor().extract(text)),
        timings_ms={"fetch": 1.5, "parse": 0.25},
    )


def failed() -> DocumentRecord:
    return DocumentRecord(
        "2" * 32,
        Status.FAILED,
        "raw",
        "tenants/acme/b.pdf",
        T0,
        T0,
        tenant="acme",
        error_code="ENCRYPTED",
        error_message="locked",
    )


@pytest.mark.parametrize("record", [pending(), indexed(), failed()], ids=["pending", "indexed", "failed"])
def test_a_document_view_is_a_described_document(record):
    conforms(document_view(record), "Document")


def test_an_extraction_view_shows_every_field_of_the_result_and_a_failed_one_is_described_too():
    failed_extraction = ExtractionResult(data={}, model="claude", input_tokens=12, error="throttled")
    view = extraction_view(failed_extraction)
    assert view == {
        "data": {},
        "model": "claude",
        "input_tokens": 12,
        "output_tokens": 0,
        "latency_ms": 0.0,
        "error": "throttled",
    }
    conforms(view, "ExtractionView")


def test_a_list_of_document_views_is_a_described_list():
    page = {"documents": [document_view(pending()), document_view(failed())], "next_cursor": None}
    conforms(page, "DocumentList")


def test_hit_views_with_and_without_a_page_are_described_results():
    hits = [
        Hit("c1", "1" * 32, 0.9, "text", "a.pdf", 3, "application/pdf", {"team": "coast"}),
        Hit("c2", "1" * 32, 0.5, "text", "a.txt", None, "text/plain", {}),
    ]
    views = [hit_view(hit) for hit in hits]
    assert views[0]["source"]["page"] == 3 and "page" not in views[1]["source"]
    conforms(
        {"results": views, "next_cursor": None, "took_ms": 1.0, "timings_ms": {"vector": 0.5}},
        "SearchResponse",
    )


def test_a_view_the_description_does_not_allow_is_caught():
    view = document_view(pending())
    view["unexpected"] = True
    with pytest.raises(AssertionError, match="unexpected"):
        conforms(view, "Document")
