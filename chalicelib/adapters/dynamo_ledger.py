"""The cost ledger's DynamoDB items, in the documents table beside the documents.

One item per tenant and UTC day, key `document_id = "usage#{tenant}#{day}"`, whose numbers are only
ever increased with UpdateItem ADD, an atomic counter: no read-modify-write, so concurrent workers
never lose each other's counts. Attributes: `docs#{status}`, `tokens_in#{model}`,
`tokens_out#{model}`, `calls#{provider}`, `source_bytes`, `chunks`. The item carries neither
`tenant` nor `status`, so no document listing (GSI) ever sees it.

Why it stays cheap at a million documents: a document's end costs one write on its own record, and
its batch one on the day's item whatever the number of documents in it (chalicelib/accounting.py);
GET /usage reads one item per day of the window (BatchGetItem, at most 366 for a year) whatever the
number of documents: no scan, no query over documents. One tenant's day item takes every batch that
ended documents that day: DynamoDB allows 1,000 writes a second on one item's partition, far above
a day of a million documents (12 a second on average, fewer batches).
"""

from __future__ import annotations

import json
from typing import Any

LEDGER_PREFIX = "usage#"


def ledger_key(tenant: str, day: str) -> str:
    return f"{LEDGER_PREFIX}{tenant}#{day}"


def _additions(documents: dict[str, int], usage: dict[str, Any]) -> dict[str, int]:
    amounts: dict[str, int] = {f"docs#{status}": int(count) for status, count in documents.items()}
    for model, counts in (usage.get("tokens") or {}).items():
        amounts[f"tokens_in#{model}"] = int(counts.get("input", 0))
        amounts[f"tokens_out#{model}"] = int(counts.get("output", 0))
    for provider, calls in (usage.get("provider_calls") or {}).items():
        amounts[f"calls#{provider}"] = int(calls)
    amounts["source_bytes"] = int(usage.get("source_bytes") or 0)
    amounts["chunks"] = int(usage.get("chunks") or 0)
    return amounts


def document_usage_update(table: str, document_id: str, usage: dict[str, Any]) -> dict[str, Any]:
    """The UpdateItem request that stores a document's usage on its record, which must still exist.

    Not one transaction with the day's addition: a transaction that touches an item another
    transaction is writing is cancelled (TransactionConflict), and every batch of a tenant's day
    writes the same day item, so under load transactions would fail where plain ADDs, which DynamoDB
    applies one after the other, all succeed."""
    return {
        "TableName": table,
        "Key": {"document_id": {"S": document_id}},
        "UpdateExpression": "SET #usage = :usage",
        "ConditionExpression": "attribute_exists(document_id)",
        "ExpressionAttributeNames": {"#usage": "usage"},
        "ExpressionAttributeValues": {":usage": {"S": json.dumps(usage)}},
    }


def day_usage_update(
    table: str, tenant: str, day: str, documents: dict[str, int], usage: dict[str, Any]
) -> dict[str, Any]:
    """The UpdateItem request that adds documents (by status) and their summed usage to a day's item."""
    amounts = _additions(documents, usage)
    names = {f"#a{i}": name for i, name in enumerate(amounts)}
    values = {f":a{i}": {"N": str(amount)} for i, amount in enumerate(amounts.values())}
    adds = ", ".join(f"#a{i} :a{i}" for i in range(len(amounts)))
    return {
        "TableName": table,
        "Key": {"document_id": {"S": ledger_key(tenant, day)}},
        "UpdateExpression": f"SET #kind = :kind ADD {adds}",
        "ExpressionAttributeNames": {**names, "#kind": "ledger"},
        "ExpressionAttributeValues": {**values, ":kind": {"S": "usage-day"}},
    }


def read_day_totals(item: dict[str, Any]) -> dict[str, Any]:
    """A day's item as {"documents", "tokens", "provider_calls", "source_bytes", "chunks"}."""
    totals: dict[str, Any] = {
        "documents": {},
        "tokens": {},
        "provider_calls": {},
        "source_bytes": 0,
        "chunks": 0,
    }
    for name, value in item.items():
        if "N" not in value:
            continue
        number = int(value["N"])
        kind, _, key = name.partition("#")
        if kind == "docs":
            totals["documents"][key] = number
        elif kind in ("tokens_in", "tokens_out"):
            counts = totals["tokens"].setdefault(key, {"input": 0, "output": 0})
            counts["input" if kind == "tokens_in" else "output"] = number
        elif kind == "calls":
            totals["provider_calls"][key] = number
        elif name in ("source_bytes", "chunks"):
            totals[name] = number
    return totals
