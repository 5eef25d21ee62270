"""The real-world corpus (tests/fixtures/corpus, from Unstructured's example-docs): nothing in it makes
parse raise anything but DocumentError, and every file reaches the outcome EXPECTED.tsv names."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from chalicelib.model import DocumentError, ErrorCode
from chalicelib.parsed import ParsedDocument
from chalicelib.parsing import parse

CORPUS = Path(__file__).parent.parent / "fixtures" / "corpus"
EXPECTED_FILE = CORPUS / "EXPECTED.tsv"
# Files about the corpus rather than of it.
METADATA = {"EXPECTED.tsv", "PROVENANCE.md"}


def _expected_rows() -> list[tuple[str, str, str]]:
    with EXPECTED_FILE.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        return [(row["path"], row["outcome"], row["phrase"] or "") for row in reader]


EXPECTED = {path: (outcome, phrase) for path, outcome, phrase in _expected_rows()}
ALL_FILES = sorted(str(path.relative_to(CORPUS)) for path in CORPUS.rglob("*") if path.is_file())


@pytest.mark.timeout(60)
@pytest.mark.parametrize("relative_path", ALL_FILES)
def test_corpus_file_parses_or_raises_document_error_as_expected(relative_path: str) -> None:
    """Every file under the corpus: parse returns a document or raises DocumentError, nothing else
    (anything else fails the test), and the outcome and phrase are the ones EXPECTED.tsv names."""
    path = CORPUS / relative_path
    try:
        result: ParsedDocument | DocumentError = parse(path.read_bytes(), path.name)
    except DocumentError as error:
        result = error
    if isinstance(result, ParsedDocument):
        assert result.text.strip()
        assert "\x00" not in result.text and "\r" not in result.text
    if relative_path in METADATA:
        return
    expected, phrase = EXPECTED[relative_path]
    if expected == "parsed":
        assert isinstance(result, ParsedDocument), f"{relative_path}: {result}"
        assert phrase, "a parsed fixture needs a phrase to look for"
        assert phrase in " ".join(result.text.split())
    else:
        assert isinstance(result, DocumentError), f"{relative_path} parsed, expected {expected}"
        assert result.code.value == expected, result.message
        assert result.message.endswith(".")  # a sentence for a person, not a stack trace


def test_expected_tsv_covers_exactly_the_corpus() -> None:
    listed = [row[0] for row in _expected_rows()]
    assert len(listed) == len(set(listed)), "a file is listed twice"
    assert set(listed) == set(ALL_FILES) - METADATA
    assert {outcome for outcome, _ in EXPECTED.values()} <= {"parsed", *(code.value for code in ErrorCode)}


def test_corpus_stays_small() -> None:
    total = sum((CORPUS / name).stat().st_size for name in ALL_FILES)
    assert total <= 12 * 1024 * 1024
