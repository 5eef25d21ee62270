"""Each format's parser on documents built in the test: the text, its order, the title, and the errors
a person sees for the ways each format goes wrong."""

from __future__ import annotations

import io
import json
import struct
import zipfile
from email.message import EmailMessage
from pathlib import Path

import docx
import pytest
from docx.oxml import parse_xml
from pypdf import PdfReader, PdfWriter
from pypdf.errors import DependencyError

from chalicelib.model import DocumentError, ErrorCode
from chalicelib.parsing import ParseLimits, detect_content_type, parse
from chalicelib.parsing import content_types as ct
from tests.documents import encrypt_pdf, make_docx, make_pdf
from tests.unit.office_builders import make_odt, make_pptx, make_xlsx, zip_package

CORPUS_DOCX_WITH_MERGED_CELLS = Path(__file__).parent.parent / "fixtures" / "corpus" / "docx-hdrftr.docx"


def error_of(data: bytes, filename: str, **kwargs) -> DocumentError:  # type: ignore[no-untyped-def]
    with pytest.raises(DocumentError) as caught:
        parse(data, filename, **kwargs)
    return caught.value


def words(text: str) -> str:
    return " ".join(text.split())


# --- PDF ---------------------------------------------------------------------------------------------


def test_pdf_gives_one_numbered_page_per_page() -> None:
    document = parse(make_pdf(["Alpha harbour report.", "", "Gamma lighthouse notes."]), "report.pdf")
    assert document.content_type == ct.PDF
    assert [page.number for page in document.pages] == [1, 2, 3]
    assert "Alpha harbour report." in document.pages[0].text
    assert document.pages[1].text == ""
    assert "Gamma lighthouse notes." in document.pages[2].text


def test_pdf_title_comes_from_metadata() -> None:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(make_pdf(["Body text."]))))
    writer.add_metadata({"/Title": "Annual Harbour Report"})
    out = io.BytesIO()
    writer.write(out)
    assert parse(out.getvalue(), "report.pdf").title == "Annual Harbour Report"


def test_password_protected_pdf_is_encrypted() -> None:
    error = error_of(encrypt_pdf(make_pdf(["Secret plans."])), "secret.pdf")
    assert error.code == ErrorCode.ENCRYPTED
    assert error.message == "The PDF is password-protected; upload a copy without a password."


def test_copy_protected_pdf_that_opens_without_a_password_is_read() -> None:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(make_pdf(["Readable but not printable."]))))
    writer.encrypt(user_password="", owner_password="owner-only", permissions_flag=0, algorithm="AES-128")
    out = io.BytesIO()
    writer.write(out)
    assert "Readable but not printable." in parse(out.getvalue(), "protected.pdf").text


def test_aes_pdf_without_the_crypto_library_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_aes(self: PdfReader, password: str) -> None:
        raise DependencyError("cryptography>=3.1 is required for AES algorithm")

    monkeypatch.setattr(PdfReader, "decrypt", no_aes)
    error = error_of(encrypt_pdf(make_pdf(["x"])), "aes.pdf")
    assert error.code == ErrorCode.ENCRYPTED
    assert "AES" in error.message


def test_pdf_without_text_on_any_page_has_no_text_layer() -> None:
    error = error_of(make_pdf(["", ""]), "scan.pdf")
    assert error.code == ErrorCode.NO_TEXT_LAYER
    assert error.message == "The PDF has no text layer (scanned images?); run OCR first."


def test_pdf_over_the_page_limit_is_too_large() -> None:
    error = error_of(make_pdf(["page"] * 5), "long.pdf", limits=ParseLimits(max_pages=4))
    assert error.code == ErrorCode.TOO_LARGE
    assert "5 pages" in error.message and "4" in error.message


@pytest.mark.parametrize("keep", [0.05, 0.5, 0.98])
def test_truncated_pdf_is_corrupt(keep: float) -> None:
    data = make_pdf(["Alpha.", "Beta.", "Gamma."])
    error = error_of(data[: int(len(data) * keep)], "cut.pdf")
    assert error.code == ErrorCode.CORRUPT
    assert error.message.startswith("The PDF is damaged and cannot be read: ")


def test_garbage_after_a_pdf_header_is_corrupt() -> None:
    assert error_of(b"%PDF-1.7\n" + bytes(range(256)) * 20, "junk.pdf").code == ErrorCode.CORRUPT


