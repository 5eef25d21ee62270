"""The worker's accounting of each document (chalicelib/accounting.py) and the usage report
(chalicelib/ledger.py) over the typed fake catalog; pricing from the configured table."""

from __future__ import annotations

import json
from datetime import date

import pytest

from chalicelib.accounting import DocumentAccounting, UsageDays
from chalicelib.ingest import Outcome
from chalicelib.ledger import UsageService
from chalicelib.metrics import MetricsBatch
from chalicelib.model import DocumentRecord, InvalidRequest, ObjectRef, Status, TransientError
from chalicelib.pricing import DEFAULT_PRICES, Price, PriceTableError, estimated_cost_usd, price_table
from chalicelib.usage import Usage, count_tokens, metering
from tests.fakes import MemoryCatalog

CLAUDE = "anthropic.claude-3-5-haiku-20241022-v1:0"
TITAN = "amazon.titan-embed-text-v2:0"
KEY = "tenants/acme/uploads/u1/report.pdf"
NOW = "2026-12-02T10:00:01.500Z"


def catalog_with(*document_ids: str) -> MemoryCatalog:
    catalog = MemoryCatalog()
    for document_id in document_ids:
        catalog.put(DocumentRecord(document_id, Status.INDEXED, "raw", KEY, NOW, NOW, tenant="acme"))
    return catalog


def spent(claude_in: int = 1000, claude_out: int = 200, titan_in: int = 500) -> Usage:
    usage = Usage()
    usage.add_tokens(CLAUDE, claude_in, claude_out)
    usage.add_tokens(TITAN, titan_in)
    usage.provider_calls["bedrock"] = 3
    usage.provider_retries["bedrock"] = 2
    usage.provider_throttles["bedrock"] = 1
    return usage


