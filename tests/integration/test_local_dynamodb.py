"""The local stack's DynamoDB (moto in its own process, devstack/moto_dynamodb.py) applies concurrent
writes to one item one after another and checks a condition atomically with its write, as DynamoDB
does: the usage ledger's ADDs and a document's claim depend on it."""

from __future__ import annotations

import contextlib
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest
from botocore.exceptions import ClientError

from devstack import moto_dynamodb

THREADS = 8


def make_table(client) -> str:
    client.create_table(
        TableName="items",
        KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return "items"


def add_one(client, table: str, times: int) -> None:
    for _ in range(times):
        client.update_item(
            TableName=table,
            Key={"k": {"S": "day"}},
            UpdateExpression="ADD n :one",
            ExpressionAttributeValues={":one": {"N": "1"}},
        )


def counter(client, table: str) -> int:
    return int(client.get_item(TableName=table, Key={"k": {"S": "day"}})["Item"]["n"]["N"])


def concurrently(work, count: int = THREADS) -> list:
    start = threading.Barrier(count)

    def run(i):
        start.wait()
        return work(i)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(run, range(count)))


@pytest.fixture
def dynamodb(moto_endpoint: str):
    urllib.request.urlopen(urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST"))
    return boto3.client("dynamodb", region_name="us-east-1", endpoint_url=moto_endpoint)


def test_concurrent_adds_to_one_item_all_count_on_the_local_stack(dynamodb):
    table = make_table(dynamodb)
    concurrently(lambda _: add_one(dynamodb, table, 60))
    assert counter(dynamodb, table) == THREADS * 60


def test_one_conditional_claim_wins_per_item_on_the_local_stack(dynamodb):
    table = make_table(dynamodb)
    keys = [f"doc-{i}" for i in range(25)]

    def claim_all(worker: int) -> list[str]:
        won = []
        for key in keys:
            try:
                dynamodb.put_item(
                    TableName=table,
                    Item={"k": {"S": key}, "owner": {"N": str(worker)}},
                    ConditionExpression="attribute_not_exists(k)",
                )
                won.append(key)
            except ClientError as error:
                assert error.response["Error"]["Code"] == "ConditionalCheckFailedException"
        return won

    winners = [key for won in concurrently(claim_all) for key in won]
    assert sorted(winners) == sorted(keys)


@pytest.fixture
def slow_updates(monkeypatch):
    """In-process moto with a pause between an ADD's read of the number and its write of the sum: the
    window in which moto's own update loses a concurrent one, made wide enough to hit every time."""
    from moto import mock_aws
    from moto.dynamodb.models import dynamo_type

    moto_dynamodb.apply()
    add = dynamo_type.DynamoType.__add__

    def paused(self, other):
        time.sleep(0.005)
        return add(self, other)

    monkeypatch.setattr(dynamo_type.DynamoType, "__add__", paused)
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        table = make_table(client)
        client.put_item(TableName=table, Item={"k": {"S": "day"}, "n": {"N": "0"}})
        yield client, table


def test_the_lock_is_what_keeps_every_add(slow_updates):
    client, table = slow_updates
    concurrently(lambda _: add_one(client, table, 10), count=4)
    assert counter(client, table) == 40


def test_without_the_lock_moto_loses_adds(slow_updates, monkeypatch):
    """The control: the same run with the lock made a no-op loses updates, so the test above could fail."""
    client, table = slow_updates
    monkeypatch.setattr(moto_dynamodb, "_ITEM_LOCK", contextlib.nullcontext())
    concurrently(lambda _: add_one(client, table, 10), count=4)
    kept = counter(client, table)
    assert kept < 40, kept  # about 12 of 40 kept, measured under load
