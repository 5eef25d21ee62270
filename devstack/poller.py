"""Stands in for Lambda's SQS event source mapping with ReportBatchItemFailures.

Long-polls the queue, hands the Chalice handler the exact Lambda SQS event, then deletes only the
messages the handler did not list in batchItemFailures. Failed ones become visible again when the
visibility the handler gave them runs out (the worker's retry backoff), or after the queue's
visibility timeout if it set none, and reach the DLQ past maxReceiveCount, as in AWS. Like the event
source mapping, the poller never changes a message's visibility itself: that would undo the backoff.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any

SQS_ATTRIBUTES = ["ApproximateReceiveCount", "SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp"]


def lambda_sqs_event(messages: list[dict[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": dict(m.get("Attributes", {})),
                "messageAttributes": m.get("MessageAttributes", {}),
                "md5OfBody": m.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
            for m in messages
        ]
    }


class LambdaContext:
    """The attributes Powertools and Chalice read from a Lambda context."""

    def __init__(self, function_name: str, timeout_s: int, clock: Callable[[], float]):
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:local:000000000000:function:{function_name}"
        self.memory_limit_in_mb = 1024
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"
        self._deadline = clock() + timeout_s
        self._clock = clock

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - self._clock()) * 1000))


class QueuePoller:
    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        queue_arn: str,
        handler: Callable[[dict[str, Any], Any], Any],
        region: str,
        batch_size: int = 10,
        wait_s: int = 1,
        timeout_s: int = 300,
        function_name: str = "quarry-ingest",
        invocations: int = 1,
    ):
        import time

        if invocations < 1:
            raise ValueError("a poller needs at least one invocation")

        self._sqs = sqs
        self._queue_url = queue_url
        self._queue_arn = queue_arn
        self._handler = handler
        self._region = region
        self._batch_size = batch_size
        self._wait_s = wait_s
        self._timeout_s = timeout_s
        self._function_name = function_name
        self._invocations = invocations
        self._clock = time.monotonic

    def poll_once(self) -> int:
        """Receive one batch and process it; returns how many messages were received."""
        messages = self._sqs.receive_message(
            QueueUrl=self._queue_url,
            MaxNumberOfMessages=self._batch_size,
            WaitTimeSeconds=self._wait_s,
            AttributeNames=SQS_ATTRIBUTES,
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return 0
        event = lambda_sqs_event(messages, self._queue_arn, self._region)
        context = LambdaContext(self._function_name, self._timeout_s, self._clock)
        try:
            response = self._handler(event, context) or {}
        except Exception:
            # A handler that raises fails the whole batch in Lambda: delete nothing.
            return len(messages)
        failed = {f["itemIdentifier"] for f in response.get("batchItemFailures", [])}
        done = [m for m in messages if m["MessageId"] not in failed]
        for start in range(0, len(done), 10):
            self._sqs.delete_message_batch(
                QueueUrl=self._queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                    for i, m in enumerate(done[start : start + 10])
                ],
            )
        return len(messages)

    def run(self, stop: threading.Event) -> None:
        """Poll until `stop`, with `invocations` batches in flight at once, as Lambda runs several
        invocations of one function side by side. The handler's record pool is the process's, so
        records in flight stay bounded by its size; what a second invocation buys is that the pool
        never waits for one batch's slowest record before the next batch is received."""
        threads = [
            threading.Thread(
                target=self._poll_until, args=(stop,), name=f"{self._function_name}-{n}", daemon=True
            )
            for n in range(self._invocations)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def _poll_until(self, stop: threading.Event) -> None:
        while not stop.is_set():
            self.poll_once()
