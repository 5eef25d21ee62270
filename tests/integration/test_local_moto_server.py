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


def test_threads_sharing_a_storage_client_keep_their_connections(endpoint: str, monkeypatch) -> None:
    """The local stack's adapters share one client per service among the API's threads, the pollers and
    every record in flight: each thread's connection must go back to the pool, not be dropped for
    want of room in it and opened again for its next request."""
    import logging
    import threading

    from chalicelib.adapters.aws_clients import aws_client

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    # More threads than botocore's default pool of 10, fewer than the server's threads. A one-second
    # long poll on an empty queue keeps every thread's request out at the same time, and each round
    # starts once every thread is back: the bursts of a batch's records.
    threads, rounds = 14, 3
    sqs = aws_client("sqs", region="us-east-1", endpoint_url=endpoint)
    queue_url = sqs.create_queue(QueueName="shared-client")["QueueUrl"]
    opened: list[str] = []

    class Opened(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "Starting new HTTP connection" in record.getMessage():
                opened.append(record.getMessage())

    pool_logger = logging.getLogger("urllib3.connectionpool")
    handler, level = Opened(), pool_logger.level
    pool_logger.addHandler(handler)
    pool_logger.setLevel(logging.DEBUG)
    together = threading.Barrier(threads)

    def poll() -> None:
        for _ in range(rounds):
            together.wait()
            sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=1)

    try:
        workers = [threading.Thread(target=poll) for _ in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    finally:
        pool_logger.removeHandler(handler)
        pool_logger.setLevel(level)
    # One connection for each thread, kept: a pool of 10 dropped four after each round and opened four
    # again for the next.
    assert len(opened) <= threads


def test_the_dispatcher_remembers_each_hosts_backend_and_finds_the_same_one() -> None:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    from devstack.moto_server import _remembering_dispatcher

    class CountingDispatcher(DomainDispatcherApplication):
        lookups = 0

        def get_backend_for_host(self, host):
            CountingDispatcher.lookups += 1
            return super().get_backend_for_host(host)

    plain = DomainDispatcherApplication(create_backend_app)
    remembering = _remembering_dispatcher(CountingDispatcher)(create_backend_app)
    hosts = [
        "s3.us-east-1.amazonaws.com",
        "sqs.us-east-1.amazonaws.com",
        "dynamodb",
        "events.eu-west-1.amazonaws.com",
    ]
    for _ in range(3):
        assert [remembering.get_backend_for_host(h) for h in hosts] == [
            plain.get_backend_for_host(h) for h in hosts
        ]
    assert [plain.get_backend_for_host(h) for h in hosts] == ["s3", "sqs", "dynamodb", "events"]
    assert CountingDispatcher.lookups == len(hosts)
