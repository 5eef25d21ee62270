"""Uploads through the HTTP API on moto: the pre-signed POST form, types refused up front, and
PENDING records whose object never arrives shown EXPIRED."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace

import pytest

from chalicelib import bootstrap
from chalicelib.parsing.content_types import SUPPORTED_SUMMARY
from devstack.client import put_presigned
from tests.conftest import token_for
from tests.documents import FACT_DOCUMENTS
from tests.integration.pipeline import drain, poller
from tests.signed_in import SignedInHttp

JSON = {"Content-Type": "application/json"}


def create_upload(http, body: dict) -> tuple[int, dict]:
    response = http.post("/uploads", headers=JSON, body=json.dumps(body))
    return response.status_code, json.loads(response.body)


@pytest.fixture
def expiring(aws_settings, resources) -> Iterator[tuple[SignedInHttp, bootstrap.Container]]:
    """The API with PENDING records that expire at once."""
    from chalice.test import Client

    from app import app

    settings = replace(aws_settings, pending_expiry_s=0)
    built = bootstrap.Container(settings)
    bootstrap.use_container(built)
    with Client(app, stage_name="local") as client:
        yield SignedInHttp(client.http, token_for(settings)), built
    bootstrap.use_container(None)


def test_a_file_sent_through_the_post_form_is_indexed(http, container, aws, resources, aws_settings):
    data, _ = FACT_DOCUMENTS["lighthouse.txt"]
    status, answer = create_upload(http, {"filename": "lighthouse.txt"})
    assert status == 201 and answer["upload"]["method"] == "POST"
    put_presigned(answer["upload"], data, "lighthouse.txt")
    # The POST fires the same EventBridge "Object Created" event a PUT does.
    view = drain(poller(aws, resources), container, [answer["document_id"]])[answer["document_id"]]
    assert view["status"] == "INDEXED", view["error"]
    head = aws["s3"].head_object(Bucket=aws_settings.raw_bucket, Key=answer["key"])
    assert head["ContentType"] == "text/plain" and head["ContentLength"] == len(data)


@pytest.mark.parametrize("filename", ["slides.ppt", "archive.zip", "photo.png", "book.epub"])
def test_a_type_quarry_cannot_parse_is_refused_at_upload(http, container, filename):
    status, answer = create_upload(http, {"filename": filename})
    assert status == 400, answer
    assert answer["error"]["code"] == "unsupported_type"
    assert SUPPORTED_SUMMARY in answer["error"]["message"]
    listed = json.loads(http.get("/documents").body)["documents"]
    assert listed == []  # nothing was recorded for it


def test_a_pending_upload_whose_object_never_arrives_reads_expired(expiring):
    http, _ = expiring
    _, answer = create_upload(http, {"filename": "never-sent.txt"})
    document = json.loads(http.get(f"/documents/{answer['document_id']}").body)
    assert document["status"] == "EXPIRED"
    expired = json.loads(http.get("/documents?status=EXPIRED").body)["documents"]
    assert [d["document_id"] for d in expired] == [answer["document_id"]]
    assert json.loads(http.get("/documents?status=PENDING").body)["documents"] == []


def test_a_claimed_document_no_longer_expires(expiring, aws, resources, aws_settings):
    http, container = expiring
    data, _ = FACT_DOCUMENTS["lighthouse.txt"]
    _, answer = create_upload(http, {"filename": "lighthouse.txt"})
    document_id = answer["document_id"]
    item = aws["dynamodb"].get_item(
        TableName=aws_settings.documents_table, Key={"document_id": {"S": document_id}}
    )
    assert "N" in item["Item"]["expires_at"]  # the table's TTL attribute: epoch seconds, a number
    put_presigned(answer["upload"], data, "lighthouse.txt")
    view = drain(poller(aws, resources), container, [document_id])[document_id]
    assert view["status"] == "INDEXED", view["error"]
    assert container.catalog.get(document_id).expires_at is None
    item = aws["dynamodb"].get_item(
        TableName=aws_settings.documents_table, Key={"document_id": {"S": document_id}}
    )
    assert "expires_at" not in item["Item"]
