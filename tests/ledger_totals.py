"""The fake catalog's day totals: the same arithmetic DynamoDB's ADD does, in memory."""

from __future__ import annotations

from typing import Any


def add_to_day(day: dict[str, Any], documents: dict[str, int], usage: dict[str, Any]) -> None:
    if not day:
        day.update({"documents": {}, "tokens": {}, "provider_calls": {}, "source_bytes": 0, "chunks": 0})
    for status, count in documents.items():
        day["documents"][status] = day["documents"].get(status, 0) + count
    for model, counts in (usage.get("tokens") or {}).items():
        total = day["tokens"].setdefault(model, {"input": 0, "output": 0})
        total["input"] += counts.get("input", 0)
        total["output"] += counts.get("output", 0)
    for provider, calls in (usage.get("provider_calls") or {}).items():
        day["provider_calls"][provider] = day["provider_calls"].get(provider, 0) + calls
    day["source_bytes"] += usage.get("source_bytes") or 0
    day["chunks"] += usage.get("chunks") or 0
