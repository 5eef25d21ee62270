"""Quarry's CloudWatch metrics: the one list of what the code emits, and its embedded-metric-format lines.

METRICS is the list infra/dashboard.tf and infra/monitoring.tf are checked against
(tests/infra/test_dashboard.py): every metric they chart or alarm on is named here, and every metric
here is on the dashboard.

Observations are collected during an invocation (`MetricsBatch.add`, thread-safe: the worker's records
run in a pool) and written once at its end (`flush`) as EMF JSON lines on stdout, which is what
CloudWatch Logs turns into metrics in AWS and what the local stack prints to its log. Every metric has
the dimensions service and stage, and at most one more from a small fixed set (ErrorCode, Stage, Model,
Provider, Mode): never a document or tenant id. The tenant goes in as a property of the line (searchable
in Logs Insights, free of metric cost), so lines are grouped by dimensions and tenant.

Powertools' EMF provider does the serialising; it is imported at the first flush, not at import time
(the API's cold start).
"""

from __future__ import annotations

import contextvars
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

NAMESPACE = "Quarry"
SERVICE = "quarry"


@dataclass(frozen=True)
class MetricSpec:
    name: str
    unit: str
    dimension: str | None = None
    # Also emitted without its dimension, so an alarm can watch the total (alarms cannot SEARCH).
    rollup: bool = False


METRICS: tuple[MetricSpec, ...] = (
    # The worker, per document that ended (or was skipped as a duplicate delivery).
    MetricSpec("DocumentsIndexed", "Count"),
    MetricSpec("DocumentsFailed", "Count", "ErrorCode", rollup=True),
    MetricSpec("DocumentsSkipped", "Count"),
    MetricSpec("Chunks", "Count"),
    MetricSpec("SourceBytes", "Bytes"),
    MetricSpec("StageLatency", "Milliseconds", "Stage"),
    MetricSpec("EndToEndLatency", "Milliseconds"),
    MetricSpec("ModelInputTokens", "Count", "Model"),
    MetricSpec("ModelOutputTokens", "Count", "Model"),
    MetricSpec("EstimatedCost", "None", "Model"),  # USD, from the price table (chalicelib/pricing.py)
    MetricSpec("ProviderThrottles", "Count", "Provider", rollup=True),
    MetricSpec("ProviderRetries", "Count", "Provider"),
    # The API, per request.
    MetricSpec("SearchLatency", "Milliseconds", "Mode"),
    MetricSpec("SearchResults", "Count"),
    MetricSpec("UploadsCreated", "Count"),
    MetricSpec("AuthFailures", "Count"),
)
SPECS = {spec.name: spec for spec in METRICS}
# Powertools flushes on its own (to stdout, past our sink) when a metric reaches 100 values.
_MAX_VALUES = 99


class UnknownMetric(KeyError):
    pass


class MetricsBatch:
    """The observations of one invocation, written as EMF lines by `flush`."""

    def __init__(self, stage: str, namespace: str = NAMESPACE, service: str = SERVICE) -> None:
        self._stage = stage
        self._namespace = namespace
        self._service = service
        self._lock = threading.Lock()
        # (dimension value or None, tenant or None) -> metric name -> values
        self._groups: dict[tuple[str | None, str | None, str | None], dict[str, list[float]]] = {}

    def add(self, name: str, value: float, dimension: str | None = None, tenant: str | None = None) -> None:
        spec = SPECS.get(name)
        if spec is None:
            raise UnknownMetric(f"{name} is not in chalicelib.metrics.METRICS")
        if (dimension is None) != (spec.dimension is None):
            raise ValueError(
                f"{name} takes {'dimension ' + spec.dimension if spec.dimension else 'no dimension'}"
            )
        with self._lock:
            self._values(spec.dimension, dimension, tenant, name).append(float(value))
            if spec.rollup:
                self._values(None, None, tenant, name).append(float(value))

    def _values(self, key: str | None, value: str | None, tenant: str | None, name: str) -> list[float]:
        return self._groups.setdefault((key, value, tenant), {}).setdefault(name, [])

    def lines(self) -> list[str]:
        """The EMF JSON lines of everything added, and the batch emptied."""
        with self._lock:
            groups, self._groups = self._groups, {}
        lines = []
        for (key, value, tenant), metrics in groups.items():
            for part in _parts(metrics):
                lines.append(json.dumps(self._emf(key, value, tenant, part), separators=(",", ":")))
        return lines

    def _emf(
        self, key: str | None, value: str | None, tenant: str | None, metrics: dict[str, list[float]]
    ) -> dict:
        from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import (
            AmazonCloudWatchEMFProvider,
        )

        provider = AmazonCloudWatchEMFProvider(namespace=self._namespace)
        provider.add_dimension("service", self._service)
        provider.add_dimension("stage", self._stage)
        if key is not None and value is not None:
            provider.add_dimension(key, value)
        if tenant is not None:
            provider.add_metadata("tenant", tenant)
        for name, values in metrics.items():
            for number in values:
                provider.add_metric(name=name, unit=SPECS[name].unit, value=number)
        return provider.serialize_metric_set()

    def flush(self, write: Callable[[str], None] = print) -> int:
        """Write the lines (stdout by default: Lambda's log, the local stack's console); returns how many."""
        from aws_lambda_powertools.metrics.functions import is_metrics_disabled

        lines = self.lines()
        if is_metrics_disabled():
            return 0
        for line in lines:
            write(line)
        return len(lines)


def _parts(metrics: dict[str, list[float]]) -> Iterator[dict[str, list[float]]]:
    """`metrics` cut so no line holds 100 values of a metric (EMF's limit)."""
    longest = max((len(v) for v in metrics.values()), default=0)
    for start in range(0, max(longest, 1), _MAX_VALUES):
        part = {
            n: v[start : start + _MAX_VALUES] for n, v in metrics.items() if v[start : start + _MAX_VALUES]
        }
        if part:
            yield part


_current: contextvars.ContextVar[MetricsBatch | None] = contextvars.ContextVar("quarry_metrics", default=None)


@contextmanager
def collecting(batch: MetricsBatch) -> Iterator[MetricsBatch]:
    """Make `batch` the one `record` adds to in this context (an HTTP request, an SQS batch)."""
    token = _current.set(batch)
    try:
        yield batch
    finally:
        _current.reset(token)


def record(name: str, value: float, dimension: str | None = None, tenant: str | None = None) -> None:
    """Add to the invocation's batch; outside one (a unit test calling a service) nothing is recorded."""
    batch = _current.get()
    if batch is not None:
        batch.add(name, value, dimension, tenant)
