"""After each document the worker handled: its metrics, and its entry in the cost ledger.

The ingest service returns what happened (Outcome: status, error code, stage timings, bytes, chunks);
the adapters counted the tokens and provider calls into the record's meter (chalicelib/usage.py). This
module turns the two into metric observations and, for a document that ended (INDEXED or FAILED), its
ledger entry: the document's usage on its record, and the same amounts added to its tenant's day, so
GET /usage reads a day's totals from one item however many documents it had. An INDEXED document's
entry goes on its record with the write that ends its claim (`entry_for_current_document`, which the
ingest service calls); any other ending's is written after it (Catalog.record_usage).

The day's item is written once per SQS batch, not once per document (UsageDays, charged when the batch
ends): every document of a tenant's day adds to that one item, and a batch of ten makes one write of it
instead of ten. An invocation that dies before the end of its batch leaves those documents' entries on
their records but not in their day: a report slightly low, as for any ledger write that fails.

Ledger rule: the attempt that ends a document is recorded. Tokens spent by attempts that were retried
are in the metrics (ModelInputTokens counts every call) but not in the ledger.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from chalicelib.clock import utc_now
from chalicelib.keys import tenant_of_key
from chalicelib.metrics import MetricsBatch
from chalicelib.model import ObjectRef, Status, TransientError
from chalicelib.observability import logger
from chalicelib.pricing import Price, estimated_cost_usd, token_cost_usd
from chalicelib.usage import Usage, current_usage

if TYPE_CHECKING:
    from chalicelib.ingest import Outcome
    from chalicelib.ports import Catalog


def _parse_time(timestamp: str) -> datetime:
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00"))


def final_failure_code(error: BaseException) -> str:
    """The code IngestService records when a document runs out of deliveries (its choice, repeated:
    the exception carries no code)."""
    return "PROVIDER_ERROR" if isinstance(error, TransientError) else "INTERNAL"


def ledger_entry(prices: dict[str, Price], usage: Usage) -> dict:
    """A document's entry in the cost ledger: what it used and what that is estimated to cost."""
    return {**usage.as_dict(), "estimated_cost_usd": round(estimated_cost_usd(prices, usage), 9)}


class UsageDays:
    """What one batch's ended documents add to their tenants' days: per (tenant, day), how many ended in
    each status and their summed usage. The batch's records add to it from several threads."""

    def __init__(self) -> None:
        self._days: dict[tuple[str, str], tuple[dict[str, int], Usage]] = {}
        self._lock = threading.Lock()

    def add(self, tenant: str, day: str, status: str, usage: Usage) -> None:
        with self._lock:
            documents, total = self._days.setdefault((tenant, day), ({}, Usage()))
            documents[status] = documents.get(status, 0) + 1
            total.add(usage)

    def drain(self) -> list[tuple[str, str, dict[str, int], Usage]]:
        """Every day's totals, once: what has been drained is not drained again."""
        with self._lock:
            days, self._days = self._days, {}
        return [(tenant, day, documents, usage) for (tenant, day), (documents, usage) in days.items()]


