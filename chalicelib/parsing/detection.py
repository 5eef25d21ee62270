"""What a file really is: its bytes first, then its name, then the type the uploader declared.

1. Binary signatures: PDF, zip packages (told apart by the parts inside), OLE containers (legacy
   Office, Outlook, password-protected OOXML), and whatever `filetype` recognises.
2. Otherwise the bytes are text or unknown binary. Text takes its type from the file extension,
   then from the declared type if that names a text format we parse, then from a look at the content.
A name is never believed over the bytes: a PNG called notes.md is an image.
"""

from __future__ import annotations

import io
import posixpath
import re
import zipfile
from dataclasses import dataclass

import filetype

from chalicelib.parsing import content_types as ct
from chalicelib.parsing.textdecode import decode_text, has_bom
from chalicelib.parsing.zipguard import ZIP_ERRORS

_PDF_WINDOW = 1024
_ZIP_SIGNATURES = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
_OLE_SIGNATURE = bytes.fromhex("d0cf11e0a1b11ae1")
# Stream names in an OLE directory (stored as UTF-16LE), most specific first.
_OLE_STREAMS = (
    ("EncryptedPackage", ct.ENCRYPTED_OFFICE),
    ("__substg1.0_", ct.OUTLOOK_MESSAGE),
    ("WordDocument", ct.LEGACY_WORD),
    ("PowerPoint Document", ct.LEGACY_POWERPOINT),
    ("Workbook", ct.LEGACY_EXCEL),
    ("Book", ct.LEGACY_EXCEL),
)
_ZIP_MAIN_PARTS = (
    ("word/document.xml", ct.DOCX),
    ("xl/workbook.xml", ct.XLSX),
    ("ppt/presentation.xml", ct.PPTX),
)
_ODF_MIMETYPES = {ct.ODT: ct.ODT, ct.ODS: ct.ODS, ct.ODP: ct.ODP, ct.EPUB: ct.EPUB}
# filetype's signatures are short; text can begin with one by chance ("BM" is a bitmap). Text whose
# first bytes are all printable is never taken for a binary format.
_PRINTABLE_HEAD = 512
_UNPRINTABLE = re.compile(rb"[\x00-\x08\x0e-\x1f\x7f]")
_EMAIL_HEADER = re.compile(
    r"^(?:from|to|subject|date|message-id|received|mime-version|return-path|"
    r"delivered-to|reply-to|cc|content-type):",
    re.IGNORECASE,
)
_HTML_START = re.compile(
    r"<(?:!doctype\s+html|html|head|body|meta|title|div|p|h[1-6]|table|ul|span|a)[\s>]", re.IGNORECASE
)


@dataclass(frozen=True)
class Detection:
    content_type: str
    text: str | None = None  # the decoded text, when the content is text


def detect(data: bytes, filename: str, declared: str | None = None) -> Detection:
    extension = posixpath.splitext(filename.lower())[1] if filename else ""
    declared_type = ct.normalise(declared)

    signature_type = _binary_signature(data, extension)
    if signature_type is not None:
        return Detection(signature_type)
    guessed = None if has_bom(data) else _filetype_guess(data)
    if guessed is not None:
        return Detection(guessed)

    text = decode_text(data, ct.charset_parameter(declared))
    if text is None:
        return Detection(ct.BINARY_EXTENSIONS.get(extension, ct.OCTET_STREAM))
    if extension in ct.BINARY_EXTENSIONS:
        return Detection(ct.BINARY_EXTENSIONS[extension])  # text named .pdf: its parser says it is damaged
    content_type = ct.TEXT_EXTENSIONS.get(extension)
    if content_type is None and declared_type in ct.TEXT_TYPES and declared_type != ct.PLAIN:
        content_type = declared_type  # "text/plain" is many clients' default: sniff instead
    if content_type is None:
        content_type = sniff_text_type(text)
    elif content_type == ct.JSON:
        content_type = _json_kind(text)  # .json files often hold one document per line
    return Detection(content_type, text)


def sniff_text_type(text: str) -> str:
    head = text[:4096].lstrip("\ufeff \t\n")
    lowered = head[:2048].lower()
    if lowered.startswith("{\\rtf"):
        return ct.RTF
    if lowered.startswith("<?xml"):
        return ct.HTML if "<html" in lowered else ct.XML
    if _HTML_START.match(head):
        return ct.HTML
    if head.startswith("<") and head[1:2].isalpha():
        return ct.XML
    if head.startswith(("{", "[")):
        return _json_kind(text)
    if _looks_like_email(head):
        return ct.EMAIL
    return ct.PLAIN


def _binary_signature(data: bytes, extension: str) -> str | None:
    # Readers accept junk before the header, but text that merely mentions "%PDF-" is not a PDF.
    if data.startswith(b"%PDF-") or (extension == ".pdf" and b"%PDF-" in data[:_PDF_WINDOW]):
        return ct.PDF
    if data.startswith(_ZIP_SIGNATURES):
        return _zip_kind(data, extension)
    if data.startswith(_OLE_SIGNATURE):
        return _ole_kind(data)
    return None


def _zip_kind(data: bytes, extension: str) -> str:
    """A zip package is named by what it holds: word/document.xml makes a DOCX, whatever its name."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
            for part, content_type in _ZIP_MAIN_PARTS:
                if part in names:
                    return content_type
            if "mimetype" in names and archive.getinfo("mimetype").file_size < 100:
                mimetype = archive.read("mimetype").decode("ascii", "replace").strip()
                if mimetype in _ODF_MIMETYPES:
                    return _ODF_MIMETYPES[mimetype]
    except ZIP_ERRORS:
        pass  # a damaged package: go by its name, and let that parser report the damage
    by_name = ct.BINARY_EXTENSIONS.get(extension)
    return by_name if by_name in (ct.DOCX, ct.XLSX, ct.PPTX, ct.ODT) else ct.ZIP


def _ole_kind(data: bytes) -> str:
    for stream, content_type in _OLE_STREAMS:
        if stream.encode("utf-16-le") in data:
            return content_type
    return ct.OLE_STORAGE


def _filetype_guess(data: bytes) -> str | None:
    if not _UNPRINTABLE.search(data[:_PRINTABLE_HEAD]):
        return None
    try:
        return filetype.guess_mime(data)
    except Exception:  # filetype's matchers index into the buffer; never let a short file break us
        return None


def _json_kind(text: str) -> str:
    stripped = text.strip()
    first_line, _, rest = stripped.partition("\n")
    if rest.strip() and first_line.rstrip().endswith(("}", "]")) and rest.lstrip().startswith(("{", "[")):
        return ct.NDJSON
    return ct.JSON


def _looks_like_email(head: str) -> bool:
    header_block = head.split("\n\n", 1)[0].split("\n")
    first = header_block[0]
    if not (first.startswith("From ") or _EMAIL_HEADER.match(first)):
        return False
    return sum(bool(_EMAIL_HEADER.match(line)) for line in header_block) >= 2
