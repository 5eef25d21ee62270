"""The local cloud: a moto server on loopback, provisioned with the resources infra/ creates in AWS."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from chalicelib.adapters.dynamo_catalog import table_definition
from chalicelib.config import Settings
from devstack.moto_server import MotoProcess

RULE_NAME = "quarry-raw-object-events"


@dataclass(frozen=True)
class Resources:
    queue_url: str
    queue_arn: str
    dlq_url: str
    dlq_arn: str
    # The delayed sweep's queue and its own DLQ (chalicelib/sweeps.py).
    sweep_queue_url: str = ""
    sweep_queue_arn: str = ""
    sweep_dlq_url: str = ""


def start_moto(endpoint_url: str) -> MotoProcess:
    return MotoProcess(endpoint_url).start()


def clients(settings: Settings) -> dict[str, Any]:
    import boto3

    def make(service: str) -> Any:
        return boto3.client(service, region_name=settings.region, endpoint_url=settings.aws_endpoint_url)

    return {name: make(name) for name in ("s3", "sqs", "events", "dynamodb")}


def event_pattern(raw_bucket: str) -> dict[str, Any]:
    return {
        "source": ["aws.s3"],
        "detail-type": ["Object Created", "Object Deleted"],
        "detail": {"bucket": {"name": [raw_bucket]}},
    }


def provision(settings: Settings, visibility_timeout_s: int = 30) -> Resources:
    """Create (or find) every resource; safe to run again."""
    aws = clients(settings)
    s3, sqs, events, dynamodb = aws["s3"], aws["sqs"], aws["events"], aws["dynamodb"]
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    for bucket in (settings.raw_bucket, settings.processed_bucket):
        if bucket not in existing:
            s3.create_bucket(Bucket=bucket)
    # Both data buckets are versioned in infra/storage.tf, so deletes here must remove every version too.
    for bucket in (settings.raw_bucket, settings.processed_bucket):
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_notification_configuration(
        Bucket=settings.raw_bucket, NotificationConfiguration={"EventBridgeConfiguration": {}}
    )

    dlq_url = sqs.create_queue(
        QueueName=settings.dead_letter_queue, Attributes={"MessageRetentionPeriod": "1209600"}
    )["QueueUrl"]
    dlq_arn = _queue_arn(sqs, dlq_url)
    queue_url = sqs.create_queue(
        QueueName=settings.ingest_queue,
        Attributes={
            "VisibilityTimeout": str(visibility_timeout_s),
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(settings.max_receive_count)}
            ),
        },
    )["QueueUrl"]
    queue_arn = _queue_arn(sqs, queue_url)
    sweep_queue_url, sweep_queue_arn, sweep_dlq_url = _sweep_queues(sqs, settings, visibility_timeout_s)

    events.put_rule(Name=RULE_NAME, EventPattern=json.dumps(event_pattern(settings.raw_bucket)))
    events.put_targets(Rule=RULE_NAME, Targets=[{"Id": "ingest-queue", "Arn": queue_arn}])

    if settings.documents_table not in dynamodb.list_tables()["TableNames"]:
        dynamodb.create_table(**table_definition(settings.documents_table))
    return Resources(queue_url, queue_arn, dlq_url, dlq_arn, sweep_queue_url, sweep_queue_arn, sweep_dlq_url)


def _sweep_queues(sqs: Any, settings: Settings, visibility_timeout_s: int) -> tuple[str, str, str]:
    """The sweep queue and its DLQ, as infra/sweeps.tf creates them: the delay is each message's own
    (DelaySeconds), so the queue has none."""
    dlq_url = sqs.create_queue(
        QueueName=settings.sweep_dead_letter_queue, Attributes={"MessageRetentionPeriod": "1209600"}
    )["QueueUrl"]
    queue_url = sqs.create_queue(
        QueueName=settings.sweep_queue,
        Attributes={
            "VisibilityTimeout": str(visibility_timeout_s),
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": _queue_arn(sqs, dlq_url), "maxReceiveCount": "5"}
            ),
        },
    )["QueueUrl"]
    return queue_url, _queue_arn(sqs, queue_url), dlq_url


def _queue_arn(sqs: Any, url: str) -> str:
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
