"""What one document's ingestion used: model tokens, provider calls, retries, bytes, chunks.

Adapters count their own usage where they see it (a Titan response's `inputTextTokenCount`, a Converse
response's `usage`, a local tokenizer) into the meter of the document being worked on. The worker opens
one meter per record (`metering()`); the meter travels in a context variable, so adapters need no new
argument, and a thread started with `contextvars.copy_context().run` (the extraction beside embedding,
the Titan pool) counts into the same meter. Outside any meter (the API's query embedding) counting is a
no-op. Standard library only: the adapters and the services both import it.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Usage:
    """Totals for one document (or, summed, for many). `tokens[model]` is {"input": n, "output": n}."""

    tokens: dict[str, dict[str, int]] = field(default_factory=dict)
    provider_calls: dict[str, int] = field(default_factory=dict)
    provider_retries: dict[str, int] = field(default_factory=dict)
    provider_throttles: dict[str, int] = field(default_factory=dict)
    source_bytes: int = 0
    chunks: int = 0

    def add_tokens(self, model: str, input_tokens: int, output_tokens: int = 0) -> None:
        counts = self.tokens.setdefault(model, {"input": 0, "output": 0})
        counts["input"] += int(input_tokens)
        counts["output"] += int(output_tokens)

    def add(self, other: Usage) -> None:
        for model, counts in other.tokens.items():
            self.add_tokens(model, counts["input"], counts["output"])
        for mine, theirs in (
            (self.provider_calls, other.provider_calls),
            (self.provider_retries, other.provider_retries),
            (self.provider_throttles, other.provider_throttles),
        ):
            for provider, count in theirs.items():
                _bump(mine, provider, count)
        self.source_bytes += other.source_bytes
        self.chunks += other.chunks

    def as_dict(self) -> dict[str, Any]:
        return {
            "tokens": {model: dict(counts) for model, counts in sorted(self.tokens.items())},
            "provider_calls": dict(self.provider_calls),
            "provider_retries": dict(self.provider_retries),
            "provider_throttles": dict(self.provider_throttles),
            "source_bytes": self.source_bytes,
            "chunks": self.chunks,
        }

    @classmethod
    def from_dict(cls, plain: dict[str, Any] | None) -> Usage:
        plain = plain or {}
        return cls(
            tokens={
                m: {"input": int(c.get("input", 0)), "output": int(c.get("output", 0))}
                for m, c in (plain.get("tokens") or {}).items()
            },
            provider_calls={k: int(v) for k, v in (plain.get("provider_calls") or {}).items()},
            provider_retries={k: int(v) for k, v in (plain.get("provider_retries") or {}).items()},
            provider_throttles={k: int(v) for k, v in (plain.get("provider_throttles") or {}).items()},
            source_bytes=int(plain.get("source_bytes") or 0),
            chunks=int(plain.get("chunks") or 0),
        )


def _bump(counter: dict[str, int], key: str, by: int = 1) -> None:
    counter[key] = counter.get(key, 0) + by


class UsageMeter:
    """A Usage that several threads of one document may add to at once."""

    def __init__(self) -> None:
        self._usage = Usage()
        self._lock = threading.Lock()

    def tokens(self, model: str, input_tokens: int, output_tokens: int = 0) -> None:
        with self._lock:
            self._usage.add_tokens(model, input_tokens, output_tokens)

    def provider_call(self, provider: str) -> None:
        with self._lock:
            _bump(self._usage.provider_calls, provider)

    def provider_retry(self, provider: str, throttled: bool) -> None:
        with self._lock:
            _bump(self._usage.provider_retries, provider)
            if throttled:
                _bump(self._usage.provider_throttles, provider)

    def snapshot(self) -> Usage:
        with self._lock:
            return Usage.from_dict(self._usage.as_dict())


_current: contextvars.ContextVar[UsageMeter | None] = contextvars.ContextVar("quarry_usage", default=None)


@contextmanager
def metering() -> Iterator[UsageMeter]:
    """A fresh meter for the work done inside the block (in this thread and threads it hands its
    context to)."""
    meter = UsageMeter()
    token = _current.set(meter)
    try:
        yield meter
    finally:
        _current.reset(token)


def current_usage() -> Usage | None:
    """What the current meter has counted so far (a copy), or None outside any meter."""
    meter = _current.get()
    return meter.snapshot() if meter is not None else None


def count_tokens(model: str, input_tokens: int, output_tokens: int = 0) -> None:
    meter = _current.get()
    if meter is not None:
        meter.tokens(model, input_tokens, output_tokens)


def count_provider_call(provider: str) -> None:
    meter = _current.get()
    if meter is not None:
        meter.provider_call(provider)


def count_provider_retry(provider: str, throttled: bool) -> None:
    meter = _current.get()
    if meter is not None:
        meter.provider_retry(provider, throttled)
