"""CSV and TSV: rows as "column: value" lines (see tables.py), with the delimiter worked out."""

from __future__ import annotations

import csv
import io
import itertools
from collections import Counter

from chalicelib.parsed import Page, ParsedDocument
from chalicelib.parsing.content_types import TSV
from chalicelib.parsing.limits import CharacterBudget, ParseLimits
from chalicelib.parsing.tables import render_rows, row_from_cells

_CANDIDATES = (",", ";", "\t", "|")
_SAMPLE_CHARS = 64 * 1024
_SAMPLE_ROWS = 50
# Share of sample rows that must split into the same number of fields for a delimiter to count.
_CONSISTENT = 0.8


def parse_delimited(text: str, content_type: str, limits: ParseLimits) -> ParsedDocument:
    _allow_fields_up_to(limits.max_characters)
    preferred = "\t" if content_type == TSV else ","
    delimiter = choose_delimiter(text, preferred)
    budget = CharacterBudget(limits.max_characters)
    if delimiter is None:
        # One column: every line is its own value, commas and all.
        body = "\n".join(budget.spend(line.strip()) for line in text.split("\n") if line.strip())
    else:
        reader = csv.reader(io.StringIO(text), delimiter=delimiter, strict=False)
        rows = [row_from_cells(cells) for cells in reader]
        body = "\n".join(render_rows(rows, budget))
    return ParsedDocument(content_type=content_type, pages=[Page(text=body)])


def choose_delimiter(text: str, preferred: str) -> str | None:
    """The delimiter that splits the first rows most consistently into more than one field.

    Hand-written because csv.Sniffer gives up ("Could not determine delimiter") on many real files,
    and its regular expressions are slow on very long lines.
    """
    sample = text[:_SAMPLE_CHARS]
    if len(text) > _SAMPLE_CHARS and "\n" in sample:
        sample = sample[: sample.rindex("\n")]
    scores: dict[str, tuple[float, int]] = {}
    for candidate in _CANDIDATES:
        rows = csv.reader(io.StringIO(sample), delimiter=candidate, strict=False)
        widths = [len(row) for row in itertools.islice(rows, _SAMPLE_ROWS) if row]
        if not widths:
            continue
        width, count = Counter(widths).most_common(1)[0]
        share = count / len(widths)
        if width > 1 and share >= _CONSISTENT:
            scores[candidate] = (share, width)
    if not scores:
        return None
    if preferred in scores and scores[preferred][0] >= max(share for share, _ in scores.values()):
        return preferred
    return max(scores, key=lambda candidate: scores[candidate])


def _allow_fields_up_to(size: int) -> None:
    # csv refuses fields over 128 KiB by default; a long quoted cell is not an error worth failing on.
    # The limit is process-wide, so only ever raise it.
    if csv.field_size_limit() < size:
        csv.field_size_limit(size)
