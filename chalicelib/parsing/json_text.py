"""JSON and NDJSON as "path: value" lines, e.g. "address.city: Paris", "tags[0]: urgent"."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

from chalicelib.parsed import Page, ParsedDocument
from chalicelib.parsing.content_types import JSON, NDJSON
from chalicelib.parsing.errors import corrupt
from chalicelib.parsing.limits import CharacterBudget, ParseLimits

log = logging.getLogger(__name__)


def parse_json(text: str, limits: ParseLimits) -> ParsedDocument:
    try:
        value = _loads(text)
    except RecursionError:
        raise corrupt("JSON", "JSON nested too deeply") from None
    except json.JSONDecodeError as exc:
        if exc.msg == "Extra data":  # several documents, one per line: really NDJSON
            return parse_ndjson(text, limits)
        raise corrupt("JSON", f"{exc.msg} at line {exc.lineno}, column {exc.colno}") from None
    except ValueError as exc:  # e.g. an integer past Python's digit limit
        raise corrupt("JSON", exc) from None
    budget = CharacterBudget(limits.max_characters)
    body = "\n".join(budget.spend(line) for line in flatten(value))
    return ParsedDocument(content_type=JSON, pages=[Page(text=body)])


def parse_ndjson(text: str, limits: ParseLimits) -> ParsedDocument:
    """One JSON document per line. Bad lines (a truncated last line, say) are skipped, not fatal."""
    budget = CharacterBudget(limits.max_characters)
    records: list[str] = []
    bad_lines = 0
    first_error = ""
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            value = _loads(line)
        except (RecursionError, ValueError) as exc:
            bad_lines += 1
            first_error = (
                first_error
                or f"line {number}: {'nested too deeply' if isinstance(exc, RecursionError) else exc}"
            )
            continue
        records.append("\n".join(budget.spend(item) for item in flatten(value)))
    if not records and bad_lines:
        raise corrupt("NDJSON", f"no line is valid JSON ({first_error})")
    if bad_lines:
        log.warning("skipped %d unreadable NDJSON lines (%s)", bad_lines, first_error)
    return ParsedDocument(content_type=NDJSON, pages=[Page(text="\n\n".join(records))])


def flatten(value: Any) -> Iterator[str]:
    """ "path: value" for every scalar, depth first, without recursion."""
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, dict):
            stack.extend(
                (f"{path}.{key}" if path else str(key), child) for key, child in reversed(node.items())
            )
        elif isinstance(node, list):
            stack.extend((f"{path}[{index}]", child) for index, child in reversed(list(enumerate(node))))
        else:
            scalar = _scalar(node)
            if scalar:
                yield f"{path}: {scalar}" if path else scalar


def _scalar(value: Any) -> str:
    if value is None:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value).strip()


def _loads(text: str) -> Any:
    # Numbers stay as written ("12.50", 10**5000 digits): no float rounding, no int digit limit.
    return json.loads(text, parse_int=str, parse_float=str, parse_constant=str)
