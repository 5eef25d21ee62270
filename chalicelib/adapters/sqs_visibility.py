"""QueueVisibility on Amazon SQS (or the moto server, through the same call)."""

from __future__ import annotations

from typing import Any

from chalicelib.ports import QueueVisibility


class SqsQueueVisibility(QueueVisibility):
    def __init__(self, client: Any):
        self._sqs = client

    def change_visibility(self, queue_url: str, receipt_handle: str, timeout_s: int) -> None:
        self._sqs.change_message_visibility(
            QueueUrl=queue_url, ReceiptHandle=receipt_handle, VisibilityTimeout=timeout_s
        )