def test_file_named_pdf_without_a_pdf_header_is_corrupt() -> None:
    error = error_of(b"just some words, not a PDF at all", "notes.pdf")
    assert error.code == ErrorCode.CORRUPT
    assert "%PDF header" in error.message


def test_one_unreadable_pdf_page_does_not_lose_the_others(monkeypatch: pytest.MonkeyPatch) -> None:
    from pypdf import PageObject

    original = PageObject.extract_text

    def fails_on_beta(self: PageObject, *args, **kwargs) -> str:  # type: ignore[no-untyped-def]
        text = original(self, *args, **kwargs)
        if "Beta" in text:
            raise KeyError("/Font")
        return text

    monkeypatch.setattr(PageObject, "extract_text", fails_on_beta)
    document = parse(make_pdf(["Alpha.", "Beta.", "Gamma."]), "mixed.pdf")
    assert [page.text.strip() for page in document.pages] == ["Alpha.", "", "Gamma."]


# --- DOCX --------------------------------------------------------------------------------------------


def _docx_bytes(document: docx.document.Document) -> bytes:
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def test_docx_keeps_paragraphs_and_tables_in_document_order() -> None:
    data = make_docx(["Before the table."], table=[["Name", "Role"], ["Ada", "Engineer"]])
    document = docx.Document(io.BytesIO(data))
    document.add_paragraph("After the table.")
    parsed = parse(_docx_bytes(document), "team.docx")
    assert parsed.content_type == ct.DOCX
    assert parsed.pages[0].number is None
    assert parsed.text.split("\n") == [
        "Before the table.",
        "Name | Role",
        "Ada | Engineer",
        "After the table.",
    ]


def test_docx_includes_headers_and_footers_once() -> None:
    document = docx.Document()
    document.sections[0].header.paragraphs[0].text = "ACME Confidential"
    document.sections[0].footer.paragraphs[0].text = "Page footer"
    document.add_paragraph("Body text.")
    document.add_section()  # its header is linked to the first: not repeated
    document.add_paragraph("Second section.")
    lines = [line for line in parse(_docx_bytes(document), "memo.docx").text.split("\n") if line]
    assert lines == ["ACME Confidential", "Body text.", "Second section.", "Page footer"]


def test_docx_title_from_core_properties_then_headings() -> None:
    document = docx.Document()
    document.add_paragraph("Intro line.")
    document.add_heading("Quarterly Review", level=1)
    assert parse(_docx_bytes(document), "review.docx").title == "Quarterly Review"
    document.core_properties.title = "Official Title"
    assert parse(_docx_bytes(document), "review.docx").title == "Official Title"


def test_docx_reads_content_controls_and_text_boxes() -> None:
    w = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
    document = docx.Document()
    document.add_paragraph("Plain paragraph.")
    body = document.element.body
    body.insert(
        len(body) - 1,
        parse_xml(
            f"<w:sdt {w}><w:sdtContent><w:p><w:r><w:t>Inside a content control.</w:t></w:r></w:p>"
            "</w:sdtContent></w:sdt>"
        ),
    )
    body.insert(
        len(body) - 1,
        parse_xml(f"<w:p {w}><w:ins><w:r><w:t>Tracked insertion.</w:t></w:r></w:ins></w:p>"),
    )
    text = parse(_docx_bytes(document), "controls.docx").text
    assert text.split("\n") == ["Plain paragraph.", "Inside a content control.", "Tracked insertion."]


def test_docx_skips_cells_hidden_by_a_vertical_merge() -> None:
    text = parse(CORPUS_DOCX_WITH_MERGED_CELLS.read_bytes(), "docx-hdrftr.docx").text
    assert "cell1 | a b c d e f" in text
    assert "I should not be included" not in text


def test_docx_that_is_not_a_zip_is_corrupt() -> None:
    error = error_of(b"PK\x03\x04 this is not really a zip archive", "broken.docx")
    assert error.code == ErrorCode.CORRUPT
    assert error.message.startswith("The Word document is damaged and cannot be read: ")


