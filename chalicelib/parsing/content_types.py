"""The MIME types the parsers speak, and how file name extensions map onto them."""

from __future__ import annotations

PLAIN = "text/plain"
MARKDOWN = "text/markdown"
HTML = "text/html"
CSV = "text/csv"
TSV = "text/tab-separated-values"
JSON = "application/json"
NDJSON = "application/x-ndjson"
XML = "application/xml"
EMAIL = "message/rfc822"
PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
ODT = "application/vnd.oasis.opendocument.text"

# Recognised so that the error can say what to do, but not parsed.
RTF = "application/rtf"
ZIP = "application/zip"
EPUB = "application/epub+zip"
OCTET_STREAM = "application/octet-stream"
LEGACY_WORD = "application/msword"
LEGACY_EXCEL = "application/vnd.ms-excel"
LEGACY_POWERPOINT = "application/vnd.ms-powerpoint"
OUTLOOK_MESSAGE = "application/vnd.ms-outlook"
OLE_STORAGE = "application/x-ole-storage"
# A password-protected Office file: an OLE container holding the encrypted OOXML package.
ENCRYPTED_OFFICE = "application/encrypted"
ODS = "application/vnd.oasis.opendocument.spreadsheet"
ODP = "application/vnd.oasis.opendocument.presentation"

TEXT_TYPES = frozenset({PLAIN, MARKDOWN, HTML, CSV, TSV, JSON, NDJSON, XML, EMAIL})
BINARY_TYPES = frozenset({PDF, DOCX, XLSX, PPTX, ODT})
SUPPORTED_TYPES = TEXT_TYPES | BINARY_TYPES

SUPPORTED_SUMMARY = (
    "PDF, Word (.docx), Excel (.xlsx), PowerPoint (.pptx), OpenDocument text (.odt), HTML, "
    "Markdown, plain text, CSV/TSV, JSON/NDJSON, XML and e-mail (.eml)"
)

TEXT_EXTENSIONS = {
    ".txt": PLAIN,
    ".text": PLAIN,
    ".rst": PLAIN,
    ".org": PLAIN,
    ".log": PLAIN,
    ".md": MARKDOWN,
    ".markdown": MARKDOWN,
    ".mdown": MARKDOWN,
    ".mkd": MARKDOWN,
    ".html": HTML,
    ".htm": HTML,
    ".xhtml": HTML,
    ".csv": CSV,
    ".tsv": TSV,
    ".tab": TSV,
    ".json": JSON,
    ".ndjson": NDJSON,
    ".jsonl": NDJSON,
    ".xml": XML,
    ".eml": EMAIL,
}

# Formats we parse whose files are binary: a file with one of these names that is not what it claims
# to be is reported as damaged, which tells the person more than "unsupported" would.
BINARY_EXTENSIONS = {
    ".pdf": PDF,
    ".docx": DOCX,
    ".xlsx": XLSX,
    ".pptx": PPTX,
    ".odt": ODT,
}

# What people and HTTP clients call the same types.
ALIASES = {
    "text/xml": XML,
    "text/x-markdown": MARKDOWN,
    "application/csv": CSV,
    "text/tsv": TSV,
    "application/jsonl": NDJSON,
    "application/x-jsonlines": NDJSON,
    "application/jsonlines": NDJSON,
    "application/ndjson": NDJSON,
    "application/xhtml+xml": HTML,
    "text/rtf": RTF,
    "application/x-zip-compressed": ZIP,
}

# Advice for types we recognise but do not parse.
UNSUPPORTED_ADVICE = {
    LEGACY_WORD: "Legacy Word (.doc) files are not supported; save it as .docx and upload that",
    LEGACY_EXCEL: "Legacy Excel (.xls) files are not supported; save it as .xlsx and upload that",
    LEGACY_POWERPOINT: ("Legacy PowerPoint (.ppt) files are not supported; save it as .pptx and upload that"),
    OUTLOOK_MESSAGE: "Outlook .msg files are not supported; save the message as .eml and upload that",
    RTF: "RTF files are not supported; save it as .docx or PDF and upload that",
    ZIP: "Zip archives are not supported; upload the files inside it one by one",
    EPUB: "EPUB books are not supported; convert it to PDF or HTML and upload that",
    ODS: "OpenDocument spreadsheets are not supported; save it as .xlsx and upload that",
    ODP: "OpenDocument presentations are not supported; save it as .pptx and upload that",
}


def normalise(mime: str | None) -> str:
    """Lower-case type without parameters, with aliases folded: 'Text/XML; charset=x' -> 'application/xml'."""
    if not mime:
        return ""
    base = mime.split(";", 1)[0].strip().lower()
    return ALIASES.get(base, base)


def charset_parameter(mime: str | None) -> str | None:
    """The charset a declared type names, e.g. 'text/plain; charset=windows-1252' -> 'windows-1252'."""
    if not mime:
        return None
    for parameter in mime.split(";")[1:]:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset" and value.strip():
            return value.strip().strip("\"'")
    return None


def upload_refusal(filename: str, declared_type: str | None = None) -> str | None:
    """Why a file of this name (and declared type) cannot be indexed, or None when it may be.

    Asked at upload, so a person learns before sending the bytes rather than from a FAILED document.
    A name without an extension, or one whose type is some kind of text (source code, YAML, ...), is
    let through: the parser decides such files by their bytes.
    """
    import mimetypes

    declared = normalise(declared_type)
    dot = filename.rfind(".")
    extension = filename[dot:].lower() if dot > 0 else ""
    if extension in TEXT_EXTENSIONS or extension in BINARY_EXTENSIONS:
        return None
    if declared in SUPPORTED_TYPES or declared.startswith("text/"):
        return None
    if not extension:
        return None
    guessed = normalise(mimetypes.guess_type(f"x{extension}", strict=False)[0])
    if not guessed or guessed in SUPPORTED_TYPES or guessed.startswith("text/") or guessed in _TEXTUAL:
        return None  # an unknown extension (.yaml, .toml, .ini) is decided by its bytes
    if guessed.endswith("+xml"):
        return None  # XSLT, RSS, SVG, XHTML...: XML underneath, which the XML parser reads
    advice = UNSUPPORTED_ADVICE.get(guessed)
    if advice:
        return f"{advice}. Quarry reads {SUPPORTED_SUMMARY}."
    return f"{extension} files ({guessed}) cannot be indexed. Quarry reads {SUPPORTED_SUMMARY}."


# application/* types that are text underneath: the plain-text parser reads them.
_TEXTUAL = frozenset(
    {"application/sql", "application/javascript", "application/x-sh", "application/x-tex", "application/toml"}
)
