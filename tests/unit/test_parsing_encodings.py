"""Text in any common encoding comes out as the same clean str; binary data is never taken for text."""

from __future__ import annotations

import codecs

import pytest

from chalicelib.model import DocumentError, ErrorCode
from chalicelib.parsing import content_types as ct
from chalicelib.parsing import detect_content_type, parse

TEXT = "Grüße aus Köln: café, naïve, 15 €.\nSecond line — done."


@pytest.mark.parametrize(
    "encoding, bom",
    [
        ("utf-8", b""),
        ("utf-8", codecs.BOM_UTF8),
        ("utf-16-le", b""),
        ("utf-16-be", b""),
        ("utf-16-le", codecs.BOM_UTF16_LE),
        ("utf-16-be", codecs.BOM_UTF16_BE),
        ("utf-32-le", b""),
        ("utf-32-be", b""),
        ("utf-32-le", codecs.BOM_UTF32_LE),
        ("utf-32-be", codecs.BOM_UTF32_BE),
        ("cp1252", b""),
    ],
)
def test_text_decodes_from_each_encoding(encoding: str, bom: bytes) -> None:
    document = parse(bom + TEXT.encode(encoding), "greeting.txt")
    assert document.text == TEXT


def test_latin1_text_decodes() -> None:
    text = "Le cœur a ses raisons; déjà vu à la façade, très naïf."
    assert parse(text.encode("cp1252"), "pascal.txt").text == text
    latin1 = "Ça va très bien, merci. Où est la gare? À bientôt."
    assert parse(latin1.encode("latin-1"), "gare.txt").text == latin1


def test_cyrillic_code_page_is_recognised() -> None:
    text = "Привет, мир! Это проверка кодировки текста, и она должна пройти успешно."
    assert parse(text.encode("cp1251"), "privet.txt").text == text


def test_invalid_utf8_falls_back_without_garbling_the_rest() -> None:
    data = "Zürich café résumé ".encode() * 5 + b"\xff\xfe broken byte " + "naïve end".encode()
    text = parse(data, "mixed.txt").text
    assert "Zürich café résumé" in text
    assert "naïve end" in text
    assert "\ufffd" in text  # the bad bytes are marked, not silently invented


def test_declared_charset_is_honoured() -> None:
    data = "Señor Muñoz".encode("cp1252")
    assert parse(data, "name.txt", "text/plain; charset=windows-1252").text == "Señor Muñoz"


def test_nul_bytes_are_stripped_and_newlines_normalised() -> None:
    document = parse(b"first\x00 line\r\nsecond line\rthird\x00\n", "nul.txt")
    assert document.text == "first line\nsecond line\nthird"


def test_utf16_csv_and_html_decode() -> None:
    csv_data = "name,city\nZoë,Zürich\n".encode("utf-16")
    assert parse(csv_data, "people.csv").text.split("\n")[-1] == "name: Zoë; city: Zürich"
    html = "<html><head><title>Überblick</title></head><body><p>Straße</p></body></html>"
    document = parse(html.encode("utf-16-le"), "page.html")
    assert (document.title, document.text) == ("Überblick", "Straße")


def test_cp1252_html_without_a_charset_declaration() -> None:
    html = "<html><body><p>L'été était très chaud; le café coûtait 3,50 €.</p></body></html>"
    assert parse(html.encode("cp1252"), "ete.html").text == "L'été était très chaud; le café coûtait 3,50 €."


# --- detection ---------------------------------------------------------------------------------------

PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489") + b"\x00" * 64


def test_png_named_markdown_is_an_image() -> None:
    assert detect_content_type(PNG, "notes.md") == "image/png"
    with pytest.raises(DocumentError) as caught:
        parse(PNG, "notes.md")
    assert caught.value.code == ErrorCode.UNSUPPORTED_TYPE
    assert caught.value.message.startswith("image/png files are not supported; supported types: PDF")


def test_wav_says_it_is_not_supported_and_what_is() -> None:
    from tests.documents import wav_bytes

    with pytest.raises(DocumentError) as caught:
        parse(wav_bytes(), "CantinaBand3.wav")
    assert caught.value.code == ErrorCode.UNSUPPORTED_TYPE
    assert caught.value.message.startswith("audio/x-wav files are not supported; supported types: ")


def test_binary_data_under_a_text_name_is_not_text() -> None:
    data = bytes(range(256)) * 40
    assert detect_content_type(data, "notes.txt") == ct.OCTET_STREAM
    with pytest.raises(DocumentError) as caught:
        parse(data, "notes.txt")
    assert caught.value.code == ErrorCode.UNSUPPORTED_TYPE
    assert "binary data" in caught.value.message and "'notes.txt'" in caught.value.message


def test_text_that_starts_like_a_binary_signature_is_still_text() -> None:
    # "BM" opens a bitmap, "ID3" an MP3: text that happens to start so stays text.
    for text in ("BMW and Audi sales rose.", "ID3 tags are MP3 metadata."):
        assert detect_content_type(text.encode(), "cars.txt") == ct.PLAIN


def test_bytes_beat_the_name_and_the_name_beats_the_declared_type() -> None:
    from tests.documents import make_docx, make_pdf

    assert detect_content_type(make_docx(["x"]), "report.zip") == ct.DOCX
    assert detect_content_type(make_pdf(["x"]), "report.txt", "text/plain") == ct.PDF
    assert detect_content_type(b"a,b\n1,2\n", "table.csv", "text/html") == ct.CSV
    assert detect_content_type(b"a,b\n1,2\n", "upload", "text/csv") == ct.CSV
    assert detect_content_type(b"a,b\n1,2\n", "upload", "application/octet-stream") == ct.PLAIN


@pytest.mark.parametrize(
    "content, expected",
    [
        (b"<!DOCTYPE html><html><body>x</body></html>", ct.HTML),
        (b"<?xml version='1.0'?><root><a>x</a></root>", ct.XML),
        (b'{"a": [1, 2]}', ct.JSON),
        (b'{"a": 1}\n{"a": 2}\n', ct.NDJSON),
        (b"From: a@example.com\nTo: b@example.com\nSubject: hi\n\nbody", ct.EMAIL),
        (b"{\\rtf1\\ansi hello}", ct.RTF),
        (b"Just words in a file.", ct.PLAIN),
    ],
)
def test_text_without_a_telling_name_is_sniffed(content: bytes, expected: str) -> None:
    assert detect_content_type(content, "upload") == expected


def test_legacy_office_and_encrypted_office_files_are_told_apart() -> None:
    ole = bytes.fromhex("d0cf11e0a1b11ae1") + b"\x00" * 504

    def with_stream(name: str) -> bytes:
        return ole + name.encode("utf-16-le") + b"\x00" * 64

    assert detect_content_type(with_stream("WordDocument"), "old.doc") == ct.LEGACY_WORD
    assert detect_content_type(with_stream("Workbook"), "old.xls") == ct.LEGACY_EXCEL
    assert detect_content_type(with_stream("PowerPoint Document"), "old.ppt") == ct.LEGACY_POWERPOINT
    assert detect_content_type(with_stream("EncryptedPackage"), "locked.xlsx") == ct.ENCRYPTED_OFFICE
    with pytest.raises(DocumentError) as caught:
        parse(with_stream("WordDocument"), "old.doc")
    assert caught.value.code == ErrorCode.UNSUPPORTED_TYPE
    assert "save it as .docx" in caught.value.message
    with pytest.raises(DocumentError) as caught:
        parse(with_stream("EncryptedPackage"), "locked.xlsx")
    assert caught.value.code == ErrorCode.ENCRYPTED
