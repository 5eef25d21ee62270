"""OpenDocument text (.odt): paragraphs, headings, lists and tables from content.xml."""

from __future__ import annotations

import re

from chalicelib.parsed import Page, ParsedDocument
from chalicelib.parsing.content_types import ODT
from chalicelib.parsing.errors import corrupt
from chalicelib.parsing.limits import CharacterBudget, ParseLimits
from chalicelib.parsing.ooxml import core_title
from chalicelib.parsing.tables import CELL_MARK, cell_marks_to_pipes
from chalicelib.parsing.textdecode import tidy_lines
from chalicelib.parsing.xml_stream import parse_stream, tag
from chalicelib.parsing.zipguard import has_member, member, open_checked

KIND = "OpenDocument file"
_TEXT_NS = "urn:oasis:names:tc:opendocument:xmlns:text:1.0"
_TABLE_NS = "urn:oasis:names:tc:opendocument:xmlns:table:1.0"
_OFFICE_NS = "urn:oasis:names:tc:opendocument:xmlns:office:1.0"
_PARAGRAPH, _HEADING, _SPACE, _TAB, _LINE_BREAK, _TRACKED_CHANGES, _NOTE_CITATION = (
    tag(_TEXT_NS, name) for name in ("p", "h", "s", "tab", "line-break", "tracked-changes", "note-citation")
)
_CELL, _ROW = tag(_TABLE_NS, "table-cell"), tag(_TABLE_NS, "table-row")
_BODY, _BINARY = tag(_OFFICE_NS, "body"), tag(_OFFICE_NS, "binary-data")
# Elements whose character data is not document text: deleted revisions, note numbers, embedded images.
_SKIPPED = frozenset({_TRACKED_CHANGES, _NOTE_CITATION, _BINARY})
_WHITESPACE = re.compile(r"[ \t\r\n]+")


def parse_odt(data: bytes, limits: ParseLimits) -> ParsedDocument:
    archive = open_checked(data, KIND, limits)
    if not has_member(archive, "content.xml"):
        raise corrupt(KIND, "it has no content.xml part")
    collector = _OdfText(CharacterBudget(limits.max_characters))
    with member(archive, "content.xml", KIND) as stream:
        parse_stream(stream, collector, KIND)
    title = core_title(archive, KIND, part="meta.xml") or collector.first_heading
    return ParsedDocument(
        content_type=ODT,
        pages=[Page(text=tidy_lines(cell_marks_to_pipes("".join(collector.parts))))],
        title=title,
    )


class _OdfText:
    def __init__(self, budget: CharacterBudget):
        self.budget = budget
        self.parts: list[str] = []
        self.first_heading: str | None = None
        self._in_body = 0
        self._skip_depth = 0
        self._cell_depth = 0
        self._heading_parts: list[str] | None = None

    def start(self, name: str, attrs: dict[str, str]) -> None:
        if name == _BODY:
            self._in_body += 1
        elif name in _SKIPPED:
            self._skip_depth += 1
        elif self._skip_depth or not self._in_body:
            return
        elif name == _SPACE:
            self._emit(" " * _space_count(attrs.get(tag(_TEXT_NS, "c"), "1")))
        elif name == _TAB:
            self._emit("\t")
        elif name == _LINE_BREAK:
            self._emit("\n")
        elif name == _CELL:
            self._cell_depth += 1
        elif name == _HEADING and self.first_heading is None:
            self._heading_parts = []

    def end(self, name: str) -> None:
        if name == _BODY:
            self._in_body -= 1
        elif name in _SKIPPED:
            self._skip_depth -= 1
        elif self._skip_depth or not self._in_body:
            return
        elif name in (_PARAGRAPH, _HEADING):
            self._emit(" " if self._cell_depth else "\n")
            if name == _HEADING and self._heading_parts is not None:
                self.first_heading = " ".join("".join(self._heading_parts).split()) or None
                self._heading_parts = None
        elif name == _CELL:
            self._cell_depth -= 1
            self._emit(CELL_MARK)
        elif name == _ROW:
            self._emit("\n")

    def text(self, data: str) -> None:
        if self._in_body and not self._skip_depth:
            # ODF collapses whitespace in character data; deliberate spaces come as <text:s>.
            self._emit(_WHITESPACE.sub(" ", data))

    def _emit(self, text: str) -> None:
        self.parts.append(self.budget.spend(text))
        if self._heading_parts is not None:
            self._heading_parts.append(text)


def _space_count(value: str) -> int:
    # A hostile file could ask for a billion spaces; a run longer than a line is noise anyway.
    try:
        return min(max(int(value), 1), 200)
    except ValueError:
        return 1
