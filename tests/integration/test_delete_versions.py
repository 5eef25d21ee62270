"""Deleted means deleted, on moto server: both buckets are versioned (as infra/storage.tf makes them),
and a delete removes every version and delete marker of the key, not just its current version."""

from __future__ import annotations

import json
import time

from chalicelib.adapters.s3_store import S3ObjectStore
from chalicelib.keys import processed_key
from tests.documents import FACT_DOCUMENTS
from tests.integration.pipeline import drain, poller, queue_depth, upload


def versions_of(aws, bucket: str, key: str) -> list[str]:
    """Every version id and delete marker S3 still holds for exactly `key`."""
    listing = aws["s3"].list_object_versions(Bucket=bucket, Prefix=key)
    return [
        entry["VersionId"]
        for entry in (*listing.get("Versions", []), *listing.get("DeleteMarkers", []))
        if entry["Key"] == key
    ]


def test_provisioning_versions_both_buckets_as_terraform_does(aws, resources, aws_settings):
    for bucket in (aws_settings.raw_bucket, aws_settings.processed_bucket):
        assert aws["s3"].get_bucket_versioning(Bucket=bucket).get("Status") == "Enabled", bucket


def test_delete_leaves_no_version_of_the_source_or_the_processed_output(
    container, aws, resources, aws_settings, http
):
    raw, processed = aws_settings.raw_bucket, aws_settings.processed_bucket
    worker = poller(aws, resources)
    document_id = upload(container, "lighthouse.txt", FACT_DOCUMENTS["lighthouse.txt"][0])
    first = drain(worker, container, [document_id])[document_id]
    assert first["status"] == "INDEXED"
    key = first["source"]["key"]
    # A second version of the source, and so a second version of the processed output.
    aws["s3"].put_object(Bucket=raw, Key=key, Body=b"The lighthouse keeper logged 1,500 seabirds this year.")
    deadline = time.monotonic() + 30
    while container.documents.get("acme", document_id)["source"]["etag"] == first["source"]["etag"]:
        assert time.monotonic() < deadline, "the second version was never indexed"
        if not worker.poll_once():
            time.sleep(0.1)
    # A key that merely starts with the document's is another document and must survive.
    aws["s3"].put_object(Bucket=raw, Key=key + ".bak", Body=b"a backup of the lighthouse log")
    assert len(versions_of(aws, raw, key)) == 2
    assert len(versions_of(aws, processed, processed_key("acme", document_id))) == 2

    response = http.delete(f"/documents/{document_id}")
    assert response.status_code == 200, response.body
    assert json.loads(response.body)["status"] == "DELETED"

    assert versions_of(aws, raw, key) == []
    assert versions_of(aws, processed, processed_key("acme", document_id)) == []
    assert len(versions_of(aws, raw, key + ".bak")) == 1
    # The deletions' own events change nothing: the tombstone stands and nothing comes back.
    deadline = time.monotonic() + 30
    while queue_depth(aws, resources.queue_url):
        assert time.monotonic() < deadline
        if not worker.poll_once():
            time.sleep(0.1)
    assert container.documents.get("acme", document_id)["status"] == "DELETED"
    assert versions_of(aws, raw, key) == []
    assert versions_of(aws, processed, processed_key("acme", document_id)) == []


def test_the_store_deletes_versions_and_markers_in_batches(aws, resources, aws_settings):
    bucket, key = aws_settings.raw_bucket, "drop/many-versions.txt"
    for n in range(5):
        aws["s3"].put_object(Bucket=bucket, Key=key, Body=f"version {n}".encode())
    aws["s3"].delete_object(Bucket=bucket, Key=key)  # a delete marker on top, as a plain delete leaves
    aws["s3"].put_object(Bucket=bucket, Key=key, Body=b"back again")
    assert len(versions_of(aws, bucket, key)) == 7
    store = S3ObjectStore(aws["s3"])
    store.delete_batch_size = 3
    store.delete(bucket, key)
    assert versions_of(aws, bucket, key) == []
    store.delete(bucket, key)  # absent: not an error
    store.delete(bucket, "never/existed.txt")


def test_the_store_deletes_from_an_unversioned_bucket_too(aws, resources):
    aws["s3"].create_bucket(Bucket="plain-bucket")
    aws["s3"].put_object(Bucket="plain-bucket", Key="a.json", Body=b"{}")
    S3ObjectStore(aws["s3"]).delete("plain-bucket", "a.json")
    assert versions_of(aws, "plain-bucket", "a.json") == []
    assert "Contents" not in aws["s3"].list_objects_v2(Bucket="plain-bucket")
