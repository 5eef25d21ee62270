"""IngestRequests on Amazon SQS (or the moto server, through the same calls): the ingest queue the
S3 events reach, so a reindex or a backfill takes exactly the worker path an upload does. The message
body comes from `encode` (chalicelib/events.py:ingest_request_body, handed in by bootstrap), so the
shape is written and decoded in one module."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from chalicelib.model import ObjectRef
from chalicelib.ports import IngestRequests

# SendMessageBatch takes at most 10 entries.
SQS_BATCH = 10


class SqsIngestRequests(IngestRequests):
    def __init__(self, client: Any, queue_name: str, encode: Callable[[ObjectRef, str], str]):
        self._sqs = client
        self._queue_name = queue_name
        self._encode = encode
        self._queue_url: str | None = None

    def _url(self) -> str:
        if self._queue_url is None:
            self._queue_url = self._sqs.get_queue_url(QueueName=self._queue_name)["QueueUrl"]
        return self._queue_url

    def send(self, refs: Sequence[ObjectRef], reason: str) -> None:
        for start in range(0, len(refs), SQS_BATCH):
            batch = refs[start : start + SQS_BATCH]
            entries = [
                {"Id": str(n), "MessageBody": self._encode(ref, reason)} for n, ref in enumerate(batch)
            ]
            response = self._sqs.send_message_batch(QueueUrl=self._url(), Entries=entries)
            failed = response.get("Failed") or []
            if failed:
                first = failed[0]
                raise RuntimeError(
                    f"the ingest queue refused {len(failed)} of {len(entries)} requests: "
                    f"{first.get('Code')}: {first.get('Message')}"
                )
