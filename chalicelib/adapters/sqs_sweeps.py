"""SweepScheduler on Amazon SQS (or the moto server, through the same calls): a message delayed by
DelaySeconds on the sweep queue, consumed by the `sweep` handler (chalicelib/sweeps.py)."""

from __future__ import annotations

import threading
from typing import Any

from chalicelib.model import sweep_message
from chalicelib.ports import SweepScheduler

# SQS delays a message by at most 15 minutes.
SQS_MAX_DELAY_S = 900


class SqsSweepScheduler(SweepScheduler):
    def __init__(self, client: Any, queue_name: str, delay_s: int):
        if not 0 <= delay_s <= SQS_MAX_DELAY_S:
            raise ValueError(f"QUARRY_SWEEP_DELAY_S={delay_s}: SQS delays a message by 0 to 900 seconds")
        self._sqs = client
        self._queue_name = queue_name
        self._delay_s = delay_s
        self._queue_url: str | None = None
        self._lock = threading.Lock()

    def schedule_sweep(self, document_id: str) -> None:
        self._sqs.send_message(
            QueueUrl=self._url(), MessageBody=sweep_message(document_id), DelaySeconds=self._delay_s
        )

    def _url(self) -> str:
        # Looked up on first use, never at import or construction (no AWS call before one is needed).
        with self._lock:
            if self._queue_url is None:
                self._queue_url = self._sqs.get_queue_url(QueueName=self._queue_name)["QueueUrl"]
            return self._queue_url
