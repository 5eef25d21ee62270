"""Move messages from the dead-letter queue back to the ingest queue (after fixing the cause).

Works against the local stack and, with QUARRY_AWS_ENDPOINT_URL unset, against AWS (where
`aws sqs start-message-move-task` does the same)."""

from __future__ import annotations

from typing import Any


def redrive(sqs: Any, dlq_url: str, queue_url: str, limit: int = 10_000) -> int:
    moved = 0
    while moved < limit:
        messages = sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
            "Messages", []
        )
        if not messages:
            break
        for message in messages:
            sqs.send_message(QueueUrl=queue_url, MessageBody=message["Body"])
            sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=message["ReceiptHandle"])
            moved += 1
    return moved
