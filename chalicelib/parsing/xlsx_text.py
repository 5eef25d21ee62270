"""Excel workbooks (.xlsx): every sheet's rows as text, values beside their column headers.

Cells keep their stored values: numbers are not formatted, so a date shows as its serial number.
"""

from __future__ import annotations

from chalicelib.parsed import Page, ParsedDocument
from chalicelib.parsing.content_types import XLSX
from chalicelib.parsing.errors import corrupt
from chalicelib.parsing.limits import CharacterBudget, ParseLimits
from chalicelib.parsing.ooxml import RELATIONSHIP_ID, core_title, main_part, related, relationships
from chalicelib.parsing.tables import render_rows
from chalicelib.parsing.textdecode import tidy_lines
from chalicelib.parsing.xml_stream import parse_stream, tag
from chalicelib.parsing.zipguard import has_member, member, open_checked

KIND = "Excel workbook"
_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_SHEET, _SI, _T, _RPH, _ROW, _CELL, _VALUE, _INLINE = (
    tag(_NS, name) for name in ("sheet", "si", "t", "rPh", "row", "c", "v", "is")
)


def parse_xlsx(data: bytes, limits: ParseLimits) -> ParsedDocument:
    archive = open_checked(data, KIND, limits)
    workbook = main_part(archive, KIND, default="xl/workbook.xml")
    if not has_member(archive, workbook):
        raise corrupt(KIND, "it has no workbook part")
    sheets = _SheetList()
    with member(archive, workbook, KIND) as stream:
        parse_stream(stream, sheets, KIND)
    targets = relationships(archive, workbook, KIND)
    budget = CharacterBudget(limits.max_characters)
    shared = _SharedStrings(budget)
    for part in related(archive, workbook, KIND, "/sharedStrings"):
        with member(archive, part, KIND) as stream:
            parse_stream(stream, shared, KIND)

    blocks: list[str] = []
    for name, relationship_id in sheets.sheets:
        target = targets.get(relationship_id)
        if target is None or not has_member(archive, target.target):
            continue
        rows = _SheetRows(shared.strings, budget)
        with member(archive, target.target, KIND) as stream:
            parse_stream(stream, rows, KIND)
        lines = list(render_rows(rows.rows, budget))
        if lines:
            blocks.append("\n".join([budget.spend(f"Sheet: {name}"), *lines]))
    return ParsedDocument(
        content_type=XLSX, pages=[Page(text=tidy_lines("\n\n".join(blocks)))], title=core_title(archive, KIND)
    )


class _SheetList:
    def __init__(self) -> None:
        self.sheets: list[tuple[str, str]] = []

    def start(self, name: str, attrs: dict[str, str]) -> None:
        if name == _SHEET:
            self.sheets.append((attrs.get("name", ""), attrs.get(RELATIONSHIP_ID, "")))

    def end(self, name: str) -> None:
        pass

    def text(self, data: str) -> None:
        pass


class _SharedStrings:
    """The workbook's string table: cells of type "s" hold an index into it."""

    def __init__(self, budget: CharacterBudget):
        self.budget = budget
        self.strings: list[str] = []
        self._parts: list[str] = []
        self._in_text = False
        self._phonetic_depth = 0

    def start(self, name: str, attrs: dict[str, str]) -> None:
        if name == _SI:
            self._parts = []
        elif name == _RPH:
            self._phonetic_depth += 1  # phonetic guides repeat the text in kana: skip them
        elif name == _T:
            self._in_text = self._phonetic_depth == 0

    def end(self, name: str) -> None:
        if name == _SI:
            self.strings.append(self.budget.spend("".join(self._parts)))
        elif name == _RPH:
            self._phonetic_depth -= 1
        elif name == _T:
            self._in_text = False

    def text(self, data: str) -> None:
        if self._in_text:
            self._parts.append(data)


class _SheetRows:
    def __init__(self, shared: list[str], budget: CharacterBudget):
        self.shared = shared
        self.budget = budget
        self.rows: list[dict[int, str]] = []
        self._row: dict[int, str] = {}
        self._column = -1
        self._type = ""
        self._parts: list[str] = []
        self._collecting = False
        self._in_inline = False

    def start(self, name: str, attrs: dict[str, str]) -> None:
        if name == _ROW:
            self._row = {}
            self._column = -1
        elif name == _CELL:
            reference = attrs.get("r")
            self._column = _column_index(reference) if reference else self._column + 1
            self._type = attrs.get("t", "n")
            self._parts = []
        elif name == _VALUE:
            self._collecting = True
        elif name == _INLINE:
            self._in_inline = True
        elif name == _T and self._in_inline:
            self._collecting = True

    def end(self, name: str) -> None:
        if name in (_VALUE, _T):
            self._collecting = False
        elif name == _INLINE:
            self._in_inline = False
        elif name == _CELL:
            value = " ".join(self._cell_value().split())
            if value:
                self._row[self._column] = self.budget.spend(value)
        elif name == _ROW and self._row:
            self.rows.append(self._row)

    def text(self, data: str) -> None:
        if self._collecting:
            self._parts.append(data)

    def _cell_value(self) -> str:
        raw = "".join(self._parts)
        if self._type == "s":
            try:
                return self.shared[int(raw)]
            except (ValueError, IndexError):
                return ""
        if self._type == "b":
            return {"1": "TRUE", "0": "FALSE"}.get(raw.strip(), raw)
        return raw


def _column_index(reference: str) -> int:
    """'C7' -> 2; 'AA1' -> 26."""
    index = 0
    for char in reference:
        if not ("A" <= char <= "Z" or "a" <= char <= "z"):
            break
        index = index * 26 + (ord(char.upper()) - 64)
    return max(index - 1, 0)
