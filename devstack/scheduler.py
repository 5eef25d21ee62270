"""Stands in for the EventBridge schedule rule `chalice package` writes for an `@app.schedule`
function: invokes the Chalice handler with the "Scheduled Event" EventBridge sends, every `every_s`.

Like Lambda, a handler that raises is logged and invoked again on the next tick."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from chalicelib.clock import utc_now
from chalicelib.observability import logger
from devstack.poller import LambdaContext


def scheduled_event(rule_arn: str, region: str) -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "000000000000",
        "time": utc_now(),
        "region": region,
        "resources": [rule_arn],
        "detail": {},
    }


class Scheduler:
    def __init__(
        self,
        name: str,
        handler: Callable[[dict[str, Any], Any], Any],
        every_s: float,
        region: str,
        timeout_s: int = 300,
    ):
        self.name = name
        self._handler = handler
        self._every_s = every_s
        self._region = region
        self._timeout_s = timeout_s
        self.runs = 0
        self.results: list[Any] = []

    def run_once(self) -> Any:
        event = scheduled_event(f"arn:aws:events:{self._region}:000000000000:rule/{self.name}", self._region)
        result = self._handler(event, LambdaContext(self.name, self._timeout_s, time.monotonic))
        self.runs += 1
        self.results.append(result)
        return result

    def run(self, stop: threading.Event) -> None:
        while not stop.wait(self._every_s):
            try:
                self.run_once()
            except Exception:
                logger.exception("scheduled function failed", extra={"function": self.name})
