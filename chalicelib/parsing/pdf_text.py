"""PDF via pypdf: the text layer of each page, or the reason there is none."""

from __future__ import annotations

import io
import logging

from pypdf import PasswordType, PdfReader
from pypdf.errors import DependencyError

from chalicelib.model import DocumentError, ErrorCode
from chalicelib.parsed import Page, ParsedDocument
from chalicelib.parsing.content_types import PDF
from chalicelib.parsing.errors import corrupt, encrypted, short_reason
from chalicelib.parsing.limits import CharacterBudget, ParseLimits
from chalicelib.parsing.textdecode import clean_text

log = logging.getLogger(__name__)

KIND = "PDF"
# The PDF standard lets a file start with junk before its header; readers look this far.
_HEADER_WINDOW = 1024
_TRAILER_WINDOW = 1024


def parse_pdf(data: bytes, limits: ParseLimits) -> ParsedDocument:
    if b"%PDF-" not in data[:_HEADER_WINDOW]:
        raise corrupt(KIND, "it has no %PDF header, so it is not a PDF file")
    # pypdf raises a wide and changing set of exceptions on malformed input (its own errors, but
    # also KeyError, TypeError, ValueError...): anything it raises here means the file is damaged.
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        _unlock(reader)
        page_count = len(reader.pages)
    except DocumentError:
        raise
    except Exception as exc:
        if b"%%EOF" not in data[-_TRAILER_WINDOW:]:
            raise corrupt(KIND, "it is cut short (no end-of-file marker); upload the complete file") from None
        raise corrupt(KIND, exc) from None
    if page_count > limits.max_pages:
        raise DocumentError(
            ErrorCode.TOO_LARGE,
            f"The PDF has {page_count:,} pages; the limit is {limits.max_pages:,}. "
            "Split it into smaller files.",
        )
    if page_count == 0:
        raise corrupt(KIND, "it has no pages")

    pages = _extract_pages(reader, page_count, CharacterBudget(limits.max_characters))
    if not any(page.text.strip() for page in pages):
        raise DocumentError(
            ErrorCode.NO_TEXT_LAYER, "The PDF has no text layer (scanned images?); run OCR first."
        )
    return ParsedDocument(content_type=PDF, pages=pages, title=_title(reader))


def _unlock(reader: PdfReader) -> None:
    """Open an encrypted PDF if it needs no password, as copy-protected PDFs do; refuse otherwise."""
    if not reader.is_encrypted:
        return
    try:
        result = reader.decrypt("")
    except DependencyError:
        # AES needs the `cryptography` package; without it pypdf decrypts only RC4.
        raise encrypted(
            KIND,
            "it uses AES encryption, which this deployment cannot decrypt; upload an unencrypted copy.",
        ) from None
    except NotImplementedError as exc:
        raise encrypted(
            KIND, f"its encryption is not supported ({short_reason(exc)}); upload an unencrypted copy."
        ) from None
    if result == PasswordType.NOT_DECRYPTED:
        raise encrypted(KIND)


def _extract_pages(reader: PdfReader, page_count: int, budget: CharacterBudget) -> list[Page]:
    pages: list[Page] = []
    failures: list[str] = []
    for number in range(1, page_count + 1):
        try:
            text = reader.pages[number - 1].extract_text() or ""
        except MemoryError:
            raise
        except Exception as exc:  # one bad page (a broken font, a damaged stream) need not lose the rest
            failures.append(f"page {number}: {short_reason(exc)}")
            text = ""
        pages.append(Page(text=budget.spend(clean_text(text)), number=number))
    if failures:
        log.warning(
            "pdf text extraction failed on %d of %d pages: %s",
            len(failures),
            page_count,
            "; ".join(failures[:5]),
        )
        if len(failures) == page_count:
            raise corrupt(KIND, f"no page could be read ({failures[0]})")
    return pages


def _title(reader: PdfReader) -> str | None:
    try:
        metadata = reader.metadata
        title = metadata.title if metadata is not None else None
    except Exception:  # damaged metadata is no reason to lose the text
        return None
    if not title:
        return None
    return str(title).strip() or None
