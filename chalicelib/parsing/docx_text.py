"""Word documents (.docx): headers, body paragraphs and tables in document order, then footers.

python-docx opens the package, resolves parts and styles and reads the core properties. The text of a
paragraph is gathered with one XPath rather than python-docx's Paragraph.text, which reads only direct
runs and hyperlinks and so drops text in content controls, tracked insertions, fields and text boxes.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

from docx.opc.constants import CONTENT_TYPE
from docx.package import Package
from docx.text.paragraph import Paragraph
from lxml import etree

from chalicelib.model import DocumentError, ErrorCode
from chalicelib.parsed import Page, ParsedDocument
from chalicelib.parsing.content_types import DOCX
from chalicelib.parsing.errors import corrupt
from chalicelib.parsing.limits import CharacterBudget, ParseLimits
from chalicelib.parsing.textdecode import tidy_lines
from chalicelib.parsing.zipguard import open_checked

log = logging.getLogger(__name__)

KIND = "Word document"
_NS = {
    "w": "http://schemas.openxmlformats.org/wordprocessingml/2006/main",
    "mc": "http://schemas.openxmlformats.org/markup-compatibility/2006",
}
_W = f"{{{_NS['w']}}}"
_P, _TBL, _TR, _TC, _T, _TAB = (_W + name for name in ("p", "tbl", "tr", "tc", "t", "tab"))
# Text, tabs and breaks of runs, plus nested paragraphs (text boxes) to separate. Left out: mc:Fallback,
# which repeats each text box for old readers, and cells continuing a vertical merge, which Word hides.
_SHOWN = (
    "[not(ancestor::mc:Fallback)][not(ancestor::w:tc[w:tcPr/w:vMerge[not(@w:val) or @w:val='continue']])]"
)
_TEXT_NODES = etree.XPath(
    " | ".join(f".//{path}{_SHOWN}" for path in ("w:t", "w:r/w:tab", "w:r/w:br", "w:r/w:cr", "w:p")),
    namespaces=_NS,
)
# Finding the title by style reads each paragraph's style: stop looking after this many.
_TITLE_SEARCH_PARAGRAPHS = 500


def parse_docx(data: bytes, limits: ParseLimits) -> ParsedDocument:
    open_checked(data, KIND, limits)
    try:
        package = Package.open(io.BytesIO(data))
        document_part = package.main_document_part
    except DocumentError:
        raise
    except Exception as exc:
        raise corrupt(KIND, exc) from None
    if document_part.content_type != CONTENT_TYPE.WML_DOCUMENT_MAIN:
        raise DocumentError(
            ErrorCode.UNSUPPORTED_TYPE,
            "Macro-enabled Word documents and Word templates are not supported; "
            "save it as a regular .docx and upload that.",
        )
    document = document_part.document
    budget = CharacterBudget(limits.max_characters)
    headers, footers = _headers_and_footers(document, budget)
    body = document.element.body
    lines = [*headers, *(budget.spend(line) for line in _block_lines(body)), *footers]
    return ParsedDocument(
        content_type=DOCX, pages=[Page(text=tidy_lines("\n".join(lines)))], title=_title(document, body)
    )


def _block_lines(container: etree._Element) -> Iterator[str]:
    """Paragraphs and table rows of a body, header or footer, in order, without recursion."""
    stack = list(reversed(container))
    while stack:
        element = stack.pop()
        if element.tag == _P:
            yield _paragraph_text(element)
        elif element.tag == _TBL:
            yield from _table_rows(element)
        else:
            # Content controls, custom XML and revision marks wrap paragraphs: look inside.
            stack.extend(reversed(element))


def _table_rows(table: etree._Element) -> Iterator[str]:
    # Rows and cells straight from the XML: python-docx's row.cells resolves the layout grid and
    # raises on the irregular grids some generators write.
    for row in table.iterchildren(_TR):
        cells = (" ".join(_paragraph_text(cell).split()) for cell in row.iterchildren(_TC))
        yield " | ".join(cell for cell in cells if cell)


def _paragraph_text(element: etree._Element) -> str:
    parts: list[str] = []
    for node in _TEXT_NODES(element):
        if node.tag == _T:
            parts.append(node.text or "")
        elif node.tag == _TAB:
            parts.append("\t")
        else:  # a break, or a paragraph nested in a text box
            parts.append("\n")
    return "".join(parts)


def _headers_and_footers(document, budget: CharacterBudget) -> tuple[list[str], list[str]]:  # type: ignore[no-untyped-def]
    """The headers and footers Word would show, each distinct one once (sections often repeat them)."""
    headers: list[str] = []
    footers: list[str] = []
    seen: set[str] = set()
    try:
        odd_and_even = document.settings.odd_and_even_pages_header_footer
    except Exception:  # damaged settings part: assume the default, one header for all pages
        odd_and_even = False
    for section in document.sections:
        for getter, is_header in _shown_headers_and_footers(section, odd_and_even):
            try:
                header_or_footer = getter()
                if header_or_footer.is_linked_to_previous:  # repeats an earlier section's
                    continue
                text = "\n".join(_block_lines(header_or_footer.part.element)).strip()
            except DocumentError:
                raise
            except Exception:  # a damaged header is no reason to lose the body
                log.warning("skipping an unreadable header or footer", exc_info=True)
                continue
            if text and text not in seen:
                seen.add(text)
                (headers if is_header else footers).append(budget.spend(text))
    return headers, footers


def _shown_headers_and_footers(section, odd_and_even: bool):  # type: ignore[no-untyped-def]
    """Getters for the headers and footers that pages of `section` can display."""
    shown = [(lambda: section.header, True), (lambda: section.footer, False)]
    if section.different_first_page_header_footer:
        shown += [(lambda: section.first_page_header, True), (lambda: section.first_page_footer, False)]
    if odd_and_even:
        shown += [(lambda: section.even_page_header, True), (lambda: section.even_page_footer, False)]
    return shown


def _title(document, body: etree._Element) -> str | None:  # type: ignore[no-untyped-def]
    try:
        title = (document.core_properties.title or "").strip()
    except Exception:  # damaged core properties: fall back to the headings
        title = ""
    if title:
        return title
    first_heading = None
    for index, element in enumerate(body.iterchildren(_P)):
        if index >= _TITLE_SEARCH_PARAGRAPHS:
            break
        try:
            style = Paragraph(element, document).style
            style_name = (style.name if style is not None else "") or ""
        except Exception:  # a dangling style reference: the paragraph is just not a heading
            continue
        text = " ".join(_paragraph_text(element).split())
        if not text:
            continue
        if style_name == "Title":
            return text
        if first_heading is None and style_name.startswith("Heading"):
            first_heading = text
    return first_heading
