"""Make moto's SQS cost the same per call whatever the queue's depth, without changing what it answers.

moto 5.2.5 keeps a queue as one list and answers every question by scanning it, reading the clock
through `datetime` for each message twice per scan. Worse, `ReceiveMessage` checks each message it
returns against the queue's retention period by building all the queue's attributes three times, and
each build scans the queue three more times for the approximate counts. Measured here (in-process
moto, 800-byte bodies): one ReceiveMessage of 10 took 177 ms with 100 messages queued, 1.58 s with
2,000 and 5.86 s with 5,000, so a folder of thousands of files uploaded at once indexed at a quarter
of the speed of the same files uploaded a few at a time. Real SQS has no such cost, so the local
stack must not either.

The replacements keep moto's own rules (a message is visible once the clock passes `visible_at` and
delayed until `delayed_until`; retention counts from `sent_timestamp`) and read the clock once per
scan with `time.time()`, which is what moto's `unix_time()` computes through `datetime`. They are
applied by the local stack's moto process only (devstack/moto_server.py), never in the Lambda
package. No moto release fixes this (its own comment on `Queue.messages`: "This can become very
inefficient"), so the patch lives here until one does; `apply()` refuses any other moto version.
"""

from __future__ import annotations

import time
from typing import Any

from devstack.moto_version import require_patched_moto


def _now_ms() -> float:
    return time.time() * 1000.0


def _visible_now(message: Any, now_ms: float) -> bool:
    return now_ms > message.visible_at


def _delayed_now(message: Any, now_ms: float) -> bool:
    return now_ms < message.delayed_until


def apply() -> None:
    require_patched_moto("devstack/moto_sqs.py", "SQS")
    from moto.sqs import models

    if getattr(models, "_quarry_depth_patch", False):
        return

    message, queue, backend = models.Message, models.Queue, models.SQSBackend
    message.visible = property(lambda self: _visible_now(self, _now_ms()))
    message.delayed = property(lambda self: _delayed_now(self, _now_ms()))

    def messages(self: Any) -> list[Any]:
        now = _now_ms()
        return [m for m in self._messages if _visible_now(m, now) and not _delayed_now(m, now)]

    def delayed_count(self: Any) -> int:
        now = _now_ms()
        return sum(1 for m in self._messages if _delayed_now(m, now))

    def not_visible_count(self: Any) -> int:
        now = _now_ms()
        return sum(1 for m in self._messages if not _visible_now(m, now))

    queue.messages = property(messages)
    queue.approximate_number_of_messages_delayed = property(delayed_count)
    queue.approximate_number_of_messages_not_visible = property(not_visible_count)

    def is_message_valid_based_on_retention_period(self: Any, queue_name: str, msg: Any) -> bool:
        retention_s = int(self.get_queue(queue_name).message_retention_period)
        return retention_s + msg.sent_timestamp / 1000 > time.time()

    backend.is_message_valid_based_on_retention_period = is_message_valid_based_on_retention_period

    original_get_queue_attributes = backend.get_queue_attributes

    def get_queue_attributes(self: Any, queue_name: str, attribute_names: list[str]) -> dict[str, Any]:
        # moto's own builds the whole attribute map three times per name asked for: build it once, and
        # leave "All" and any name moto would reject or skip to moto's own.
        if not attribute_names or "All" in attribute_names:
            return original_get_queue_attributes(self, queue_name, attribute_names)
        built = self.get_queue(queue_name).attributes
        unknown = [name for name in attribute_names if name not in built]
        if unknown:
            return original_get_queue_attributes(self, queue_name, attribute_names)
        return {name: built[name] for name in attribute_names if built[name] is not None}

    backend.get_queue_attributes = get_queue_attributes
    models._quarry_depth_patch = True
