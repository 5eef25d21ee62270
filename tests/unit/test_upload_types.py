"""Which file names /uploads refuses before any bytes are sent."""

from __future__ import annotations

import pytest

from chalicelib.parsing.content_types import SUPPORTED_SUMMARY, upload_refusal


@pytest.mark.parametrize(
    ("filename", "declared"),
    [
        ("report.pdf", None),
        ("Report.PDF", None),
        ("notes.md", None),
        ("table.csv", None),
        ("deck.pptx", None),
        ("README", None),  # no extension: decided by its bytes
        ("script.py", None),  # a text type: read as plain text
        ("config.yaml", None),  # unknown to mimetypes: decided by its bytes
        ("query.sql", None),
        ("data.bin", "text/plain"),  # the client says it is text
        ("export.weird", "application/pdf"),
        ("transform.xsl", None),  # application/xslt+xml: XML underneath
        ("feed.rss", None),
        ("diagram.svg", None),
    ],
)
def test_parseable_names_are_accepted(filename: str, declared: str | None) -> None:
    assert upload_refusal(filename, declared) is None


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("song.wav", ".wav files"),
        ("photo.png", ".png files"),
        ("movie.mp4", ".mp4 files"),
        ("old.doc", "save it as .docx"),
        ("bundle.zip", "upload the files inside it"),
        ("sheet.xls", "save it as .xlsx"),
        ("program.exe", ".exe files"),
    ],
)
def test_unparseable_names_are_refused_with_advice_and_the_supported_list(
    filename: str, expected: str
) -> None:
    reason = upload_refusal(filename)
    assert reason is not None and expected in reason
    assert SUPPORTED_SUMMARY in reason
