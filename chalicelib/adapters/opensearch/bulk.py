"""Sending one `_bulk` request until every item has succeeded, been given up on, or run out of time.

AOSS answers 200 even when items fail, so each item's status is read: 2xx (and 404 for a delete) is
done, 429 and 5xx are resent with backoff, anything else is a permanent DocumentError.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

from chalicelib.adapters.aws_retry import Backoff, is_retryable_status
from chalicelib.adapters.opensearch.client import BulkAction, bulk_item_error, bulk_ndjson
from chalicelib.model import DocumentError, ErrorCode, TransientError


def send_bulk(
    client: Any,
    index_name: str,
    actions: Sequence[BulkAction],
    done: list[dict[str, Any]],
    *,
    call: Callable[[Callable[[], Any]], Any],
    backoff: Backoff,
) -> None:
    """Send `actions` through `call` (the caller's retrying request), resending the items that failed
    with 429/5xx, until all succeed or `backoff`'s deadline passes (TransientError); any other item
    failure raises DocumentError. Each item's result is appended to `done` as soon as it succeeds, so
    a caller can undo a partial write."""
    pending = list(actions)
    while pending:
        send = functools.partial(client.bulk, body=bulk_ndjson(pending), index=index_name)
        items = call(send).get("items") or []
        if len(items) != len(pending):
            raise TransientError(f"bulk answered {len(items)} items for {len(pending)} actions")
        retry: list[BulkAction] = []
        rejected: list[str] = []
        for action, item in zip(pending, items, strict=True):
            result = item.get(action.op) or next(iter(item.values()))
            status = int(result.get("status", 0))
            if 200 <= status < 300 or (action.op == "delete" and status == 404):
                done.append(result)
            elif is_retryable_status(status):
                retry.append(action)
            else:
                rejected.append(bulk_item_error(result))
        if rejected:
            raise DocumentError(
                ErrorCode.PROVIDER_ERROR,
                f"OpenSearch rejected {len(rejected)} of {len(pending)} bulk items; first: {rejected[0]}",
            )
        if retry:
            backoff.wait(f"{len(retry)} of {len(pending)} bulk items throttled or failed")
        pending = retry