def test_truncated_docx_is_corrupt() -> None:
    data = make_docx(["Some text"] * 50)
    assert error_of(data[: len(data) // 2], "cut.docx").code == ErrorCode.CORRUPT


def test_macro_enabled_word_document_is_unsupported() -> None:
    data = make_docx(["Macros inside."])
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            content = source.read(item.filename)
            if item.filename == "[Content_Types].xml":
                content = content.replace(
                    b"wordprocessingml.document.main+xml", b"ms-word.document.macroEnabled.main+xml"
                )
            target.writestr(item, content)
    error = error_of(out.getvalue(), "macros.docm")
    assert error.code == ErrorCode.UNSUPPORTED_TYPE
    assert ".docx" in error.message


# --- zip bombs (every zip-based format goes through the same guard) ---------------------------------------


@pytest.mark.timeout(30)
@pytest.mark.parametrize("filename", ["bomb.docx", "bomb.xlsx", "bomb.pptx", "bomb.odt"])
def test_zip_package_that_inflates_past_the_limit_is_too_large(filename: str) -> None:
    main_part = {
        "bomb.docx": "word/document.xml",
        "bomb.xlsx": "xl/workbook.xml",
        "bomb.pptx": "ppt/presentation.xml",
        "bomb.odt": "content.xml",
    }[filename]
    entries = {"[Content_Types].xml": b"<Types/>", main_part: b"<x/>", "padding.bin": b"\0" * 3_000_000}
    data = zip_package(entries)
    assert len(data) < 20_000  # a few kilobytes that claim megabytes
    error = error_of(data, filename, limits=ParseLimits(max_zip_uncompressed_bytes=2_000_000))
    assert error.code == ErrorCode.TOO_LARGE
    assert "zip bomb" in error.message


@pytest.mark.timeout(30)
def test_default_limit_stops_a_real_sized_zip_bomb_before_inflating_it() -> None:
    # 210 MB of zeros compresses to about 200 kB; the guard reads only the central directory.
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("word/document.xml", b"<x/>")
        with archive.open("word/media/zeros.bin", "w", force_zip64=True) as entry:
            chunk = b"\0" * (1024 * 1024)
            for _ in range(210):
                entry.write(chunk)
    error = error_of(out.getvalue(), "bomb.docx")
    assert error.code == ErrorCode.TOO_LARGE


def test_zip_package_with_too_many_entries_is_too_large() -> None:
    entries = {f"word/media/{index}.bin": b"" for index in range(60)}
    entries["word/document.xml"] = b"<x/>"
    error = error_of(
        zip_package(entries, zipfile.ZIP_STORED), "many.docx", limits=ParseLimits(max_zip_entries=50)
    )
    assert error.code == ErrorCode.TOO_LARGE
    assert "61 files" in error.message


def test_zip_entry_that_lies_about_its_size_is_corrupt_not_inflated() -> None:
    data = bytearray(
        zip_package({"word/document.xml": b"<w:document>" + b"A" * 5_000_000 + b"</w:document>"})
    )
    # Claim 100 bytes in both headers: zipfile stops there and the CRC check fails.
    local = data.index(b"PK\x03\x04")
    central = data.index(b"PK\x01\x02")
    struct.pack_into("<I", data, local + 22, 100)
    struct.pack_into("<I", data, central + 24, 100)
    error = error_of(bytes(data), "liar.docx")
    assert error.code == ErrorCode.CORRUPT


# --- XLSX, PPTX, ODT ---------------------------------------------------------------------------------


def test_xlsx_rows_read_with_their_column_headers() -> None:
    data = make_xlsx(
        {"Cups": [["Stanley Cups"], ["Team", "City", "Wins"], ["Blues", "St Louis", 1], ["Leafs", "", 13]]},
        title="Hockey",
    )
    document = parse(data, "cups.xlsx")
    assert document.content_type == ct.XLSX
    assert document.title == "Hockey"
    assert document.text.split("\n") == [
        "Sheet: Cups",
        "Stanley Cups",
        "Team | City | Wins",
        "Team: Blues; City: St Louis; Wins: 1",
        "Team: Leafs; Wins: 13",
    ]


def test_xlsx_reads_every_sheet_in_workbook_order() -> None:
    data = make_xlsx({"Second": [["b1"]], "First": [["a1"]]})
    assert parse(data, "book.xlsx").text.split("\n\n") == ["Sheet: Second\nb1", "Sheet: First\na1"]


def test_xlsx_without_any_cell_text_is_empty() -> None:
    error = error_of(make_xlsx({"Sheet1": []}), "blank.xlsx")
    assert error.code == ErrorCode.EMPTY
    assert error.message == "The Excel workbook contains no text."


def test_pptx_reads_slides_in_presentation_order_with_notes() -> None:
    data = make_pptx([(["Opening", "Agenda for today"], "Greet the room"), (["Results"], None)])
    document = parse(data, "deck.pptx")
    assert document.content_type == ct.PPTX
    assert document.text == "Slide 1\nOpening\nAgenda for today\nNotes: Greet the room\n\nSlide 2\nResults"


def test_odt_reads_headings_spacing_and_tables_but_not_deleted_text() -> None:
    body = (
        "<text:h>Field Notes</text:h>"
        "<text:p>Two<text:s text:c='3'/>spaces<text:tab/>and a<text:line-break/>break.</text:p>"
        "<text:tracked-changes><text:changed-region><text:deletion><text:p>Deleted words</text:p>"
        "</text:deletion></text:changed-region></text:tracked-changes>"
        "<table:table><table:table-row><table:table-cell><text:p>Mon</text:p></table:table-cell>"
        "<table:table-cell><text:p>Rain</text:p></table:table-cell></table:table-row></table:table>"
    )
    document = parse(make_odt(body), "notes.odt")
    assert document.content_type == ct.ODT
    assert document.title == "Field Notes"
    assert document.text == "Field Notes\nTwo   spaces\tand a\nbreak.\nMon | Rain"
    assert parse(make_odt(body, title="Official"), "notes.odt").title == "Official"


# --- HTML --------------------------------------------------------------------------------------------


def test_html_keeps_visible_text_with_block_newlines_and_reads_the_title() -> None:
    html = (
        b"<!DOCTYPE html><html><head><title> Mount  Vireo </title><style>p {color: red}</style>"
        b"<script>var hidden = 'script text';</script></head><body>"
        b"<h1>Mount Vireo</h1><p>It erupted in <b>1887</b> and<br>again later.</p>"
        b"<noscript>Enable JavaScript</noscript><template><p>Template text</p></template>"
        b"<div hidden>Hidden by attribute</div><div style='display: none'>Hidden by style</div>"
        b"<ul><li>First</li><li>Second</li></ul>"
        b"<table><tr><th>Year</th><th>Event</th></tr><tr><td>1887</td><td>Eruption</td></tr></table>"
        b"<pre>  indented\n    code</pre></body></html>"
    )
    document = parse(html, "vireo.html")
    assert document.content_type == ct.HTML
    assert document.title == "Mount Vireo"
    assert document.text.split("\n") == [
        "Mount Vireo",
        "",
        "It erupted in 1887 and",
        "again later.",
        "",
        "First",
        "",
        "Second",
        "",
        "Year | Event",
        "",
        "1887 | Eruption",
        "",
        "indented",
        "code",
    ]


@pytest.mark.timeout(30)
@pytest.mark.parametrize("tag", ["div", "span", "b", "ul", "section"])
def test_html_nested_60000_deep_parses_without_crashing(tag: str) -> None:
    html = f"<html><body>{f'<{tag}>' * 60_000}deep words{f'</{tag}>' * 60_000}<p>after</p></body></html>"
    document = parse(html.encode(), "deep.html")
    assert "deep words" in document.text
    assert "after" in document.text


@pytest.mark.timeout(30)
def test_html_with_200000_unclosed_divs_stays_linear() -> None:
    # Quadratic tree building would take minutes here; the nesting guard keeps it to a second.
    document = parse(b"<div>x" * 200_000, "sloppy.html")
    assert document.text.count("x") == 200_000


def test_html_meta_charset_decides_an_8bit_page() -> None:
    html = '<html><head><meta charset="windows-1252"></head><body><p>Café crème – 15 €</p></body></html>'
    assert parse(html.encode("cp1252"), "menu.html").text == "Café crème – 15 €"


def test_html_with_only_markup_contains_no_text() -> None:
    error = error_of(
        b"<html><head><script>x=1</script></head><body><img src='a.png'></body></html>", "a.html"
    )
    assert error.code == ErrorCode.EMPTY


# --- CSV / TSV ---------------------------------------------------------------------------------------


def test_csv_rows_keep_their_header_association() -> None:
    data = b'city,lines,opened\nZagreb,19,1891\n"Lisbon, Portugal",6,1873\nMelbourne,,1884\n'
    document = parse(data, "trams.csv")
    assert document.content_type == ct.CSV
    assert document.text.split("\n") == [
        "city | lines | opened",
        "city: Zagreb; lines: 19; opened: 1891",
        "city: Lisbon, Portugal; lines: 6; opened: 1873",
        "city: Melbourne; opened: 1884",
    ]


def test_csv_with_semicolons_and_decimal_commas() -> None:
    data = b"Year;Revenue;Costs\n2023;143,1;-814,38\n2024;215,32;-11,08\n"
    assert "Year: 2023; Revenue: 143,1; Costs: -814,38" in parse(data, "money.csv").text


def test_tsv_and_a_title_row_above_the_header() -> None:
    data = b"Stanley Cups\t\t\nTeam\tLocation\tCups\nBlues\tSTL\t1\n"
    document = parse(data, "cups.tsv")
    assert document.content_type == ct.TSV
    assert document.text.split("\n") == [
        "Stanley Cups",
        "Team | Location | Cups",
        "Team: Blues; Location: STL; Cups: 1",
    ]


def test_csv_with_one_column_keeps_each_line() -> None:
    data = b"Lorem, ipsum\ndolor sit\namet, consectetur, adipiscing\n"
    assert parse(data, "lines.csv").text.split("\n") == [
        "Lorem, ipsum",
        "dolor sit",
        "amet, consectetur, adipiscing",
    ]


def test_csv_cell_longer_than_the_csv_module_default_is_kept() -> None:
    long_value = "x" * 300_000
    data = f'id,notes\n1,"{long_value}"\n'.encode()
    assert long_value in parse(data, "long.csv").text


def test_csv_quoted_newlines_stay_in_their_row() -> None:
    data = b'name,address\nAda,"12 Crane St\nLondon"\n'
    assert parse(data, "people.csv").text.split("\n")[-1] == "name: Ada; address: 12 Crane St London"


# --- JSON / NDJSON -----------------------------------------------------------------------------------


def test_json_becomes_path_value_lines() -> None:
    data = json.dumps(
        {
            "recipe": "risotto",
            "chef": {"name": "Lucia"},
            "tags": ["rice", "saffron"],
            "price": 12.50,
            "vegan": False,
            "notes": None,
            "big": 10**40,
        }
    ).encode()
    document = parse(data, "recipe.json")
    assert document.content_type == ct.JSON
    assert document.text.split("\n") == [
        "recipe: risotto",
        "chef.name: Lucia",
        "tags[0]: rice",
        "tags[1]: saffron",
        "price: 12.5",
        "vegan: false",
        f"big: {10**40}",
    ]


@pytest.mark.timeout(30)
@pytest.mark.parametrize("opening,closing", [(b"[", b"]"), (b'{"a":', b"}")])
def test_json_nested_100000_deep_is_corrupt_not_a_crash(opening: bytes, closing: bytes) -> None:
    error = error_of(opening * 100_000 + b"1" + closing * 100_000, "deep.json")
    assert error.code == ErrorCode.CORRUPT
    assert "JSON nested too deeply" in error.message


def test_truncated_json_document_is_corrupt() -> None:
    error = error_of(b'{"name": "John", "hobbies": ["reading", "run', "person.json")
    assert error.code == ErrorCode.CORRUPT
    assert "line 1" in error.message


def test_truncated_ndjson_keeps_its_valid_lines() -> None:
    data = b'{"sku": "A-1", "name": "Trowel"}\n\n{"sku": "B-2", "name": "Can"}\n{"sku": "C-3", "na'
    document = parse(data, "items.ndjson")
    assert document.content_type == ct.NDJSON
    assert document.text == "sku: A-1\nname: Trowel\n\nsku: B-2\nname: Can"


def test_ndjson_deep_line_is_skipped_like_any_bad_line() -> None:
    data = b'{"ok": 1}\n' + b"[" * 100_000 + b"]" * 100_000 + b'\n{"ok": 2}\n'
    assert parse(data, "items.jsonl").text == "ok: 1\n\nok: 2"


def test_ndjson_with_no_valid_line_is_corrupt() -> None:
    error = error_of(b"{not json\n[also not\n", "bad.ndjson")
    assert error.code == ErrorCode.CORRUPT
    assert "no line is valid JSON" in error.message


def test_json_file_holding_one_document_per_line_is_read_as_ndjson() -> None:
    data = b'{"a": 1}\n{"a": 2}\n'
    assert detect_content_type(data, "records.json") == ct.NDJSON
    document = parse(data, "records.json")
    assert document.content_type == ct.NDJSON
    assert document.text == "a: 1\n\na: 2"


# --- E-mail ------------------------------------------------------------------------------------------


def _email(**parts: str) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = "Quarterly numbers"
    message["From"] = "Ada <ada@example.com>"
    message["To"] = "team@example.com"
    message["Date"] = "Tue, 01 Oct 2024 12:34:56 -0500"
    if "plain" in parts:
        message.set_content(parts["plain"])
    if "html" in parts:
        if "plain" in parts:
            message.add_alternative(parts["html"], subtype="html")
        else:
            message.set_content(parts["html"], subtype="html")
    return message


def test_email_headers_and_plain_body() -> None:
    message = _email(plain="Revenue rose 4% this quarter.", html="<p>HTML copy of the same</p>")
    message.add_attachment(b"%PDF-1.4", maintype="application", subtype="pdf", filename="figures.pdf")
    document = parse(message.as_bytes(), "numbers.eml")
    assert document.content_type == ct.EMAIL
    assert document.title == "Quarterly numbers"
    assert document.text.split("\n") == [
        "Subject: Quarterly numbers",
        "From: Ada <ada@example.com>",
        "To: team@example.com",
        "Date: Tue, 01 Oct 2024 12:34:56 -0500",
        "",
        "Revenue rose 4% this quarter.",
        "",
        "Attachments: figures.pdf",
    ]


def test_html_only_email_is_read_as_text() -> None:
    message = _email(html="<html><body><h1>Hello</h1><p>Visible words</p><script>x()</script></body></html>")
    text = parse(message.as_bytes(), "html.eml").text
    assert "Hello\n\nVisible words" in text and "x()" not in text


def test_email_saved_as_utf16_is_read() -> None:
    message = _email(plain="Grüße aus Köln.")
    data = message.as_string().encode("utf-16")
    assert "Grüße aus Köln." in parse(data, "utf16.eml").text


def test_smime_encrypted_email_is_encrypted() -> None:
    data = (
        b"From: a@example.com\nTo: b@example.com\nSubject: secret\nMIME-Version: 1.0\n"
        b'Content-Type: application/pkcs7-mime; smime-type=enveloped-data; name="smime.p7m"\n'
        b"Content-Transfer-Encoding: base64\n\nMIAGCSqGSIb3DQEHA6CAMIACAQAxggF=\n"
    )
    error = error_of(data, "secret.eml")
    assert error.code == ErrorCode.ENCRYPTED
    assert "decrypted copy" in error.message


def test_email_without_an_extension_is_recognised() -> None:
    document = parse(_email(plain="Body words.").as_bytes(), "message-0001")
    assert document.content_type == ct.EMAIL


# --- Markdown, XML, plain text ------------------------------------------------------------------------


def test_markdown_title_is_the_first_level_one_heading_outside_code() -> None:
    data = b"Intro\n\n```bash\n# not a heading\n```\n\n## Section\n\n#  Real Title  #\n\n# Later\n"
    document = parse(data, "notes.md")
    assert document.content_type == ct.MARKDOWN
    assert document.title == "Real Title"
    assert "```bash" in document.text  # markup is kept


def test_xml_lines_are_labelled_with_their_element() -> None:
    data = b"<factbook><country><name>Norway</name><capital>Oslo</capital></country></factbook>"
    document = parse(data, "factbook.xml")
    assert document.content_type == ct.XML
    assert document.text == "name: Norway\ncapital: Oslo"


def test_malformed_xml_still_yields_its_words() -> None:
    assert "Oslo" in parse(b"<factbook><capital>Oslo</capital><name>Nor", "broken.xml").text


@pytest.mark.timeout(30)
def test_xml_entity_bomb_is_refused() -> None:
    levels = "".join(f'<!ENTITY lol{n} "{f"&lol{n - 1};" * 10}">' for n in range(1, 10))
    data = f'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol0 "lol">{levels}]><lolz>&lol9;</lolz>'
    error = error_of(data.encode(), "lolz.xml")
    assert error.code == ErrorCode.CORRUPT


@pytest.mark.parametrize("filename", ["notes.txt", "README.rst", "journal.org", "server.log", "NOTES"])
def test_plain_text_names(filename: str) -> None:
    document = parse(b"Line one\r\nLine two\rLine three\n", filename)
    assert document.content_type == ct.PLAIN
    assert document.pages[0].number is None
    assert document.text == "Line one\nLine two\nLine three"
