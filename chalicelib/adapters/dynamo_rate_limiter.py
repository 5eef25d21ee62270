"""Per-tenant request limits, counted in the documents table: one item per tenant, action and minute.

Counted in DynamoDB, not in the API function's memory, because every Lambda container would
otherwise keep its own count and a tenant's limit would grow with the API's concurrency. One
conditional UpdateItem per limited request (~5 ms): the count goes up only while it is under the
limit, so concurrent requests can never overshoot it. Items carry `expires_at` (the table's TTL
attribute) and leave by themselves; their key has no `status`, so they never appear in listings.
"""

from __future__ import annotations

import math
from typing import Any

from chalicelib.ports import RateLimiter

WINDOW_S = 60
KEEP_S = 300  # how long a counter outlives its minute before the TTL may remove it


class DynamoRateLimiter(RateLimiter):
    def __init__(self, client: Any, table: str):
        self._db = client
        self._table = table

    def acquire(self, tenant: str, action: str, limit_per_minute: int, now_s: float) -> float | None:
        window = math.floor(now_s / WINDOW_S)
        try:
            self._db.update_item(
                TableName=self._table,
                Key={"document_id": {"S": f"rate#{tenant}#{action}#{window}"}},
                UpdateExpression="ADD request_count :one SET expires_at = :expires",
                ConditionExpression="attribute_not_exists(request_count) OR request_count < :limit",
                ExpressionAttributeValues={
                    ":one": {"N": "1"},
                    ":limit": {"N": str(limit_per_minute)},
                    ":expires": {"N": str((window + 1) * WINDOW_S + KEEP_S)},
                },
            )
        except self._db.exceptions.ConditionalCheckFailedException:
            return max(1.0, (window + 1) * WINDOW_S - now_s)
        return None
