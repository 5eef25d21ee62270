"""What a parser makes of a file: its text, page by page. Standard library only."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Page:
    """Text of one page (PDF) or the whole document (other formats: number is None)."""

    text: str
    number: int | None = None


@dataclass(frozen=True)
class ParsedDocument:
    content_type: str
    pages: list[Page]
    title: str | None = None

    @property
    def text(self) -> str:
        return "\n\n".join(p.text for p in self.pages if p.text)
