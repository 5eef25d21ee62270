"""Per-tenant limits counted in DynamoDB (moto over HTTP): exact under concurrency, per tenant and action."""

from __future__ import annotations

from chalicelib.adapters.dynamo_rate_limiter import DynamoRateLimiter
from devstack.cloud import clients

MINUTE_START = 1_800_000_000.0  # a whole minute: 30,000,000 × 60


def limiter(aws_settings) -> DynamoRateLimiter:
    return DynamoRateLimiter(clients(aws_settings)["dynamodb"], aws_settings.documents_table)


def test_the_limit_allows_exactly_its_count_in_a_minute(resources, aws_settings) -> None:
    limits = limiter(aws_settings)
    answers = [limits.acquire("acme", "search", 3, MINUTE_START + 10) for _ in range(5)]
    assert answers[:3] == [None, None, None]
    assert answers[3] == 50.0 and answers[4] == 50.0  # seconds to the next minute


def test_tenants_and_actions_are_counted_apart(resources, aws_settings) -> None:
    limits = limiter(aws_settings)
    assert limits.acquire("acme", "search", 1, MINUTE_START) is None
    assert limits.acquire("acme", "search", 1, MINUTE_START) is not None
    assert limits.acquire("globex", "search", 1, MINUTE_START) is None
    assert limits.acquire("acme", "upload", 1, MINUTE_START) is None


def test_the_next_minute_starts_a_new_count(resources, aws_settings) -> None:
    limits = limiter(aws_settings)
    assert limits.acquire("acme", "search", 1, MINUTE_START + 59) is None
    assert limits.acquire("acme", "search", 1, MINUTE_START + 59.5) == 1.0
    assert limits.acquire("acme", "search", 1, MINUTE_START + 60) is None


def test_requests_past_the_limit_never_count(resources, aws_settings) -> None:
    # The count rises only under the condition, so refused requests do not push it further. That
    # concurrent callers cannot overshoot rests on DynamoDB's conditional writes being atomic, which
    # moto's server does not guarantee under threads: checked here one request at a time, and the
    # condition itself is pinned below.
    limits = limiter(aws_settings)
    answers = [limits.acquire("acme", "upload", 10, MINUTE_START) for _ in range(40)]
    assert answers.count(None) == 10
    db = clients(aws_settings)["dynamodb"]
    items = db.scan(TableName=aws_settings.documents_table)["Items"]
    assert [item["request_count"]["N"] for item in items] == ["10"]


def test_the_count_rises_only_under_its_condition(aws_settings) -> None:
    from botocore.stub import ANY, Stubber

    db = clients(aws_settings)["dynamodb"]
    expected = {
        "TableName": aws_settings.documents_table,
        "Key": {"document_id": {"S": "rate#acme#search#30000000"}},
        "UpdateExpression": "ADD request_count :one SET expires_at = :expires",
        "ConditionExpression": "attribute_not_exists(request_count) OR request_count < :limit",
        "ExpressionAttributeValues": ANY,
    }
    with Stubber(db) as stub:
        stub.add_response("update_item", {}, expected)
        assert (
            DynamoRateLimiter(db, aws_settings.documents_table).acquire("acme", "search", 5, MINUTE_START)
            is None
        )
        stub.assert_no_pending_responses()


def test_counters_expire_and_stay_out_of_document_listings(resources, aws_settings) -> None:
    limits = limiter(aws_settings)
    limits.acquire("acme", "search", 5, MINUTE_START)
    db = clients(aws_settings)["dynamodb"]
    items = db.scan(TableName=aws_settings.documents_table)["Items"]
    assert len(items) == 1
    assert "status" not in items[0]
    assert float(items[0]["expires_at"]["N"]) > MINUTE_START + 60
