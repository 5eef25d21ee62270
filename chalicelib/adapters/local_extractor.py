"""Structured facts about a document with no model service: deterministic, offline and cheap.

Libraries do the statistical parts (py3langid for the language, yake-rust for key phrases); the rest
is regular expressions and heuristics, each documented where it is defined. Every step reads a bounded
prefix of the text, so a 5M-character document costs about what a 50k-character one does.
"""

from __future__ import annotations

import csv
import functools
import math
import re
import time
from typing import Any

import yake_rust
from py3langid.langid import MODEL_FILE, LanguageIdentifier

from chalicelib.adapters.local_entities import find_entities
from chalicelib.extraction import Extraction
from chalicelib.model import ExtractionResult
from chalicelib.ports import Extractor

SAMPLE_CHARS = 50_000  # what every step reads at most
KEYWORD_CHARS = 20_000  # YAKE's cost grows with the text: 35 ms for 20k characters of SciFact abstracts
LANGUAGE_CHARS = 10_000  # plenty for a language guess
MIN_LANGUAGE_LETTERS = 20  # below this py3langid guesses at random ("Hello" comes out Breton)
MIN_LANGUAGE_CONFIDENCE = 0.5
MAX_KEYWORDS = 10
MAX_KEYWORD_CHARS = 80
MAX_TITLE_CHARS = 200
SUMMARY_SENTENCES = 3
MAX_SUMMARY_CHARS = 500
MAX_FORM_SUMMARY_CHARS = 250  # a form's later lines are its table rows: noise in a summary
SHORT_LINE_CHARS = 50  # shorter lines are headings, fields or list items, not wrapped prose

# Text where more than this share of characters are control or replacement characters is binary that
# was decoded as text: its "words" are noise, so no language, title, summary or key phrases.
MAX_CONTROL_SHARE = 0.05

# Lone surrogates count as replacement characters: they are what is left of bytes that did not decode
# (or of a "\ud800" escape in JSON), and no UTF-8 string, so none reaches yake-rust, holds one.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffd\ud800-\udfff]")
_WORD = re.compile(r"[^\W\d_]{2,}")
_NOT_LETTERS = re.compile(r"[^\w\s'’.,;:!?-]+|[\d_]+")
_COLUMN_GAP = re.compile(r"\t+|[ ]{3,}")  # how plain-text tables separate their cells
_LINE_HEADER = re.compile(r"^([A-Za-z][\w-]{0,30}):[ \t]*(.*)$", re.M)
_EMAIL_HEADERS = {"from", "to", "cc", "bcc", "subject", "date", "sent", "reply-to", "message-id"}


class LocalExtractor(Extractor):
    """Fills chalicelib.schemas.Extraction from the text alone.

    With `schema` (a user's JSON schema), the data holds only those top-level properties of that schema
    that this extractor fills itself under the same name (title, summary, language, document_type,
    entities, keywords), when the schema's declared "type" admits the value; for `entities`, only the
    entity kinds the schema lists. Every other property is left out: this extractor cannot invent
    fields, so a schema that requires others will not validate, and the caller records that.

    Never raises on content: a failure inside comes back as an ExtractionResult with `error` set.
    """

    name = "local-extractor"

    def extract(
        self,
        text: str,
        title_hint: str | None = None,
        content_type: str | None = None,
        schema: dict[str, Any] | None = None,
    ) -> ExtractionResult:
        started = time.perf_counter()
        try:
            data = _extraction(text or "", title_hint, content_type).model_dump()
            if schema is not None:
                data = _fit_to_schema(data, schema)
        except Exception as error:  # an odd document must not fail ingestion: report it and go on
            return ExtractionResult(
                data={},
                model=self.name,
                latency_ms=_ms_since(started),
                error=f"local extraction failed: {type(error).__name__}: {error}",
            )
        return ExtractionResult(data=data, model=self.name, latency_ms=_ms_since(started))


def _extraction(text: str, title_hint: str | None, content_type: str | None) -> Extraction:
    sample, controls = _CONTROL.subn(" ", text[:SAMPLE_CHARS])
    if controls > MAX_CONTROL_SHARE * len(sample):
        return Extraction(entities=find_entities(sample))
    language = detect_language(sample)
    document_type = classify_document(sample, content_type)
    keywords = extract_keywords(_keyword_source(sample, document_type), language)
    return Extraction(
        title=find_title(sample, title_hint, document_type),
        summary=summarize(sample, keywords, document_type),
        language=language,
        document_type=document_type,
        entities=find_entities(sample),
        keywords=keywords,
    )


