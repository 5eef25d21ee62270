"""Properties over generated inputs: parse never raises anything but DocumentError and never returns
NULs, and text survives the trip through any common encoding."""

from __future__ import annotations

import io
import zipfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.model import DocumentError
from chalicelib.parsed import ParsedDocument
from chalicelib.parsing import parse

EXTENSIONS = [
    ".txt", ".md", ".html", ".htm", ".csv", ".tsv", ".json", ".ndjson", ".xml", ".eml", ".pdf",
    ".docx", ".xlsx", ".pptx", ".odt", ".doc", ".png", ".wav", ".zip", "",
]  # fmt: skip
# Openings that steer arbitrary bytes into each detector and parser rather than straight to "binary".
PREFIXES = [
    b"", b"%PDF-1.4\n", b"PK\x03\x04", bytes.fromhex("d0cf11e0a1b11ae1"), b"\xff\xfe", b"\xfe\xff",
    b"\xef\xbb\xbf", b"\xff\xfe\x00\x00", b"<html><body>", b"<?xml version='1.0'?><r>", b"{", b"[",
    b"From: a@example.com\nSubject: s\n\n", b"a,b,c\n", b"# Title\n", b"{\\rtf1 ",
]  # fmt: skip
PACKAGE_PARTS = [
    "[Content_Types].xml", "_rels/.rels", "word/document.xml", "word/_rels/document.xml.rels",
    "xl/workbook.xml", "xl/_rels/workbook.xml.rels", "xl/sharedStrings.xml", "xl/worksheets/sheet1.xml",
    "ppt/presentation.xml", "ppt/_rels/presentation.xml.rels", "ppt/slides/slide1.xml", "content.xml",
    "mimetype", "docProps/core.xml",
]  # fmt: skip
XML_BITS = [
    "<?xml version='1.0'?>", "<w:document xmlns:w='http://schemas.openxmlformats.org/wordprocessingml/2006/main'>",
    "<w:body>", "<w:p>", "<w:r>", "<w:t>", "text", "</w:t>", "</w:r>", "</w:p>", "<w:tbl><w:tr><w:tc>",
    "<sheet name='s' r:id='rId1' xmlns:r='x'/>", "<c r='B2' t='s'><v>0</v></c>", "<si><t>shared</t></si>",
    "<row>", "</row>", "<a:t xmlns:a='http://schemas.openxmlformats.org/drawingml/2006/main'>slide</a:t>",
    "<Relationship Id='rId1' Type='x/officeDocument' Target='word/document.xml'/>", "&amp;", "<", ">",
]  # fmt: skip


def outcome(data: bytes, filename: str) -> ParsedDocument | DocumentError:
    try:
        return parse(data, filename)
    except DocumentError as error:
        return error


def check(result: ParsedDocument | DocumentError) -> None:
    if isinstance(result, ParsedDocument):
        assert result.pages, "a parsed document has at least one page"
        assert "\x00" not in result.text
        assert result.text.strip()
        result.text.encode("utf-8")  # storable: no lone surrogates
    else:
        assert result.message


@pytest.mark.timeout(120)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    prefix=st.sampled_from(PREFIXES),
    body=st.binary(max_size=3000),
    stem=st.sampled_from(["file", "Report 2024", "ünïcode", "a.b"]),
    extension=st.sampled_from(EXTENSIONS),
)
def test_arbitrary_bytes_parse_or_raise_document_error(
    prefix: bytes, body: bytes, stem: str, extension: str
) -> None:
    check(outcome(prefix + body, stem + extension))


@pytest.mark.timeout(120)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    parts=st.dictionaries(
        st.sampled_from(PACKAGE_PARTS),
        st.one_of(
            st.binary(max_size=200),
            st.lists(st.sampled_from(XML_BITS), max_size=30).map(lambda bits: "".join(bits).encode()),
        ),
        max_size=8,
    ),
    extension=st.sampled_from([".docx", ".xlsx", ".pptx", ".odt", ".zip"]),
)
def test_arbitrary_zip_packages_parse_or_raise_document_error(
    parts: dict[str, bytes], extension: str
) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in parts.items():
            archive.writestr(name, content)
    check(outcome(buffer.getvalue(), "package" + extension))


# Real words whose letters all exist in cp1252, including the ones other code pages put elsewhere.
WORDS = [
    "harbour", "lighthouse", "keeper", "ledger", "Zürich", "café", "crème", "brûlée", "très", "déjà",
    "façade", "naïve", "Köln", "Grüße", "straße", "niño", "mañana", "São", "Paulo", "coração", "smörgåsbord",
    "Ærø", "fjord", "œuvre", "€", "—", "“quoted”", "1887", "3,50", "années", "à", "là", "où", "piñata",
]  # fmt: skip
ENCODINGS = [
    "utf-8",
    "utf-8-sig",
    "utf-16",
    "utf-16-le",
    "utf-16-be",
    "utf-32",
    "utf-32-le",
    "utf-32-be",
    "cp1252",
]


@settings(max_examples=200, deadline=None)
@given(words=st.lists(st.sampled_from(WORDS), min_size=3, max_size=40), encoding=st.sampled_from(ENCODINGS))
def test_text_round_trips_through_any_encoding(words: list[str], encoding: str) -> None:
    text = " ".join(words)
    document = parse(text.encode(encoding), "words.txt")
    for word in words:
        assert word in document.text