def names(batch: MetricsBatch) -> dict[tuple[str, str | None], float]:
    found: dict[tuple[str, str | None], float] = {}
    for line in map(json.loads, batch.lines()):
        extra = next((line[d] for d in line["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0][2:]), None)
        for metric in line["_aws"]["CloudWatchMetrics"][0]["Metrics"]:
            values = line[metric["Name"]]
            found[(metric["Name"], extra)] = found.get((metric["Name"], extra), 0) + sum(
                values if isinstance(values, list) else [values]
            )
    return found


def accounting(catalog: MemoryCatalog) -> DocumentAccounting:
    return DocumentAccounting(catalog, DEFAULT_PRICES, max_attempts=3, clock=lambda: NOW)


def handled(ledger: DocumentAccounting, batch: MetricsBatch, *args) -> None:
    """One document's accounting in a batch of its own, its day charged as the batch ends."""
    days = UsageDays()
    ledger.document_handled(batch, days, *args)
    ledger.charge_days(days)


def test_the_entry_of_the_document_being_ingested_comes_from_its_meter() -> None:
    ledger = accounting(MemoryCatalog())
    assert ledger.entry_for_current_document(100, 2) is None  # outside any meter
    with metering():
        count_tokens(TITAN, 500)
        count_tokens(CLAUDE, 1000, 200)
        entry = ledger.entry_for_current_document(2048, 4)
    assert entry is not None
    assert entry["source_bytes"] == 2048 and entry["chunks"] == 4
    assert entry["tokens"] == {CLAUDE: {"input": 1000, "output": 200}, TITAN: {"input": 500, "output": 0}}
    usage = Usage.from_dict(entry)
    assert entry["estimated_cost_usd"] == round(estimated_cost_usd(DEFAULT_PRICES, usage), 9) > 0


def test_an_entry_that_came_with_the_indexed_record_is_charged_to_the_day_but_not_written_again() -> None:
    catalog = catalog_with("d1")
    outcome = Outcome("d1", Status.INDEXED, 4, tenant="acme", source_bytes=2048, usage_recorded=True)
    handled(accounting(catalog), MetricsBatch("prod"), ObjectRef("raw", KEY, etag="e"), outcome, spent())
    assert catalog.usage_writes == 0
    assert catalog.get("d1").usage is None  # the fake's record as put: the ingest service wrote none
    day = catalog.usage_by_day("acme", [NOW[:10]])[NOW[:10]]
    assert day["documents"] == {"INDEXED": 1}
    assert day["tokens"][CLAUDE] == {"input": 1000, "output": 200} and day["chunks"] == 4


def test_an_indexed_document_is_measured_and_charged_to_its_tenants_day() -> None:
    catalog = catalog_with("d1")
    batch = MetricsBatch("prod")
    ref = ObjectRef("raw", KEY, etag="e", event_time="2026-12-02T10:00:00Z")
    outcome = Outcome(
        "d1", Status.INDEXED, 4, tenant="acme", timings_ms={"parse": 3.0, "embed": 9.0}, source_bytes=2048
    )
    handled(accounting(catalog), batch, ref, outcome, spent())

    metrics = names(batch)
    assert metrics[("DocumentsIndexed", None)] == 1 and metrics[("Chunks", None)] == 4
    assert metrics[("SourceBytes", None)] == 2048
    assert metrics[("StageLatency", "embed")] == 9.0
    assert metrics[("EndToEndLatency", None)] == pytest.approx(1500.0)
    assert metrics[("ModelInputTokens", CLAUDE)] == 1000 and metrics[("ModelOutputTokens", CLAUDE)] == 200
    assert metrics[("ProviderRetries", "bedrock")] == 2 and metrics[("ProviderThrottles", "bedrock")] == 1
    expected_cost = 1000 / 1000 * 0.0008 + 200 / 1000 * 0.004 + 500 / 1000 * 0.00002
    assert metrics[("EstimatedCost", CLAUDE)] + metrics[("EstimatedCost", TITAN)] == pytest.approx(
        expected_cost
    )

    usage = catalog.get("d1").usage
    assert usage["source_bytes"] == 2048 and usage["chunks"] == 4
    assert usage["estimated_cost_usd"] == pytest.approx(expected_cost)
    day = catalog.usage_by_day("acme", ["2026-12-02"])["2026-12-02"]
    assert day["documents"] == {"INDEXED": 1} and day["tokens"][CLAUDE] == {"input": 1000, "output": 200}


def test_a_skipped_delivery_counts_as_skipped_and_charges_nothing() -> None:
    catalog = catalog_with("d1")
    batch = MetricsBatch("prod")
    handled(
        accounting(catalog),
        batch,
        ObjectRef("raw", KEY),
        Outcome("d1", Status.INDEXED, 4, skipped=True),
        Usage(),
    )
    assert names(batch) == {("DocumentsSkipped", None): 1}
    assert catalog.usage_days == {} and catalog.get("d1").usage is None


def test_the_last_failed_delivery_is_a_failed_document_and_earlier_ones_are_not() -> None:
    ref = ObjectRef("raw", KEY)
    catalog = catalog_with(ref.document_id)
    early, last = MetricsBatch("prod"), MetricsBatch("prod")
    days = UsageDays()
    accounting(catalog).attempt_failed(early, days, ref, 1, TransientError("throttled"), spent())
    accounting(catalog).attempt_failed(last, days, ref, 3, TransientError("throttled"), spent())
    accounting(catalog).charge_days(days)
    seen_early, seen_last = names(early), names(last)
    assert ("DocumentsFailed", "PROVIDER_ERROR") not in seen_early
    assert ("ModelInputTokens", CLAUDE) in seen_early  # the retried attempt's spend is still seen
    assert seen_last[("DocumentsFailed", "PROVIDER_ERROR")] == 1
    assert catalog.usage_by_day("acme", ["2026-12-02"])["2026-12-02"]["documents"] == {"FAILED": 1}


def test_a_batch_adds_to_each_tenants_day_once_and_only_for_documents_still_recorded() -> None:
    catalog = catalog_with("a", "b", "c")
    catalog.put(DocumentRecord("g", Status.INDEXED, "raw", KEY, NOW, NOW, tenant="globex"))
    ledger, batch, days = accounting(catalog), MetricsBatch("prod"), UsageDays()
    for document_id, tenant in (("a", "acme"), ("b", "acme"), ("gone", "acme"), ("g", "globex")):
        outcome = Outcome(document_id, Status.INDEXED, 2, tenant=tenant, source_bytes=100)
        ledger.document_handled(batch, days, ObjectRef("raw", KEY), outcome, spent())
    failed = Outcome("c", Status.FAILED, tenant="acme", error_code="EMPTY")
    ledger.document_handled(batch, days, ObjectRef("raw", KEY), failed, Usage())
    assert catalog.day_writes == 0  # nothing of the day is written before the batch ends
    ledger.charge_days(days)
    ledger.charge_days(days)  # what was charged is not charged again
    assert catalog.day_writes == 2
    acme = catalog.usage_by_day("acme", ["2026-12-02"])["2026-12-02"]
    assert acme["documents"] == {"INDEXED": 2, "FAILED": 1}
    assert acme["tokens"][CLAUDE] == {"input": 2000, "output": 400}
    assert acme["chunks"] == 4 and acme["source_bytes"] == 200 and acme["provider_calls"] == {"bedrock": 6}
    assert catalog.usage_by_day("globex", ["2026-12-02"])["2026-12-02"]["documents"] == {"INDEXED": 1}


def test_a_ledger_write_that_fails_does_not_fail_the_document(caplog: pytest.LogCaptureFixture) -> None:
    catalog = MemoryCatalog()  # the record is gone: the write is refused
    handled(
        accounting(catalog),
        MetricsBatch("prod"),
        ObjectRef("raw", KEY),
        Outcome("gone", Status.FAILED, tenant="acme", error_code="EMPTY"),
        Usage(),
    )
    assert catalog.usage_days == {}
    assert "could not record the document's usage" in caplog.text


def test_the_report_sums_the_days_in_the_window_and_prices_the_tokens() -> None:
    catalog = catalog_with("a", "b", "c")
    ledger = DocumentAccounting(
        catalog, DEFAULT_PRICES, max_attempts=3, clock=lambda: "2026-12-01T09:00:00.000Z"
    )
    handled(
        ledger,
        MetricsBatch("p"),
        ObjectRef("raw", KEY),
        Outcome("a", Status.INDEXED, 2, tenant="acme"),
        spent(),
    )
    ledger = DocumentAccounting(catalog, DEFAULT_PRICES, max_attempts=3, clock=lambda: NOW)
    handled(
        ledger,
        MetricsBatch("p"),
        ObjectRef("raw", KEY),
        Outcome("b", Status.INDEXED, 3, tenant="acme"),
        spent(),
    )
    handled(
        ledger,
        MetricsBatch("p"),
        ObjectRef("raw", KEY),
        Outcome("c", Status.FAILED, tenant="acme", error_code="EMPTY"),
        Usage(),
    )
    service = UsageService(catalog, DEFAULT_PRICES, today=lambda: date(2026, 12, 2))

    report = service.report("acme", "2026-12-01")
    documents = [catalog.get(d).usage for d in ("a", "b", "c")]
    assert report["documents"] == {"INDEXED": 2, "FAILED": 1}
    assert report["tokens"][CLAUDE] == {"input": 2000, "output": 400}
    assert report["chunks"] == 5 == sum(u["chunks"] for u in documents)
    assert report["estimated_cost_usd"] == pytest.approx(sum(u["estimated_cost_usd"] for u in documents))
    assert report["cost_per_1000_documents_usd"] == pytest.approx(
        report["estimated_cost_usd"] / 3 * 1000, rel=1e-4
    )
    assert service.report("acme", "2026-12-02")["documents"] == {"INDEXED": 1, "FAILED": 1}
    assert service.report("globex", None)["documents"] == {}


@pytest.mark.parametrize("since", ["2026-13-01", "tomorrow", "2026-12-03", "2025-12-01"])
def test_a_since_that_is_not_a_day_in_the_last_year_is_a_400(since: str) -> None:
    service = UsageService(MemoryCatalog(), DEFAULT_PRICES, today=lambda: date(2026, 12, 2))
    with pytest.raises(InvalidRequest) as refused:
        service.report("acme", since)
    assert refused.value.code == "invalid_since" and refused.value.status == 400


def test_prices_can_be_overridden_and_added_and_a_bad_table_is_refused() -> None:
    table = price_table(
        json.dumps({TITAN: {"input_per_1k": 0.1}, "my-model": {"input_per_1k": 1, "output_per_1k": 2}})
    )
    assert table[TITAN] == Price(0.1, 0.0) and table["my-model"] == Price(1.0, 2.0)
    assert table[CLAUDE] == DEFAULT_PRICES[CLAUDE]
    usage = Usage()
    usage.add_tokens("my-model", 2000, 500)
    usage.add_tokens("sentence-transformers/all-MiniLM-L6-v2", 10_000)  # local: no price, no cost
    assert estimated_cost_usd(table, usage) == pytest.approx(3.0)
    with pytest.raises(PriceTableError):
        price_table('{"m": {"output_per_1k": 1}}')
    with pytest.raises(PriceTableError):
        price_table("[1, 2]")