# --- language and keywords -------------------------------------------------------------------------


@functools.cache
def _language_identifier() -> LanguageIdentifier:
    # Our own instance, with probabilities normalised, so a confidence threshold means something
    # (py3langid's shared one returns raw log scores). Loading takes about a second: once per process.
    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def detect_language(text: str) -> str | None:
    """ISO 639-1 code of the main language, or None for too little text or an unsure guess."""
    # Digits and symbols say nothing about the language but dilute the evidence: an invoice's figures
    # pulled its English below the confidence threshold.
    window = _NOT_LETTERS.sub(" ", text[:LANGUAGE_CHARS])
    if sum(ch.isalpha() for ch in window) < MIN_LANGUAGE_LETTERS:
        return None
    code, confidence = _language_identifier().classify(window)
    # py3langid also knows languages with only three-letter codes; those have no ISO 639-1 answer.
    if confidence < MIN_LANGUAGE_CONFIDENCE or len(code) != 2:
        return None
    return code


def extract_keywords(text: str, language: str | None) -> list[str]:
    """The top key phrases by YAKE, best first, using that language's stop words when YAKE has them."""
    window = _mark_layout_breaks(text[:KEYWORD_CHARS])
    if not _WORD.search(window):
        return []
    try:
        scored = _keyword_extractor(language or "en").get_n_best(window, n=MAX_KEYWORDS)
    except BaseException as error:
        # A panic inside the Rust code surfaces as pyo3's PanicException, which derives from
        # BaseException (and cannot be imported by name): a fault of the library, not of the document,
        # so it becomes an ordinary error, which the extractor reports and ingestion goes on from.
        if not isinstance(error, Exception) and type(error).__name__ != "PanicException":
            raise
        raise RuntimeError(f"keyword extraction failed: {error}") from error
    # A run of 10,000 letters is one "word" to YAKE; no key phrase is that long.
    return [phrase for phrase, _ in scored if len(phrase) <= MAX_KEYWORD_CHARS]


# yake-rust, the Rust port of the reference YAKE (LIAAD's yake), on purpose: on 300 SciFact abstracts it
# took 2.0 ms a document against the reference's 13.4, gave the same ten phrases for 265 of them and
# 98.7% the same phrases overall, and it releases the interpreter lock, which the local stack's API,
# pollers and worker share. The reference kept the worker's threads waiting on that lock (docs/BENCHMARKS.md,
# section 2).
# Its stop word lists are the reference's (English word for word), under its file names: Czech is "cz".
# fmt: off
_YAKE_LANGUAGES = frozenset({
    "ar", "bg", "br", "cz", "da", "de", "el", "en", "es", "et", "fa", "fi", "fr", "hi", "hr", "hu", "hy",
    "id", "it", "ja", "lt", "lv", "nl", "no", "pl", "pt", "ro", "ru", "sk", "sl", "sv", "tr", "uk", "zh",
})
# fmt: on
_YAKE_LANGUAGE_ALIASES = {"cs": "cz"}


@functools.cache
def _keyword_extractor(language: str) -> yake_rust.Yake:
    """One extractor per language, for the whole process (its stop word set is built once); for a
    language YAKE has no list for, none, as the reference does (its "noLang" list is empty)."""
    code = _YAKE_LANGUAGE_ALIASES.get(language, language)
    if code in _YAKE_LANGUAGES:
        return yake_rust.Yake(language=code, ngrams=3)
    return yake_rust.Yake(stopwords=set(), ngrams=3)


def _mark_layout_breaks(text: str) -> str:
    """End paragraphs, short lines (headings, form fields, list items) and table cells with a full stop,
    so yake does not read a title's "adult mice" and the next line's "Abstract" as one phrase. Other
    lines are left open: hard-wrapped prose goes on at the next line."""
    lines = [_COLUMN_GAP.sub(". ", line.strip()) for line in text.splitlines()]
    for i, line in enumerate(lines):
        ends_paragraph = i + 1 == len(lines) or not lines[i + 1]
        if line and line[-1] not in ".!?;:," and (ends_paragraph or len(line) < SHORT_LINE_CHARS):
            lines[i] = line + "."
    return "\n".join(lines)


# --- document type -------------------------------------------------------------------------------

