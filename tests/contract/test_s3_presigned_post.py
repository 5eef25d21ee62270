"""The pre-signed POST policy S3 enforces on uploads. moto accepts any form whatever its policy says,
so the policy document itself is pinned here: exact key, exact Content-Type, 1 byte to the limit."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime

import boto3

from chalicelib.adapters.aws_clients import client_config
from chalicelib.adapters.s3_store import S3ObjectStore
from chalicelib.api.requests import UploadRequest
from chalicelib.config import Settings
from chalicelib.documents import DocumentsService
from tests.fakes import MemoryCatalog


def s3_client():
    """The client the app builds for S3 (SigV4), with made-up keys: generate_presigned_post signs
    locally and calls no endpoint."""
    return boto3.client(
        "s3",
        region_name="us-east-1",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="secret",
        config=client_config("s3", max_attempts=1, read_timeout=5),
    )


def policy_of(upload: dict) -> dict:
    return json.loads(base64.b64decode(upload["fields"]["policy"]))


def test_the_policy_pins_key_content_type_and_size_and_expires_with_the_form() -> None:
    settings = Settings(max_object_bytes=1234, upload_url_expires_s=300)
    # Creating an upload touches no index.
    service = DocumentsService(settings, S3ObjectStore(s3_client()), MemoryCatalog(), index=None)
    before = time.time()
    answer = service.create_upload("acme", UploadRequest(filename="report.pdf"))
    upload = answer["upload"]
    assert upload["method"] == "POST" and answer["expires_in"] == 300
    assert upload["url"].startswith("https://") and settings.raw_bucket in upload["url"]
    fields = upload["fields"]
    assert fields["key"] == answer["key"] and fields["Content-Type"] == "application/pdf"
    assert fields["x-amz-algorithm"] == "AWS4-HMAC-SHA256" and fields["x-amz-signature"]

    policy = policy_of(upload)
    conditions = policy["conditions"]
    assert {"bucket": settings.raw_bucket} in conditions
    assert {"key": answer["key"]} in conditions  # the exact key: no starts-with
    assert ["eq", "$Content-Type", "application/pdf"] in conditions
    assert ["content-length-range", 1, 1234] in conditions
    # Nothing else could widen the form: every condition is one of these or the signature's own.
    signature_fields = {"x-amz-algorithm", "x-amz-credential", "x-amz-date"}
    for condition in conditions:
        if isinstance(condition, dict):
            assert set(condition) <= {"bucket", "key"} | signature_fields, condition
        else:
            assert condition[0] in {"eq", "content-length-range"} and condition[1] != "$key", condition
    expires = datetime.fromisoformat(policy["expiration"].replace("Z", "+00:00")).astimezone(UTC).timestamp()
    assert before + 300 - 5 <= expires <= time.time() + 300 + 5


def test_the_size_limit_follows_the_setting() -> None:
    settings = Settings(max_object_bytes=50 * 1024 * 1024)
    upload = S3ObjectStore(s3_client()).presign_upload(
        "quarry-raw", "uploads/x/a.txt", "text/plain", 60, settings.max_object_bytes
    )
    assert ["content-length-range", 1, 52_428_800] in policy_of(upload)["conditions"]
    assert ["eq", "$Content-Type", "text/plain"] in policy_of(upload)["conditions"]


def test_the_default_form_lives_five_minutes() -> None:
    assert Settings().upload_url_expires_s == 300
    assert Settings().pending_expiry_s > Settings().upload_url_expires_s
