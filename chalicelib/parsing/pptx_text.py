"""PowerPoint decks (.pptx): each slide's text in slide order, then its speaker notes."""

from __future__ import annotations

import zipfile

from chalicelib.parsed import Page, ParsedDocument
from chalicelib.parsing.content_types import PPTX
from chalicelib.parsing.errors import corrupt
from chalicelib.parsing.limits import CharacterBudget, ParseLimits
from chalicelib.parsing.ooxml import RELATIONSHIP_ID, core_title, main_part, related, relationships
from chalicelib.parsing.tables import CELL_MARK, cell_marks_to_pipes
from chalicelib.parsing.textdecode import tidy_lines
from chalicelib.parsing.xml_stream import parse_stream, tag
from chalicelib.parsing.zipguard import has_member, member, open_checked

KIND = "PowerPoint file"
_PRESENTATION_NS = "http://schemas.openxmlformats.org/presentationml/2006/main"
_DRAWING_NS = "http://schemas.openxmlformats.org/drawingml/2006/main"
_SLIDE_ID = tag(_PRESENTATION_NS, "sldId")
_TEXT, _PARAGRAPH, _BREAK, _CELL, _TABLE_ROW = (
    tag(_DRAWING_NS, name) for name in ("t", "p", "br", "tc", "tr")
)


def parse_pptx(data: bytes, limits: ParseLimits) -> ParsedDocument:
    archive = open_checked(data, KIND, limits)
    presentation = main_part(archive, KIND, default="ppt/presentation.xml")
    if not has_member(archive, presentation):
        raise corrupt(KIND, "it has no presentation part")
    slide_ids = _SlideIds()
    with member(archive, presentation, KIND) as stream:
        parse_stream(stream, slide_ids, KIND)
    targets = relationships(archive, presentation, KIND)
    budget = CharacterBudget(limits.max_characters)

    blocks: list[str] = []
    for number, relationship_id in enumerate(slide_ids.ids, start=1):
        target = targets.get(relationship_id)
        if target is None or not has_member(archive, target.target):
            continue
        text = _shape_text(archive, target.target, budget)
        notes = "\n".join(
            _shape_text(archive, part, budget)
            for part in related(archive, target.target, KIND, "/notesSlide")
        ).strip()
        if notes:
            text = f"{text}\nNotes: {notes}"
        if text.strip():
            blocks.append(f"Slide {number}\n{text}")
    return ParsedDocument(
        content_type=PPTX,
        pages=[Page(text=tidy_lines(cell_marks_to_pipes("\n\n".join(blocks))))],
        title=core_title(archive, KIND),
    )


def _shape_text(archive: zipfile.ZipFile, part: str, budget: CharacterBudget) -> str:
    collector = _DrawingText(budget)
    with member(archive, part, KIND) as stream:
        parse_stream(stream, collector, KIND)
    return "".join(collector.parts).strip()


class _SlideIds:
    def __init__(self) -> None:
        self.ids: list[str] = []

    def start(self, name: str, attrs: dict[str, str]) -> None:
        if name == _SLIDE_ID:
            self.ids.append(attrs.get(RELATIONSHIP_ID, ""))

    def end(self, name: str) -> None:
        pass

    def text(self, data: str) -> None:
        pass


class _DrawingText:
    """DrawingML text: runs in <a:t>, paragraphs in <a:p>, table cells in <a:tc>."""

    def __init__(self, budget: CharacterBudget):
        self.budget = budget
        self.parts: list[str] = []
        self._in_text = False
        self._cell_depth = 0

    def start(self, name: str, attrs: dict[str, str]) -> None:
        if name == _TEXT:
            self._in_text = True
        elif name == _CELL:
            self._cell_depth += 1

    def end(self, name: str) -> None:
        if name == _TEXT:
            self._in_text = False
        elif name == _BREAK:
            self.parts.append("\n")
        elif name == _PARAGRAPH:
            self.parts.append(" " if self._cell_depth else "\n")
        elif name == _CELL:
            self._cell_depth -= 1
            self.parts.append(CELL_MARK)
        elif name == _TABLE_ROW:
            self.parts.append("\n")

    def text(self, data: str) -> None:
        if self._in_text:
            self.parts.append(self.budget.spend(data))
