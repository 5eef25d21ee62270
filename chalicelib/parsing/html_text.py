"""HTML via selectolax (lexbor): the text a reader sees, one line per block, and the <title>."""

from __future__ import annotations

import re

from selectolax.lexbor import LexborHTMLParser, LexborNode

from chalicelib.parsed import Page, ParsedDocument
from chalicelib.parsing.content_types import HTML
from chalicelib.parsing.limits import ParseLimits
from chalicelib.parsing.tables import CELL_MARK, cell_marks_to_pipes
from chalicelib.parsing.textdecode import tidy_lines

# Never rendered as text. (<head> holds only metadata; its <title> is read separately. Inline XBRL
# filings carry their machine-readable facts in <ix:header>.)
_HIDDEN = frozenset({"script", "style", "noscript", "template", "head", "iframe", "frameset", "ix:header"})
_DISPLAY_NONE = re.compile(r"display\s*:\s*none", re.IGNORECASE)
_BLOCKS = frozenset(
    {
        "address", "article", "aside", "blockquote", "body", "caption", "center", "dd", "details",
        "dialog", "dir", "div", "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form",
        "h1", "h2", "h3", "h4", "h5", "h6", "header", "hgroup", "hr", "html", "legend", "li", "listing",
        "main", "menu", "nav", "ol", "option", "p", "pre", "section", "summary", "table", "tbody",
        "tfoot", "thead", "tr", "ul", "xmp",
    }
)  # fmt: skip
_PREFORMATTED = frozenset({"pre", "textarea", "listing", "xmp", "plaintext"})
_CELLS = frozenset({"td", "th"})
_WHITESPACE = re.compile(r"\s+")

# lexbor's tree builder checks the stack of open elements on every block start tag, so nesting N
# block elements deep costs O(N^2): 60,000 nested <div>s take ten seconds and a million would take
# hours. Past this depth (no real page comes close) block tags are rewritten to <br>: the words and
# line breaks survive, only the structure, which text extraction does not need, is lost.
_MAX_NESTING = 4096
_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9:-]*)[^>]*?(/?)>")
# Void elements, and elements that a repeat of themselves closes: neither kind nests.
_NON_NESTING = frozenset(
    {
        "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
        "track", "wbr", "p", "li", "dt", "dd", "td", "th", "tr", "option",
    }
)  # fmt: skip
_KEPT_IN_FLAT_MODE = _HIDDEN | {"title", "html", "body", "br"}


def parse_html(text: str, limits: ParseLimits) -> ParsedDocument:
    tree = LexborHTMLParser(_flatten_if_too_deep(text))
    return ParsedDocument(content_type=HTML, pages=[Page(text=_body_text(tree))], title=_title(tree))


def html_to_text(text: str) -> str:
    """Visible text of an HTML fragment or page: for HTML inside other formats (e-mail bodies)."""
    return _body_text(LexborHTMLParser(_flatten_if_too_deep(text)))


def _body_text(tree: LexborHTMLParser) -> str:
    body = tree.body
    return _visible_text(body if body is not None else tree.root)


def _visible_text(root: LexborNode | None) -> str:
    """Walk the tree with sibling and parent links: recursion would overflow on deep nesting."""
    if root is None:
        return ""
    parts: list[str] = []
    preformatted = 0
    root_id = root.mem_id
    node = root.child
    while node is not None:
        name = node.tag or ""
        if name == "-text":
            content = node.text_content or ""
            parts.append(content if preformatted else _WHITESPACE.sub(" ", content))
        elif name[:1].isalpha() and name not in _HIDDEN and not _hidden_by_attribute(node):
            _open(name, parts)
            child = node.child
            if child is not None:
                preformatted += name in _PREFORMATTED
                node = child
                continue
            _close(name, parts)
        # Done with this node: move to its next sibling, closing the ancestors this leaves.
        while node is not None and node.next is None:
            node = node.parent
            if node is None or node.mem_id == root_id:
                node = None
                break
            _close(node.tag or "", parts)
            preformatted -= (node.tag or "") in _PREFORMATTED
        if node is not None:
            node = node.next
    return tidy_lines(cell_marks_to_pipes("".join(parts)))


def _hidden_by_attribute(node: LexborNode) -> bool:
    attributes = node.attributes
    if not attributes:
        return False
    return "hidden" in attributes or bool(_DISPLAY_NONE.search(attributes.get("style") or ""))


def _open(name: str, parts: list[str]) -> None:
    if name in _BLOCKS or name == "br":
        parts.append("\n")
    elif name in _CELLS:
        parts.append(CELL_MARK)


def _close(name: str, parts: list[str]) -> None:
    if name in _BLOCKS:
        parts.append("\n")


def _title(tree: LexborHTMLParser) -> str | None:
    head = tree.head
    if head is None:
        return None
    node = head.child
    while node is not None:
        if node.tag == "title":
            return " ".join((node.text() or "").split()) or None
        node = node.next
    return None


def _flatten_if_too_deep(html: str) -> str:
    if html.count("<") <= _MAX_NESTING:
        return html
    depth = 0
    for match in _TAG.finditer(html):
        closing, name, self_closing = match.groups()
        if self_closing or name.lower() in _NON_NESTING:
            continue
        depth = max(depth - 1, 0) if closing else depth + 1
        if depth > _MAX_NESTING:
            return _TAG.sub(_flat_tag, html)
    return html


def _flat_tag(match: re.Match[str]) -> str:
    name = match.group(2).lower()
    if name in _KEPT_IN_FLAT_MODE:
        return match.group(0)
    return "<br>" if name in _BLOCKS or name in _CELLS else ""
