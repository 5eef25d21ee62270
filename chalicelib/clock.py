"""Timestamps as the catalog stores them: UTC ISO 8601 with milliseconds, so they sort as text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def utc_now() -> str:
    return _format(datetime.now(UTC))


def later(timestamp: str, seconds: int) -> str:
    return _format(datetime.fromisoformat(timestamp.replace("Z", "+00:00")) + timedelta(seconds=seconds))


def _format(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
