"""chalicelib.metrics: EMF lines with the code's names, low-cardinality dimensions, values grouped per
dimension set and tenant, roll-ups for the alarms, and one flush per batch."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from chalicelib.metrics import METRICS, NAMESPACE, MetricsBatch, UnknownMetric, collecting, record


def parse(lines: list[str]) -> list[dict]:
    return [json.loads(line) for line in lines]


def test_a_line_per_dimension_set_and_tenant_with_every_value() -> None:
    batch = MetricsBatch("prod")
    batch.add("StageLatency", 12.5, "embed", tenant="acme")
    batch.add("StageLatency", 7.5, "embed", tenant="acme")
    batch.add("StageLatency", 1.0, "parse", tenant="acme")
    batch.add("DocumentsIndexed", 1, tenant="globex")
    lines = parse(batch.lines())
    assert len(lines) == 3
    embed = next(line for line in lines if line.get("Stage") == "embed")
    assert embed["StageLatency"] == [12.5, 7.5] and embed["tenant"] == "acme"
    (directive,) = embed["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == NAMESPACE
    assert directive["Dimensions"] == [["service", "stage", "Stage"]]
    assert directive["Metrics"] == [{"Name": "StageLatency", "Unit": "Milliseconds"}]
    indexed = next(line for line in lines if "DocumentsIndexed" in line)
    assert indexed["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["service", "stage"]]
    assert indexed["tenant"] == "globex" and indexed["stage"] == "prod" and indexed["service"] == "quarry"
    assert batch.lines() == []  # emptied: the next invocation starts afresh


def test_a_rolled_up_metric_is_also_written_without_its_dimension() -> None:
    batch = MetricsBatch("prod")
    batch.add("DocumentsFailed", 1, "ENCRYPTED")
    batch.add("DocumentsFailed", 1, "CORRUPT")
    lines = parse(batch.lines())
    total = [line for line in lines if "ErrorCode" not in line]
    assert len(total) == 1 and total[0]["DocumentsFailed"] == [1.0, 1.0]
    assert sorted(line["ErrorCode"] for line in lines if "ErrorCode" in line) == ["CORRUPT", "ENCRYPTED"]


def test_names_and_dimensions_outside_the_list_are_refused() -> None:
    batch = MetricsBatch("prod")
    with pytest.raises(UnknownMetric):
        batch.add("DocumentsIndexd", 1)
    with pytest.raises(ValueError):
        batch.add("DocumentsFailed", 1)  # needs its ErrorCode
    with pytest.raises(ValueError):
        batch.add("Chunks", 3, "acme")  # no dimension: a tenant id must never become one
    assert {spec.dimension for spec in METRICS} <= {None, "ErrorCode", "Stage", "Model", "Provider", "Mode"}


def test_no_line_holds_100_values_of_a_metric() -> None:
    batch = MetricsBatch("prod")
    for _ in range(250):
        batch.add("Chunks", 1)
    lines = parse(batch.lines())
    assert [len(line["Chunks"]) for line in lines] == [99, 99, 52]


def test_threads_add_to_one_batch_and_flush_writes_each_line_once() -> None:
    batch = MetricsBatch("prod")
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda _: batch.add("Chunks", 1), range(80)))
    written: list[str] = []
    assert batch.flush(written.append) == 1
    assert len(json.loads(written[0])["Chunks"]) == 80
    assert batch.flush(written.append) == 0 and len(written) == 1


def test_record_adds_to_the_batch_being_collected_and_nothing_outside_one() -> None:
    record("SearchResults", 3)  # no batch: a service called from a unit test
    batch = MetricsBatch("local")
    with collecting(batch):
        record("SearchLatency", 4.2, "hybrid", tenant="acme")
    record("SearchResults", 5)
    (line,) = parse(batch.lines())
    assert line["SearchLatency"] == [4.2] and line["Mode"] == "hybrid"


def test_powertools_metrics_disabled_writes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    batch = MetricsBatch("prod")
    batch.add("Chunks", 1)
    written: list[str] = []
    assert batch.flush(written.append) == 0 and written == []
