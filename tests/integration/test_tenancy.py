"""Two signed-in users of two tenants through the app's HTTP interface (chalice.test), on the real
ingest path: neither can get, list, search or delete the other's documents, and another tenant's
document answers exactly as a missing one does."""

from __future__ import annotations

import json
import time

import pytest

from chalicelib.model import document_id_for
from devstack.client import put_presigned
from tests.conftest import ALICE, BOB
from tests.documents import FACT_DOCUMENTS
from tests.integration.pipeline import drain, poller

JSON = {"Content-Type": "application/json"}
MISSING_ID = "f" * 32


def body_of(response):
    return json.loads(response.body)


def upload_as(client, filename: str, data: bytes) -> str:
    answer = client.post("/uploads", headers=JSON, body=json.dumps({"filename": filename}))
    assert answer.status_code == 201, answer.body
    created = body_of(answer)
    put_presigned(created["upload"], data)
    return created["document_id"]


@pytest.fixture
def two_tenants(http_as, container, aws, resources):
    """ALICE (acme) and BOB (globex) each with one indexed document about the same lighthouse."""
    alice, bob = http_as(ALICE), http_as(BOB)
    text = FACT_DOCUMENTS["lighthouse.txt"][0]
    alices = upload_as(alice, "lighthouse.txt", text)
    bobs = upload_as(bob, "lighthouse.txt", text)
    worker = poller(aws, resources)
    assert drain(worker, container, [alices], tenant=ALICE.tenant)[alices]["status"] == "INDEXED"
    assert drain(worker, container, [bobs], tenant=BOB.tenant)[bobs]["status"] == "INDEXED"
    return alice, bob, alices, bobs


def test_another_tenants_document_answers_exactly_like_a_missing_one(two_tenants):
    alice, bob, alices, bobs = two_tenants
    for client, theirs in ((alice, bobs), (bob, alices)):
        for method in ("get", "delete"):
            other = getattr(client, method)(f"/documents/{theirs}")
            missing = getattr(client, method)(f"/documents/{MISSING_ID}")
            assert other.status_code == missing.status_code == 404
            assert body_of(other)["error"]["code"] == body_of(missing)["error"]["code"]
            assert (
                body_of(other)["error"]["message"].replace(theirs, MISSING_ID)
                == (body_of(missing)["error"]["message"])
            )
    # Nothing was deleted by the attempts: each still has its own document.
    assert body_of(alice.get(f"/documents/{alices}"))["status"] == "INDEXED"
    assert body_of(bob.get(f"/documents/{bobs}"))["status"] == "INDEXED"


def test_listings_and_searches_show_only_the_callers_documents(two_tenants):
    alice, bob, alices, bobs = two_tenants
    for client, own in ((alice, alices), (bob, bobs)):
        for query in ("/documents", "/documents?status=INDEXED"):
            listed = body_of(client.get(query))
            assert [d["document_id"] for d in listed["documents"]] == [own]
        for mode in ("hybrid", "vector", "keyword"):
            search = {"query": "Skerryvore seabirds lighthouse", "mode": mode, "k": 50}
            answer = client.post("/search", headers=JSON, body=json.dumps(search))
            results = body_of(answer)["results"]
            assert results and {r["document_id"] for r in results} == {own}, mode
            # Naming the other tenant's document in the filters finds nothing either.
            other = bobs if own == alices else alices
            search["filters"] = {"document_id": other}
            assert body_of(client.post("/search", headers=JSON, body=json.dumps(search)))["results"] == []


def test_a_tenant_in_the_request_body_is_refused_not_obeyed(two_tenants):
    alice, _, _, _ = two_tenants
    search = {"query": "lighthouse", "filters": {"tenant": "globex"}}
    assert alice.post("/search", headers=JSON, body=json.dumps(search)).status_code == 400


def test_deleting_ones_own_document_leaves_the_others(two_tenants, container):
    alice, bob, alices, bobs = two_tenants
    assert alice.delete(f"/documents/{alices}").status_code == 200
    assert container.index.count(alices) == 0 and container.index.count(bobs) > 0
    assert body_of(bob.get(f"/documents/{bobs}"))["status"] == "INDEXED"
    search = {"query": "Skerryvore seabirds", "mode": "keyword"}
    assert body_of(alice.post("/search", headers=JSON, body=json.dumps(search)))["results"] == []
    assert body_of(bob.post("/search", headers=JSON, body=json.dumps(search)))["results"]


def test_a_direct_drop_under_a_tenant_prefix_is_that_tenants(
    http_as, container, aws, resources, aws_settings
):
    key = "tenants/globex/scans/trams.csv"
    aws["s3"].put_object(
        Bucket=aws_settings.raw_bucket, Key=key, Body=FACT_DOCUMENTS["trams.csv"][0], ContentType="text/csv"
    )
    document_id = document_id_for(aws_settings.raw_bucket, key)
    assert drain(poller(aws, resources), container, [document_id], tenant="globex")[document_id][
        "status"
    ] == ("INDEXED")
    assert http_as(BOB).get(f"/documents/{document_id}").status_code == 200
    assert http_as(ALICE).get(f"/documents/{document_id}").status_code == 404


def test_a_direct_drop_outside_every_tenant_prefix_fails_with_no_tenant(
    container, aws, resources, aws_settings
):
    key = "scans/trams.csv"
    aws["s3"].put_object(Bucket=aws_settings.raw_bucket, Key=key, Body=FACT_DOCUMENTS["trams.csv"][0])
    document_id = document_id_for(aws_settings.raw_bucket, key)
    worker = poller(aws, resources)
    deadline = time.monotonic() + 60
    while (current := container.catalog.get(document_id)) is None or current.status.value != "FAILED":
        assert time.monotonic() < deadline, current
        worker.poll_once()
    record = container.catalog.get(document_id)
    assert record.status.value == "FAILED" and record.error_code == "NO_TENANT" and record.tenant is None
    assert "tenants/<tenant>/" in record.error_message
    assert container.index.count(document_id) == 0
