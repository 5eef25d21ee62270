"""Make moto's DynamoDB apply item reads and writes one at a time, as DynamoDB does.

moto server answers requests on many threads, and its DynamoDB backend updates an item by reading it,
changing it and storing it back with no lock. Two UpdateItem ADDs to one item at the same moment can
therefore lose one (measured here: 8 threads × 50 ADDs of 1 left 399, not 400), and two conditional
writes can both pass a condition only one of them should. DynamoDB applies the writes on one item one
after another and checks a condition atomically with its write. Quarry relies on both: the usage
ledger's day item takes an ADD from every document's end, and a document's claim is a conditional
write. The local stack runs records concurrently (QUARRY_RECORD_CONCURRENCY), so without this its
`/usage` totals drift below the documents' own and two workers could hold one claim.

One lock around every operation that reads or writes items, for all tables, accounts and regions:
moto's DynamoDB is pure Python under one interpreter lock, so serialising its item operations costs
the local stack nothing it had. Applied by the local stack's moto process only
(devstack/moto_server.py), never in the Lambda package; `apply()` refuses any other moto version.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

from devstack.moto_version import require_patched_moto

# Every DynamoDBBackend method that reads or changes items. A transaction calls put_item, update_item
# and delete_item itself, hence a re-entrant lock.
ITEM_OPERATIONS = (
    "put_item",
    "get_item",
    "update_item",
    "delete_item",
    "query",
    "scan",
    "transact_write_items",
    "execute_statement",
    "execute_transaction",
    "batch_execute_statement",
)
_ITEM_LOCK = threading.RLock()


def _serialised(method: Any) -> Any:
    @functools.wraps(method)
    def serialised(self: Any, *args: Any, **kwargs: Any) -> Any:
        with _ITEM_LOCK:
            return method(self, *args, **kwargs)

    return serialised


def apply() -> None:
    require_patched_moto("devstack/moto_dynamodb.py", "DynamoDB")
    from moto.dynamodb import models

    backend = models.DynamoDBBackend
    if getattr(backend, "_quarry_serialised", False):
        return
    for name in ITEM_OPERATIONS:
        setattr(backend, name, _serialised(getattr(backend, name)))
    backend._quarry_serialised = True
