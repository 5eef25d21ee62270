"""The dashboard and the alarms against the code's one list of metrics (chalicelib/metrics.METRICS),
both ways: everything they chart or alarm on in the Quarry namespace is a metric the code emits, with
the dimensions the code gives it, and every metric the code emits is on the dashboard."""

from __future__ import annotations

import re
from typing import Any

from chalicelib.metrics import METRICS, NAMESPACE, SERVICE, SPECS
from infra.tools import tfconfig

SEARCH = re.compile(r"SEARCH\('\{(?P<schema>[^}]*)\}\s+MetricName=\"(?P<name>\w+)\"")
STAGE = "${local.chalice_stage}"


def charted(dashboard: dict[str, Any]) -> list[tuple[str, tuple[str, ...]]]:
    """(metric name, dimension names) of every Quarry metric the dashboard draws."""
    found = []
    for widget in dashboard["widgets"]:
        for row in widget["properties"]["metrics"]:
            if isinstance(row[0], dict):
                match = SEARCH.match(row[0]["expression"])
                assert match, row
                namespace, *dimensions = match["schema"].split(",")
                if namespace == NAMESPACE:
                    found.append((match["name"], tuple(dimensions)))
            elif row[0] == NAMESPACE:
                name, *rest = [item for item in row if not isinstance(item, dict)][1:]
                pairs = dict(zip(rest[::2], rest[1::2], strict=True))
                assert pairs == {"service": SERVICE, "stage": STAGE}, row
                found.append((name, tuple(pairs)))
    return found


def alarmed(alarms: dict[str, dict[str, Any]]) -> list[tuple[str, tuple[str, ...]]]:
    found = []
    for alarm in alarms.values():
        metrics = [alarm] + [q["metric"][0] for q in alarm.get("metric_query", []) if "metric" in q]
        for metric in metrics:
            if metric.get("namespace") == NAMESPACE:
                assert metric["dimensions"] == {"service": SERVICE, "stage": STAGE}, metric
                found.append((metric["metric_name"], tuple(metric["dimensions"])))
    return found


def allowed(name: str, dimensions: tuple[str, ...]) -> bool:
    """Whether the code writes `name` with these dimensions (its own, or its roll-up's)."""
    spec = SPECS.get(name)
    if spec is None:
        return False
    own = ("service", "stage", spec.dimension) if spec.dimension else ("service", "stage")
    return dimensions == own or (spec.rollup and dimensions == ("service", "stage"))


def test_every_charted_or_alarmed_metric_is_one_the_code_emits(config: tfconfig.Config) -> None:
    dashboard = config.locals["dashboard"].body
    alarms = config.resources_of("aws_cloudwatch_metric_alarm")
    used = charted(dashboard) + alarmed(alarms)
    assert len(alarmed(alarms)) >= 3  # failure ratio (2 metrics) and provider throttling
    wrong = sorted({u for u in used if not allowed(*u)})
    assert not wrong, f"not emitted by chalicelib/metrics.py with these dimensions: {wrong}"


def test_every_metric_the_code_emits_is_on_the_dashboard(config: tfconfig.Config) -> None:
    names = {name for name, _ in charted(config.locals["dashboard"].body)}
    missing = sorted(spec.name for spec in METRICS if spec.name not in names)
    assert not missing, f"emitted but not on infra/dashboard.tf: {missing}"
    body = config.resource_body("aws_cloudwatch_dashboard", "quarry")
    assert body["dashboard_body"] == "${jsonencode(local.dashboard)}"


def test_the_dashboard_shows_what_an_operator_opens_first(config: tfconfig.Config) -> None:
    widgets = config.locals["dashboard"].body["widgets"]
    rows = [str(row) for w in widgets for row in w["properties"]["metrics"]]
    for aws_metric in (
        "ApproximateAgeOfOldestMessage",
        "ApproximateNumberOfMessagesVisible",
        "Errors",
        "Throttles",
    ):
        assert any(aws_metric in row for row in rows), aws_metric
    assert any("aws_sqs_queue.dead_letter.name" in row for row in rows)
    expressions = [
        row[0]["expression"]
        for w in widgets
        for row in w["properties"]["metrics"]
        if isinstance(row[0], dict)
    ]
    for latency in ("StageLatency", "SearchLatency"):
        stats = {m for e in expressions if f'"{latency}"' in e for m in re.findall(r"'(p\d+)', 300", e)}
        assert stats == {"p50", "p95"}, latency


def test_alarms_notify_a_topic_created_when_none_is_given(config: tfconfig.Config) -> None:
    topic = config.resource_body("aws_sns_topic", "alarms")
    assert topic["count"] == "${var.alarm_sns_topic_arn == null ? 1 : 0}"
    assert topic["kms_master_key_id"] == "${aws_kms_key.quarry.arn}"
    assert "aws_sns_topic.alarms[0].arn" in config.locals["alarm_actions"].body
    names = set(config.resources_of("aws_cloudwatch_metric_alarm"))
    assert {
        "failure_ratio",
        "provider_throttling",
        "ingest_backlog_age",
        "worker_errors",
        "api_errors",
    } <= names
