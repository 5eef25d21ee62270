"""Rows of cells to lines of text that keep each value next to its column's name.

"Team: Blues; Location: STL; Stanley Cups: 1" finds the row for a query that names a column, where
"Blues | STL | 1" would not. Used by CSV/TSV and spreadsheets alike.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping

from chalicelib.parsing.limits import CharacterBudget

Row = Mapping[int, str]  # column index -> non-empty cell text

# A title row or two often sits above the real header; look this far down for it.
_HEADER_SEARCH_ROWS = 10

# Markup parsers mark cell boundaries with a private-use character while they stream text (a tab or a
# "|" could be the text itself), and turn the marks into " | " once each line is complete.
CELL_MARK = "\ue000"
_MARK_RUNS = re.compile(r"[ \t]*\ue000[ \t\ue000]*")
_MARK_EDGES = " \t\ue000"


def cell_marks_to_pipes(text: str) -> str:
    return "\n".join(_MARK_RUNS.sub(" | ", line.strip(_MARK_EDGES)) for line in text.split("\n"))


def row_from_cells(cells: Iterable[str]) -> dict[int, str]:
    row = {}
    for index, cell in enumerate(cells):
        value = " ".join(cell.split())
        if value:
            row[index] = value
    return row


def render_rows(rows: list[Row], budget: CharacterBudget) -> Iterator[str]:
    """Lines of text for `rows`; the header is the first early row as full as the fullest early row."""
    header_index = _header_index(rows)
    header = rows[header_index] if header_index is not None else None
    for index, row in enumerate(rows):
        if not row:
            continue
        if header is None or index <= header_index:  # type: ignore[operator]
            line = " | ".join(row[column] for column in sorted(row))
        else:
            line = "; ".join(
                f"{header.get(column) or f'column {column + 1}'}: {row[column]}" for column in sorted(row)
            )
        yield budget.spend(line)


def _header_index(rows: list[Row]) -> int | None:
    early = rows[:_HEADER_SEARCH_ROWS]
    fullest = max((len(row) for row in early), default=0)
    if fullest < 2 or len(rows) < 2:
        return None
    return next(index for index, row in enumerate(early) if len(row) == fullest)
