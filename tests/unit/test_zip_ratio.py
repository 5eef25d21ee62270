"""The zip guard's ratio limit: real office files pass it, part bombs in each format do not."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from chalicelib.model import DocumentError, ErrorCode
from chalicelib.parsing import ParseLimits, parse
from chalicelib.parsing.zipguard import open_checked
from tests import bombs

CORPUS = Path(__file__).parent.parent / "fixtures" / "corpus"
OFFICE = sorted(p for p in CORPUS.rglob("*") if p.suffix in {".docx", ".xlsx", ".pptx", ".odt"})


@pytest.mark.parametrize("path", OFFICE, ids=lambda p: p.name)
def test_every_real_office_file_is_well_inside_the_default_ratio(path: Path):
    data = path.read_bytes()
    if not zipfile.is_zipfile(path):  # password_protected.xlsx is an OLE container, not a zip
        return
    open_checked(data, "file", ParseLimits())
    # With a tenth of the floor the ratio alone decides, and still passes: a 4x margin at least.
    open_checked(data, "file", ParseLimits(zip_expansion_floor_bytes=400_000, max_zip_expansion_ratio=25))


@pytest.mark.parametrize("kind", bombs.KINDS)
def test_a_part_bomb_is_refused_by_the_ratio(kind: str):
    with pytest.raises(DocumentError) as caught:
        parse(bombs.ratio_bomb(kind), f"bomb.{kind}")
    error = caught.value
    assert error.code == ErrorCode.TOO_COMPLEX
    assert "times its own size" in error.message and "Re-save it" in error.message


@pytest.mark.parametrize("kind", bombs.KINDS)
def test_the_floor_lets_a_small_highly_compressed_file_through(kind: str):
    small = bombs.inflated(kind, 200_000)  # compresses ~500x, unpacks to well under 4 MiB
    assert parse(small, f"small.{kind}").text
