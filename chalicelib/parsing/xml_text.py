"""Generic XML: element text line by line; a leaf element's line is labelled with its name, so
<capital>Paris</capital> reads "capital: Paris" and stays findable by its meaning."""

from __future__ import annotations

import logging

from chalicelib.model import DocumentError, ErrorCode
from chalicelib.parsed import Page, ParsedDocument
from chalicelib.parsing.content_types import XML
from chalicelib.parsing.html_text import html_to_text
from chalicelib.parsing.limits import CharacterBudget, ParseLimits
from chalicelib.parsing.xml_stream import local_name, parse_chunks

log = logging.getLogger(__name__)

_DTD_WINDOW = 64 * 1024


def parse_xml(text: str, limits: ParseLimits) -> ParsedDocument:
    collector = _LabelledLines(CharacterBudget(limits.max_characters))
    try:
        parse_chunks([text], collector, "XML file")
        body = "\n".join(collector.lines)
    except DocumentError as error:
        # Entity definitions are how XML bombs are built: expat refused one, so refuse the file.
        if error.code != ErrorCode.CORRUPT or "<!ENTITY" in text[:_DTD_WINDOW]:
            raise
        # Malformed XML still holds words worth finding: read it as leniently as a browser would.
        log.info("malformed XML, reading it as markup instead: %s", error.message)
        body = html_to_text(text)
    return ParsedDocument(content_type=XML, pages=[Page(text=body)])


class _LabelledLines:
    def __init__(self, budget: CharacterBudget):
        self.budget = budget
        self.lines: list[str] = []
        self._pending: list[str] = []
        self._pending_has_text = False  # tracked as text arrives: re-joining per element is quadratic
        # Per open element: was the line empty when it started, and has it had child elements?
        self._open: list[list[bool]] = []

    def start(self, name: str, attrs: dict[str, str]) -> None:
        if self._open:
            self._open[-1][1] = True
        self._open.append([not self._pending_has_text, False])

    def end(self, name: str) -> None:
        started_line, had_children = self._open.pop()
        line = " ".join("".join(self._pending).split())
        self._pending = []
        self._pending_has_text = False
        if line:
            if started_line and not had_children:
                line = f"{local_name(name)}: {line}"
            self.lines.append(self.budget.spend(line))

    def text(self, data: str) -> None:
        self._pending.append(data)
        if not self._pending_has_text and not data.isspace():
            self._pending_has_text = True