class DocumentAccounting:
    def __init__(
        self,
        catalog: Catalog,
        prices: dict[str, Price],
        max_attempts: int,
        default_tenant: str | None = None,
        clock: Callable[[], str] = utc_now,
    ):
        self._catalog = catalog
        self._prices = prices
        self._max_attempts = max_attempts
        self._default_tenant = default_tenant
        self._clock = clock

    def entry_for_current_document(self, source_bytes: int, chunks: int) -> dict | None:
        """The ledger entry of the document being ingested, from its meter (None outside one): what
        the ingest service writes with the record that ends the document."""
        usage = current_usage()
        if usage is None:
            return None
        usage.source_bytes = source_bytes
        usage.chunks = chunks
        return ledger_entry(self._prices, usage)

    def document_handled(
        self, batch: MetricsBatch, days: UsageDays, ref: ObjectRef, outcome: Outcome, usage: Usage
    ) -> None:
        tenant = outcome.tenant or tenant_of_key(ref.key) or self._default_tenant
        self._provider_metrics(batch, usage, tenant)
        if outcome.skipped:
            batch.add("DocumentsSkipped", 1, tenant=tenant)
            return
        if outcome.status == Status.INDEXED:
            batch.add("DocumentsIndexed", 1, tenant=tenant)
            batch.add("Chunks", outcome.chunk_count, tenant=tenant)
            for stage, ms in outcome.timings_ms.items():
                batch.add("StageLatency", ms, stage, tenant=tenant)
            if ref.event_time:
                elapsed = _parse_time(self._clock()) - _parse_time(ref.event_time)
                batch.add("EndToEndLatency", max(0.0, elapsed.total_seconds() * 1000), tenant=tenant)
        elif outcome.status == Status.FAILED:
            batch.add("DocumentsFailed", 1, outcome.error_code or "INTERNAL", tenant=tenant)
        else:
            return  # a delete: no document ended
        if outcome.source_bytes:
            batch.add("SourceBytes", outcome.source_bytes, tenant=tenant)
        usage.source_bytes = outcome.source_bytes
        usage.chunks = outcome.chunk_count
        self._ledger(days, outcome.document_id, tenant, outcome.status, usage, outcome.usage_recorded)

    def attempt_failed(
        self,
        batch: MetricsBatch,
        days: UsageDays,
        ref: ObjectRef,
        attempt: int,
        error: BaseException,
        usage: Usage,
    ) -> None:
        """An attempt that raised: the message is retried, unless this was the last delivery, on
        which the document was marked FAILED before the error came up."""
        tenant = tenant_of_key(ref.key) or self._default_tenant
        self._provider_metrics(batch, usage, tenant)
        if ref.deleted or attempt < self._max_attempts:
            return
        batch.add("DocumentsFailed", 1, final_failure_code(error), tenant=tenant)
        self._ledger(days, ref.document_id, tenant, Status.FAILED, usage)

    def charge_days(self, days: UsageDays) -> None:
        """Add the batch's documents to their tenants' days: one write per tenant and day."""
        for tenant, day, documents, usage in days.drain():
            try:
                self._catalog.add_day_usage(tenant, day, documents, usage.as_dict())
            except Exception:
                # The documents' own entries are recorded; a day's total is only a report slightly low.
                logger.exception(
                    "could not add the batch's usage to the tenant's day",
                    extra={"tenant": tenant, "day": day, "documents": documents},
                )

    def _provider_metrics(self, batch: MetricsBatch, usage: Usage, tenant: str | None) -> None:
        for model, counts in usage.tokens.items():
            batch.add("ModelInputTokens", counts["input"], model, tenant=tenant)
            if counts["output"]:
                batch.add("ModelOutputTokens", counts["output"], model, tenant=tenant)
            cost = token_cost_usd(self._prices, model, counts["input"], counts["output"])
            if cost:
                batch.add("EstimatedCost", cost, model, tenant=tenant)
        for provider, retries in usage.provider_retries.items():
            batch.add("ProviderRetries", retries, provider, tenant=tenant)
        for provider, throttles in usage.provider_throttles.items():
            batch.add("ProviderThrottles", throttles, provider, tenant=tenant)

    def _ledger(
        self,
        days: UsageDays,
        document_id: str,
        tenant: str | None,
        status: Status,
        usage: Usage,
        recorded: bool = False,
    ) -> None:
        """`recorded`: the entry went on the document's record with the write that ended it."""
        if tenant is None:
            return  # FAILED/NO_TENANT: no tenant's ledger to charge, and no one can ask for it
        if not recorded:
            try:
                self._catalog.record_usage(document_id, ledger_entry(self._prices, usage))
            except Exception:
                # The document's state is already recorded; a ledger entry lost is a cost report
                # slightly low, not a document to retry. A record that is gone (ClaimLost) charges no
                # day either.
                logger.exception("could not record the document's usage in the ledger")
                return
        days.add(tenant, self._clock()[:10], status.value, usage)
