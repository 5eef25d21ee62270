"""GET /usage: what a tenant's documents used and cost over a window of days, from the ledger.

The catalog keeps one total per tenant and day (Catalog.usage_by_day), so a report reads at most
MAX_DAYS items whatever the number of documents. Costs are estimated when the report is made, from the
tokens and the current price table (chalicelib/pricing.py): an override of a price applies to the past
too, which is what a budget owner comparing models wants.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from chalicelib.model import InvalidRequest
from chalicelib.ports import Catalog
from chalicelib.pricing import Price, estimated_cost_usd
from chalicelib.usage import Usage

MAX_DAYS = 366
DEFAULT_DAYS = 30


def _since(since: str | None, today: date) -> date:
    if not since:
        return today - timedelta(days=DEFAULT_DAYS - 1)
    try:
        start = date.fromisoformat(since[:10])
    except ValueError as error:
        raise InvalidRequest("invalid_since", "since must be a date, YYYY-MM-DD (UTC)") from error
    if start > today:
        raise InvalidRequest("invalid_since", "since is in the future")
    if (today - start).days >= MAX_DAYS:
        raise InvalidRequest("invalid_since", f"since may be at most {MAX_DAYS - 1} days ago")
    return start


class UsageService:
    def __init__(self, catalog: Catalog, prices: dict[str, Price], today=lambda: datetime.now(UTC).date()):
        self._catalog = catalog
        self._prices = prices
        self._today = today

    def report(self, tenant: str, since: str | None) -> dict[str, Any]:
        today = self._today()
        start = _since(since, today)
        days = [(start + timedelta(days=n)).isoformat() for n in range((today - start).days + 1)]
        by_day = self._catalog.usage_by_day(tenant, days)
        documents: dict[str, int] = {}
        total = Usage()
        for day in by_day.values():
            for status, count in day["documents"].items():
                documents[status] = documents.get(status, 0) + count
            for model, counts in day["tokens"].items():
                total.add_tokens(model, counts["input"], counts["output"])
            for provider, calls in day["provider_calls"].items():
                total.provider_calls[provider] = total.provider_calls.get(provider, 0) + calls
            total.source_bytes += day["source_bytes"]
            total.chunks += day["chunks"]
        cost = estimated_cost_usd(self._prices, total)
        ended = sum(documents.values())
        summed = total.as_dict()
        return {
            "tenant": tenant,
            "since": start.isoformat(),
            "until": today.isoformat(),
            "documents": documents,
            "tokens": summed["tokens"],
            "provider_calls": summed["provider_calls"],
            "source_bytes": total.source_bytes,
            "chunks": total.chunks,
            "estimated_cost_usd": round(cost, 6),
            "cost_per_1000_documents_usd": round(cost / ended * 1000, 6) if ended else None,
        }
