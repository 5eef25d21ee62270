"""The local stack's moto server (devstack/moto_server.py, in a process of its own) keeps a client's
connection open between requests, and keeps S3 keys and metadata names exactly as they were sent."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator

import boto3
import pytest

from devstack.moto_server import MotoProcess
from tests.conftest import free_port


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    url = f"http://127.0.0.1:{free_port()}"
    server = MotoProcess(url).start()
    try:
        yield url
    finally:
        server.stop()


def client(service: str, endpoint: str):
    return boto3.client(
        service,
        region_name="us-east-1",
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def dynamodb_call(connection: http.client.HTTPConnection, action: str, body: dict) -> tuple[int, dict]:
    """One DynamoDB JSON request, as boto3 sends it (moto reads the service from the credential scope
    and does not check the signature)."""
    connection.request(
        "POST",
        "/",
        body=json.dumps(body),
        headers={
            "Content-Type": "application/x-amz-json-1.0",
            "X-Amz-Target": f"DynamoDB_20120810.{action}",
            "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20261204/us-east-1/dynamodb/aws4_request, "
            "SignedHeaders=host, Signature=0",
        },
    )
    response = connection.getresponse()
    assert response.getheader("Connection") != "close"
    return response.status, json.loads(response.read() or b"{}")


def test_a_connection_serves_one_request_after_another(endpoint: str) -> None:
    port = int(endpoint.rsplit(":", 1)[1])
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        status, listed = dynamodb_call(connection, "ListTables", {})
        assert status == 200 and "TableNames" in listed
        opened = connection.sock
        # An error response must leave the connection usable too.
        status, error = dynamodb_call(connection, "DescribeTable", {"TableName": "missing"})
        assert status == 400 and "ResourceNotFoundException" in error["__type"]
        status, _ = dynamodb_call(connection, "ListTables", {})
        assert status == 200
        assert connection.sock is opened
    finally:
        connection.close()


def test_s3_metadata_keeps_underscores_and_dashes(endpoint: str) -> None:
    s3 = client("s3", endpoint)
    s3.create_bucket(Bucket="metadata")
    s3.put_object(
        Bucket="metadata", Key="doc.txt", Body=b"x", Metadata={"corpus_id": "42", "source-system": "crm"}
    )
    assert s3.head_object(Bucket="metadata", Key="doc.txt")["Metadata"] == {
        "corpus_id": "42",
        "source-system": "crm",
    }


@pytest.mark.parametrize(
    "key", ["percent%20kept.txt", "a+b=c&d.txt", "with space.txt", "ünïcødé/データ.md", "emoji-🚀.txt"]
)
def test_s3_keys_come_back_exactly_as_written(endpoint: str, key: str) -> None:
    s3 = client("s3", endpoint)
    s3.create_bucket(Bucket="keys")
    s3.put_object(Bucket="keys", Key=key, Body=key.encode())
    assert s3.get_object(Bucket="keys", Key=key)["Body"].read() == key.encode()
    assert key in [item["Key"] for item in s3.list_objects_v2(Bucket="keys")["Contents"]]


def test_sqs_queue_urls_name_the_servers_port(endpoint: str) -> None:
    # The pollers and EventBridge's targets address queues by these URLs.
    queue_url = client("sqs", endpoint).create_queue(QueueName="ingest")["QueueUrl"]
    assert queue_url == f"{endpoint}/123456789012/ingest"
