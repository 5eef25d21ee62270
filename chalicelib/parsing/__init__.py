"""Bytes in, text out, or a DocumentError that says what is wrong and what to do about it.

    parse(data, filename, declared_type=None, limits=ParseLimits()) -> ParsedDocument
    detect_content_type(data, filename, declared=None) -> str

parse raises DocumentError and nothing else, whatever the bytes: every library failure becomes
CORRUPT (or OutOfMemory, TOO_COMPLEX, for memory exhaustion), with the library's reason in the message.
The worker calls it in a child process with memory and CPU limits (isolation.py), not directly.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace

from chalicelib.model import DocumentError, ErrorCode
from chalicelib.parsed import Page, ParsedDocument
from chalicelib.parsing import content_types as ct
from chalicelib.parsing.csv_text import parse_delimited
from chalicelib.parsing.detection import Detection, detect
from chalicelib.parsing.docx_text import parse_docx
from chalicelib.parsing.email_text import parse_email
from chalicelib.parsing.errors import (
    OutOfMemory,
    binary_not_text,
    corrupt,
    empty_file,
    encrypted,
    no_text,
    unsupported,
)
from chalicelib.parsing.html_text import parse_html
from chalicelib.parsing.json_text import parse_json, parse_ndjson
from chalicelib.parsing.limits import ParseLimits, too_many_characters
from chalicelib.parsing.odt_text import parse_odt
from chalicelib.parsing.pdf_text import parse_pdf
from chalicelib.parsing.plain_text import parse_markdown, parse_plain
from chalicelib.parsing.pptx_text import parse_pptx
from chalicelib.parsing.textdecode import clean_text
from chalicelib.parsing.xlsx_text import parse_xlsx
from chalicelib.parsing.xml_text import parse_xml

__all__ = ["ParseLimits", "detect_content_type", "parse"]

log = logging.getLogger(__name__)

_MAX_TITLE_CHARS = 300
DEFAULT_LIMITS = ParseLimits()

_TEXT_PARSERS: dict[str, Callable[[str, ParseLimits], ParsedDocument]] = {
    ct.PLAIN: parse_plain,
    ct.MARKDOWN: parse_markdown,
    ct.HTML: parse_html,
    ct.CSV: lambda text, limits: parse_delimited(text, ct.CSV, limits),
    ct.TSV: lambda text, limits: parse_delimited(text, ct.TSV, limits),
    ct.JSON: parse_json,
    ct.NDJSON: parse_ndjson,
    ct.XML: parse_xml,
}
_BINARY_PARSERS: dict[str, Callable[[bytes, ParseLimits], ParsedDocument]] = {
    ct.PDF: parse_pdf,
    ct.DOCX: parse_docx,
    ct.XLSX: parse_xlsx,
    ct.PPTX: parse_pptx,
    ct.ODT: parse_odt,
    ct.EMAIL: parse_email,
}
_KIND = {
    ct.PDF: "PDF",
    ct.DOCX: "Word document",
    ct.XLSX: "Excel workbook",
    ct.PPTX: "PowerPoint file",
    ct.ODT: "OpenDocument file",
    ct.EMAIL: "e-mail",
}


def detect_content_type(data: bytes, filename: str, declared: str | None = None) -> str:
    """The MIME type of `data`: from its bytes first, then the file name, then the declared type."""
    try:
        return detect(data, filename, declared).content_type
    except Exception:  # detection is best effort: an unrecognisable file is just bytes
        log.warning("content type detection failed for %r", filename, exc_info=True)
        return ct.OCTET_STREAM


def parse(
    data: bytes, filename: str, declared_type: str | None = None, limits: ParseLimits = DEFAULT_LIMITS
) -> ParsedDocument:
    try:
        return _parse(data, filename, declared_type, limits)
    except DocumentError:
        raise
    except RecursionError:
        raise DocumentError(
            ErrorCode.CORRUPT, "The file is nested too deeply to read; it may be damaged or machine-made."
        ) from None
    except MemoryError:
        raise OutOfMemory() from None
    except Exception as exc:  # a library failing in a way it does not document: the file is to blame
        log.warning("parser failed on %r", filename, exc_info=True)
        raise corrupt(_kind(filename), exc) from None


def _parse(data: bytes, filename: str, declared_type: str | None, limits: ParseLimits) -> ParsedDocument:
    if not data:
        raise empty_file()
    detection = detect(data, filename, declared_type)
    return _finish(_dispatch(detection, data, filename, limits), limits)


def _dispatch(detection: Detection, data: bytes, filename: str, limits: ParseLimits) -> ParsedDocument:
    content_type = detection.content_type
    if content_type == ct.EMAIL:
        return parse_email(data, limits)
    if content_type in _TEXT_PARSERS and detection.text is not None:
        return _TEXT_PARSERS[content_type](detection.text, limits)
    if content_type in _BINARY_PARSERS:
        return _BINARY_PARSERS[content_type](data, limits)
    if content_type == ct.ENCRYPTED_OFFICE:
        raise encrypted("Office document")
    if content_type == ct.OCTET_STREAM:
        raise binary_not_text(filename)
    raise unsupported(content_type)


def _finish(document: ParsedDocument, limits: ParseLimits) -> ParsedDocument:
    """Every parser's output gets the same cleaning and the same limits. The content type is the
    parser's: it can know better than detection (a .json file holding NDJSON)."""
    pages = [Page(text=clean_text(page.text).strip("\n"), number=page.number) for page in document.pages]
    characters = sum(len(page.text) for page in pages)
    if characters > limits.max_characters:
        raise too_many_characters(characters, limits.max_characters)
    if not any(page.text.strip() for page in pages):
        raise no_text(_KIND.get(document.content_type, "file"))
    title = " ".join(clean_text(document.title or "").split())[:_MAX_TITLE_CHARS] or None
    return replace(document, pages=pages, title=title)


def _kind(filename: str) -> str:
    extension = filename.lower().rpartition(".")[2] if "." in filename else ""
    return f".{extension} file" if extension else "file"
