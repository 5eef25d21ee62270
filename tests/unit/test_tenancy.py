"""Tenants in the model and the services: which keys name a tenant, and what the services let a
tenant see (on in-memory fakes and the real embedded index)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from chalicelib.api.requests import SearchRequest, UploadRequest
from chalicelib.keys import is_valid_tenant, processed_key, tenant_of_key
from chalicelib.model import NotFound, Status
from chalicelib.search import SearchService, to_filters
from tests.unit.test_services import BUCKET, LONG_TEXT, parts, ref_for  # noqa: F401 (parts: a fixture)


@pytest.mark.parametrize(
    ("key", "tenant"),
    [
        ("tenants/acme/uploads/0f/a.pdf", "acme"),
        ("tenants/a.b-c_9/x.txt", "a.b-c_9"),
        ("tenants/acme/", None),
        ("tenants/acme", None),
        ("tenants//x.txt", None),
        ("tenants/../x.txt", None),
        ("tenants/with space/x.txt", None),
        ("tenants/" + "t" * 65 + "/x.txt", None),
        ("uploads/0f/a.pdf", None),
        ("Tenants/acme/x.txt", None),
        ("x/tenants/acme/y.txt", None),
    ],
)
def test_the_tenant_of_a_key_is_its_prefix_and_only_a_valid_name(key, tenant):
    assert tenant_of_key(key) == tenant


def test_tenant_names_are_short_and_plain():
    assert is_valid_tenant("acme") and is_valid_tenant("t" * 64)
    for name in ("", ".", "..", "t" * 65, "a/b", "a b", "ä", None, 7):
        assert not is_valid_tenant(name), name
    assert processed_key("acme", "0" * 32) == f"tenants/acme/processed/{'0' * 32}.json"


def test_search_filters_take_the_tenant_given_never_one_from_the_body():
    assert to_filters("acme", None).tenant == "acme"
    with pytest.raises(ValueError):
        SearchRequest.model_validate({"query": "x", "filters": {"tenant": "globex"}})


def test_services_treat_another_tenants_document_as_missing(parts):  # noqa: F811
    from chalicelib.documents import DocumentsService

    settings, store, catalog, index, embedder, ingest = parts
    documents = DocumentsService(settings, store, catalog, index)
    theirs = ingest.handle(ref_for(store.add(BUCKET, "tenants/globex/herons.txt", LONG_TEXT)))
    assert theirs.status == Status.INDEXED
    assert catalog.get(theirs.document_id).tenant == "globex"
    for call in (documents.get, documents.delete):
        with pytest.raises(NotFound):
            call("acme", theirs.document_id)
    assert documents.list("acme", None, 10, None)["documents"] == []
    assert [d["document_id"] for d in documents.list("globex", None, 10, None)["documents"]] == [
        theirs.document_id
    ]
    search = SearchService(settings, embedder, index, catalog)
    assert search.search("acme", SearchRequest(query="heron colony"))["results"] == []
    assert search.search("globex", SearchRequest(query="heron colony"))["results"]
    assert catalog.get(theirs.document_id).status == Status.INDEXED  # acme's delete removed nothing
    upload = documents.create_upload("acme", UploadRequest(filename="a.txt"))
    assert upload["key"].startswith("tenants/acme/uploads/")
    assert catalog.get(upload["document_id"]).tenant == "acme"


def test_an_object_outside_every_tenant_prefix_fails_unless_a_default_tenant_is_set(parts):  # noqa: F811
    from chalicelib.adapters.local_extractor import LocalExtractor
    from chalicelib.ingest import IngestService

    settings, store, catalog, index, embedder, ingest = parts
    outcome = ingest.handle(ref_for(store.add(BUCKET, "scans/herons.txt", LONG_TEXT)))
    record = catalog.get(outcome.document_id)
    assert record.status == Status.FAILED and record.error_code == "NO_TENANT" and record.tenant is None
    assert "tenants/<tenant>/" in record.error_message and index.count(outcome.document_id) == 0
    defaulted = IngestService(
        replace(settings, default_tenant="acme"), store, catalog, LocalExtractor(), embedder, index
    )
    other = defaulted.handle(ref_for(store.add(BUCKET, "scans/otters.txt", LONG_TEXT)))
    assert other.status == Status.INDEXED and catalog.get(other.document_id).tenant == "acme"
    with pytest.raises(ValueError, match="not a valid tenant"):
        IngestService(
            replace(settings, default_tenant="a b"), store, catalog, LocalExtractor(), embedder, index
        )