_TABLE_TYPES = ("csv", "tab-separated-values", "spreadsheet", "ms-excel")
_EMAIL_TYPES = ("message/rfc822", "application/vnd.ms-outlook")
_CODE_TYPES = ("x-python", "javascript", "typescript", "x-java", "x-c", "x-sh", "x-go", "x-rust", "x-ruby")
# A line is code-like when it starts with a keyword that opens a definition or import in a common
# language, or ends with a brace or semicolon.
_CODE_LINE = re.compile(
    r"^\s*(?:def |class |import |from \S+ import |function |const |let |var |return\b|#include|package |"
    r"public |private |fn |func |if \(|for \(|@\w+)|[{};]\s*$"
)
_INVOICE_CUES = re.compile(
    r"\b(?:invoice (?:no|number|#|date)|bill to|amount due|total due|balance due|payment terms|due date|"
    r"subtotal|vat|tax)\b",
    re.I,
)
_ARTICLE_CUES = re.compile(
    r"^\s*(?:abstract|introduction|references|keywords)\b|\bdoi:|\bet al\.", re.I | re.M
)


def classify_document(text: str, content_type: str | None) -> str:
    """email, table, code, invoice, article, letter or other, from the declared type and the text."""
    declared = (content_type or "").split(";")[0].strip().lower()
    head = text[:5000]
    if declared in _EMAIL_TYPES or len(_email_headers(head)) >= 2:
        return "email"
    if any(kind in declared for kind in _TABLE_TYPES) or _looks_tabular(head):
        return "table"
    if any(kind in declared for kind in _CODE_TYPES) or _looks_like_code(head):
        return "code"
    if re.search(r"\binvoice\b", head, re.I) and len(set(_INVOICE_CUES.findall(head.lower()))) >= 2:
        return "invoice"
    if re.search(r"^\s*abstract\b", head, re.I | re.M) or len(set(_ARTICLE_CUES.findall(text.lower()))) >= 2:
        return "article"
    if re.match(r"\s*(?:dear|to whom it may concern)\b", head, re.I) and re.search(
        r"\b(?:sincerely|yours faithfully|yours truly|kind regards|best regards)\b", text[-3000:], re.I
    ):
        return "letter"
    return "other"


def _email_headers(head: str) -> dict[str, str]:
    """Header lines (name: value) at the top of the text, up to the first blank line."""
    block = re.split(r"\n\s*\n", head.lstrip(), maxsplit=1)[0]
    return {
        m.group(1).lower(): m.group(2).strip()
        for m in _LINE_HEADER.finditer(block)
        if m.group(1).lower() in _EMAIL_HEADERS
    }


def _looks_tabular(head: str) -> bool:
    """At least three lines that the csv module's sniffer splits into the same number (2+) of fields."""
    lines = [line for line in head.splitlines()[:20] if line.strip()]
    if len(lines) < 3:
        return False
    try:
        dialect = csv.Sniffer().sniff("\n".join(lines), delimiters=",;\t|")
    except csv.Error:
        return False
    widths = {len(row) for row in csv.reader(lines, dialect)}
    return len(widths) == 1 and widths.pop() >= 2


def _looks_like_code(head: str) -> bool:
    lines = [line for line in head.splitlines()[:200] if line.strip()]
    return len(lines) >= 3 and sum(bool(_CODE_LINE.search(line)) for line in lines) >= 0.3 * len(lines)


# --- title and summary -----------------------------------------------------------------------------

