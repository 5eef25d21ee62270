"""Limits and failure: whatever the bytes, parse returns text or raises a DocumentError, promptly."""

from __future__ import annotations

import pytest

from chalicelib.config import Settings
from chalicelib.model import DocumentError, ErrorCode
from chalicelib.parsing import ParseLimits, parse
from chalicelib.parsing import content_types as ct
from tests.documents import make_docx, make_pdf
from tests.unit.office_builders import make_odt, make_pptx, make_xlsx


def error_of(data: bytes, filename: str, **kwargs) -> DocumentError:  # type: ignore[no-untyped-def]
    with pytest.raises(DocumentError) as caught:
        parse(data, filename, **kwargs)
    return caught.value


def test_limits_come_from_settings() -> None:
    settings = Settings(max_pages=7, max_characters=99, max_zip_uncompressed_bytes=5, max_zip_entries=3)
    assert ParseLimits.from_settings(settings) == ParseLimits(7, 99, 5, 3)


def test_zero_bytes_is_empty() -> None:
    error = error_of(b"", "nothing.pdf")
    assert error.code == ErrorCode.EMPTY
    assert error.message == "The file is empty (0 bytes); upload a file with content."


@pytest.mark.parametrize("filename", ["blank.txt", "blank.md", "blank.csv", "blank.html", "blank"])
def test_whitespace_only_is_empty(filename: str) -> None:
    error = error_of(b" \n\t\r\n   \n", filename)
    assert error.code == ErrorCode.EMPTY
    assert "contains no text" in error.message


@pytest.mark.timeout(30)
def test_ten_megabyte_single_line_parses() -> None:
    data = b"lorem ipsum " * 900_000  # 10.8 MB, no newline
    document = parse(data, "one-line.txt", limits=ParseLimits(max_characters=20_000_000))
    assert len(document.text) == len(data)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("filename", ["one-line.md", "one-line.html", "one-line.csv", "one-line.xml"])
def test_ten_megabyte_single_line_in_markup_formats(filename: str) -> None:
    body = b"lorem ipsum " * 900_000
    data = b"<p>" + body + b"</p>" if filename.endswith((".html", ".xml")) else body
    document = parse(data, filename, limits=ParseLimits(max_characters=30_000_000))
    assert "lorem ipsum lorem ipsum" in document.text


@pytest.mark.timeout(30)
def test_text_over_the_character_limit_is_too_large() -> None:
    error = error_of(b"lorem ipsum " * 900_000, "one-line.txt")
    assert error.code == ErrorCode.TOO_LARGE
    assert "5,000,000" in error.message


def test_character_limit_applies_to_every_format() -> None:
    limits = ParseLimits(max_characters=50)
    pdf = make_pdf(["word " * 30])
    for data, filename in [
        (pdf, "a.pdf"),
        (b"a," * 100, "a.csv"),
        (b'{"k": "' + b"v" * 100 + b'"}', "a.json"),
    ]:
        assert error_of(data, filename, limits=limits).code == ErrorCode.TOO_LARGE


def _library_raises(monkeypatch: pytest.MonkeyPatch, exception: BaseException) -> None:
    import chalicelib.parsing as parsing

    def explode(data: bytes, limits: ParseLimits) -> None:
        raise exception

    monkeypatch.setitem(parsing._BINARY_PARSERS, ct.PDF, explode)


@pytest.mark.parametrize(
    "exception, code",
    [
        (TypeError("'NoneType' object is not subscriptable"), ErrorCode.CORRUPT),
        (KeyError("/Root"), ErrorCode.CORRUPT),
        (RecursionError("maximum recursion depth exceeded"), ErrorCode.CORRUPT),
        (MemoryError(), ErrorCode.TOO_COMPLEX),
    ],
)
def test_any_library_failure_becomes_a_document_error(
    monkeypatch: pytest.MonkeyPatch, exception: BaseException, code: ErrorCode
) -> None:
    _library_raises(monkeypatch, exception)
    error = error_of(make_pdf(["x"]), "a.pdf")
    assert error.code == code
    assert error.message.endswith(".")


SOURCES = {
    "a.pdf": make_pdf(["Alpha bravo charlie.", "Delta echo foxtrot."]),
    "a.docx": make_docx(["Alpha bravo charlie."], table=[["a", "b"], ["c", "d"]]),
    "a.xlsx": make_xlsx({"Sheet": [["Name", "Count"], ["alpha", 1]]}, title="Book"),
    "a.pptx": make_pptx([(["Alpha", "Bravo"], "Notes here"), (["Charlie"], None)]),
    "a.odt": make_odt("<text:h>Head</text:h><text:p>Alpha<text:s text:c='2'/>bravo</text:p>"),
    "a.eml": b"From: a@example.com\nSubject: Alpha\nContent-Type: text/html\n\n<p>Bravo <b>charlie</b></p>\n",
    "a.html": b"<html><head><title>Alpha</title></head><body><div><p>Bravo</p><table><tr><td>c</td></tr>",
    "a.json": b'{"alpha": [1, {"bravo": "charlie"}], "delta": null}',
}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("filename", sorted(SOURCES))
def test_truncations_of_a_real_document_never_escape(filename: str) -> None:
    source = SOURCES[filename]
    for cut in range(0, len(source), max(1, len(source) // 60)):
        try:
            document = parse(source[:cut], filename)
        except DocumentError as error:
            assert error.code in set(ErrorCode)
        else:
            assert "\x00" not in document.text
