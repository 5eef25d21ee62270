"""Plain text and Markdown: already text, so only a title to find. Markdown markup is kept: it is
readable as it is, and the words of links and code are worth finding."""

from __future__ import annotations

import re

from chalicelib.parsed import Page, ParsedDocument
from chalicelib.parsing.content_types import MARKDOWN, PLAIN
from chalicelib.parsing.limits import ParseLimits

# An ATX heading line, or a code fence (inside which "# " starts a comment, not a heading).
_HEADING_OR_FENCE = re.compile(r"^(?:(?P<fence>```|~~~).*|#[ \t]+(?P<heading>.*))$", re.MULTILINE)


def parse_plain(text: str, limits: ParseLimits) -> ParsedDocument:
    return ParsedDocument(content_type=PLAIN, pages=[Page(text=text)])


def parse_markdown(text: str, limits: ParseLimits) -> ParsedDocument:
    return ParsedDocument(content_type=MARKDOWN, pages=[Page(text=text)], title=markdown_title(text))


def markdown_title(text: str) -> str | None:
    """The first level-one heading ("# Title") outside code blocks."""
    in_code = False
    for match in _HEADING_OR_FENCE.finditer(text):
        if match.group("fence"):
            in_code = not in_code
        elif not in_code:
            title = match.group("heading").strip().rstrip("#").strip()
            if title:
                return title
    return None