_MARKDOWN_HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+(.+?)[ \t#]*$", re.M)
# Sentence ends: . ! ? … followed by space, unless the full stop ends a common abbreviation (fixed-width
# look-behinds, one per abbreviation, because Python's look-behind cannot vary in width).
_SENTENCE_END = re.compile(
    r"(?<=[.!?…])(?<!\bDr\.)(?<!\bMr\.)(?<!\bMs\.)(?<!\bMrs\.)(?<!\bProf\.)(?<!\bSt\.)(?<!\bvs\.)"
    r"(?<!\be\.g\.)(?<!\bi\.e\.)(?<!\bal\.)(?<!\bNo\.)(?<!\bInc\.)(?<!\bFig\.)\s+"
)


def find_title(text: str, title_hint: str | None, document_type: str) -> str | None:
    """The hint; else an email's subject; else the first markdown heading; else a short first line."""
    if title_hint and title_hint.strip():
        return _clip(" ".join(title_hint.split()), MAX_TITLE_CHARS)
    if document_type == "email" and (subject := _email_headers(text[:5000]).get("subject")):
        return _clip(subject, MAX_TITLE_CHARS)
    if heading := _MARKDOWN_HEADING.search(text[:5000]):
        return _clip(heading.group(1).strip(), MAX_TITLE_CHARS)
    if document_type in ("table", "code", "email"):
        return None  # a header row or an import line is no title
    first_line = next((line.strip() for line in text[:5000].splitlines() if line.strip()), "")
    # Short and not ending like a sentence: a title line rather than the start of prose.
    if (
        first_line
        and len(first_line) <= 120
        and len(first_line.split()) <= 15
        and first_line[-1] not in ".,;:"
    ):
        return first_line
    return None


def summarize(text: str, keywords: list[str], document_type: str) -> str:
    """Up to three sentences, in document order, chosen by how many key-phrase words they hold with a
    bonus for coming early (lead sentences tend to say what a document is about)."""
    if document_type == "table":
        return _describe_table(text)
    body = _body(text, document_type)
    sentences = _candidate_sentences(body)
    if document_type == "invoice" or not sentences:
        # A form's opening fields (number, date, parties) say more than its few sentences.
        return _lead_lines(body)
    terms = {word for phrase in keywords for word in _WORD.findall(phrase.lower())}

    def score(position: int) -> float:
        words = set(_WORD.findall(sentences[position].lower()))
        return len(words & terms) / math.log2(len(words) + 2) + 1.0 / (position + 1)

    best = sorted(range(len(sentences)), key=lambda i: (-score(i), i))[:SUMMARY_SENTENCES]
    return _clip(" ".join(sentences[i] for i in sorted(best)), MAX_SUMMARY_CHARS)


def _keyword_source(text: str, document_type: str) -> str:
    """What key phrases come from: an email's subject and body, not its Date/To/From lines."""
    if document_type != "email":
        return text
    subject = _email_headers(text[:5000]).get("subject", "")
    return f"{subject}\n\n{_body(text, document_type)}"


def _body(text: str, document_type: str) -> str:
    """The text without an email's header block and without markdown heading lines."""
    if document_type == "email":
        parts = re.split(r"\n\s*\n", text.lstrip(), maxsplit=1)
        text = parts[1] if len(parts) == 2 else ""
    return _MARKDOWN_HEADING.sub("", text)


def _candidate_sentences(body: str) -> list[str]:
    """Sentences of 4 to 80 words ending in . ! ? or … (so not headings or table rows) from the first
    100, paragraphs kept apart; greetings and sign-offs are too short to qualify."""
    sentences: list[str] = []
    for paragraph in re.split(r"\n\s*\n", body):
        for sentence in _SENTENCE_END.split(" ".join(paragraph.split())):
            if 4 <= len(sentence.split()) <= 80 and sentence.rstrip("\"'”’)]")[-1:] in (".", "!", "?", "…"):
                sentences.append(sentence)
            if len(sentences) == 100:
                return sentences
    return sentences


def _lead_lines(text: str) -> str:
    lines = [" ".join(line.split()) for line in text[:5000].splitlines() if line.strip()]
    joined = "".join(line + (" " if line.endswith(":") else "; ") for line in lines)
    return _clip(joined.rstrip("; "), MAX_FORM_SUMMARY_CHARS)


def _describe_table(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return ""
    try:
        dialect: Any = csv.Sniffer().sniff("\n".join(lines[:20]), delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    header = [cell.strip() for cell in next(csv.reader([lines[0]], dialect)) if cell.strip()]
    columns = ", ".join(header[:10]) + (", …" if len(header) > 10 else "")
    rows = f"{len(lines) - 1}{'+' if len(text) >= SAMPLE_CHARS else ''}"
    return _clip(f"A table of {rows} rows with columns: {columns}.", MAX_SUMMARY_CHARS)


def _clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0] or text[: limit - 1]
    return cut.rstrip(" ,;:") + "…"


_JSON_TYPE = {type(None): "null", str: "string", list: "array", dict: "object"}


def _fit_to_schema(data: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """The properties of `schema` this extractor fills, with values its declared types admit."""
    fitted: dict[str, Any] = {}
    properties = schema.get("properties")
    if not isinstance(properties, dict):
        return fitted
    for name, spec in properties.items():
        if name not in data:
            continue
        value = data[name]
        spec = spec if isinstance(spec, dict) else {}
        if name == "entities" and isinstance(spec.get("properties"), dict):
            value = {kind: found for kind, found in value.items() if kind in spec["properties"]}
        declared = spec.get("type")
        declared = [declared] if isinstance(declared, str) else declared
        if declared is None or _JSON_TYPE[type(value)] in declared:
            fitted[name] = value
    return fitted


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)
