"""Bytes to clean text: which encoding, whether it is text at all, and the tidying every format needs.

Order of evidence: a byte-order mark; the NUL pattern of UTF-16/32 without a BOM; a charset the
uploader declared; strict UTF-8; a charset the markup itself declares; then charset-normalizer's guess.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterable

import charset_normalizer

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_SAMPLE_BYTES = 8192
# Real text has almost no C0 control characters; compressed or random bytes have about 10%. NUL is
# left out of the count: text files padded or sprinkled with NULs are still text (NULs are stripped).
_MAX_CONTROL_SHARE = 0.05
_CONTROL_BYTES = bytes([*range(0x01, 0x09), *range(0x0E, 0x20), 0x7F])
_TELLTALE_CONTROLS = re.compile("[\x01-\x08\x0e-\x1f\x7f]")
_CONTROL_CHARS = re.compile("[\x00-\x08\x0e-\x1f\x7f]")
_LINE_BREAKS = re.compile("\r\n?|[\x0b\x0c\x85\u2028\u2029]")
_SURROGATES = re.compile("[\ud800-\udfff]")
_MARKUP_CHARSET = re.compile(
    rb"""<meta[^>]{0,200}?charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]{1,40})"""
    rb"""|<\?xml[^>]{0,200}?encoding\s*=\s*["']([A-Za-z0-9_.:-]{1,40})""",
    re.IGNORECASE,
)
_HIGH_BYTES = bytes(range(0x80, 0x100))
_FEW_NON_ASCII = 100
_NON_ASCII_RUNS = re.compile(r"[^\x00-\x7f]+")
_TYPOGRAPHY = frozenset("€–—‘’‚“”„•…«»‹›°£¥§©®™·¡¿×÷±¶")
# Labels that mean windows-1252 in practice (the WHATWG encoding standard maps them so too).
_WINDOWS_1252_LABELS = frozenset({"iso-8859-1", "iso8859-1", "latin1", "latin-1", "l1", "ascii", "us-ascii"})


def decode_text(data: bytes, declared_charset: str | None = None) -> str | None:
    """The text in `data`, cleaned (see clean_text); None when the bytes are binary, not text."""
    text = _decode(data, declared_charset)
    if text is None or _control_share(text[:_SAMPLE_BYTES]) > _MAX_CONTROL_SHARE:
        return None
    return clean_text(text)


def clean_text(text: str) -> str:
    """Newlines as \\n, no NULs or other control characters, no lone surrogates (they cannot be stored)."""
    text = _LINE_BREAKS.sub("\n", text)
    text = _CONTROL_CHARS.sub("", text)
    return _SURROGATES.sub("\ufffd", text)


def has_bom(data: bytes) -> bool:
    return data.startswith(tuple(bom for bom, _ in _BOMS))


def wide_encoding(data: bytes) -> str | None:
    """utf-16/32 with or without a BOM, told by the BOM or by where the NUL bytes sit."""
    for bom, encoding in _BOMS:
        if data.startswith(bom) and encoding != "utf-8":
            return encoding
    return _bomless_wide_encoding(data[:_SAMPLE_BYTES])


def _decode(data: bytes, declared_charset: str | None) -> str | None:
    with_bom = [(bom, encoding) for bom, encoding in _BOMS if data.startswith(bom)]
    for bom, encoding in with_bom:
        text = _strict(data[len(bom) :], encoding)
        if text is not None:
            return text
    if with_bom:
        # FF FE 00 00 is a UTF-32 BOM or a UTF-16 BOM and a NUL: the last (UTF-16) is the likelier.
        bom, encoding = with_bom[-1]
        return data[len(bom) :].decode(encoding, "replace")

    wide = _bomless_wide_encoding(data[:_SAMPLE_BYTES])
    if wide is not None:
        text = _strict(_whole_units(data, wide), wide)
        if text is not None:
            return text
    text = _first_strict(data, _charset_candidates([declared_charset]))
    if text is not None:
        return text
    if _control_share_bytes(data[:_SAMPLE_BYTES]) > _MAX_CONTROL_SHARE:
        return None
    text = _strict(data, "utf-8")
    if text is not None:
        return text
    text = _first_strict(data, _charset_candidates(_markup_charsets(data[:4096]), narrow_only=True))
    if text is not None:
        return text
    return _mostly_utf8(data) or _guess(data)


def _mostly_utf8(data: bytes) -> str | None:
    """UTF-8 with a few bad bytes stays UTF-8: re-guessing would garble every good multi-byte character."""
    text = data.decode("utf-8", "replace")
    errors = text.count("\ufffd") - data.count("\ufffd".encode())
    multibyte_savings = len(data) - len(text)
    return text if 0 < errors * 2 <= multibyte_savings else None


def _guess(data: bytes) -> str:
    western = _plausible_windows_1252(data)
    if western is not None:
        return western
    matches = charset_normalizer.from_bytes(data)
    best = matches.best()
    if best is None:
        return data.decode("utf-8", "replace")
    encoding = best.encoding
    # charset-normalizer breaks ties between Western and Central European code pages toward cp1250,
    # which turns French and Spanish è, à, û into č, ŕ, ű. Western text is far more common here,
    # and browsers fall back to windows-1252 too, so prefer it whenever it reads as well.
    if encoding != "cp1252" and any(
        match.chaos <= best.chaos and "cp1252" in (match.encoding, *match.could_be_from_charset)
        for match in matches
    ):
        text = _strict(data, "cp1252")
        if text is not None:
            return text
    return data.decode(encoding, "replace")


def _plausible_windows_1252(data: bytes) -> str | None:
    """windows-1252 for a little Western text: accented letters and typographic marks, one or two at
    a time between ASCII letters. With so few non-ASCII bytes charset-normalizer has too little to go
    on and will read "brûlée" as Chinese; Cyrillic, Greek or Hebrew in any 8-bit code page make runs
    of non-ASCII letters and fall through to it."""
    non_ascii = len(data) - len(data.translate(None, _HIGH_BYTES))
    if non_ascii > _FEW_NON_ASCII:
        return None
    text = _strict(data, "cp1252")
    if text is None:
        return None
    for run in _NON_ASCII_RUNS.findall(text):
        if len(run) > 2 or not all(char.isalpha() or char in _TYPOGRAPHY for char in run):
            return None
    return text


def _bomless_wide_encoding(sample: bytes) -> str | None:
    """UTF-16/32 text in a Latin script has a NUL in every high-order byte; other data rarely does."""
    length = len(sample) - len(sample) % 4
    if length < 4 or b"\x00" not in sample:
        return None
    sample = sample[:length]
    quarter = length // 4
    zeros = [sample[i::4].count(0) / quarter for i in range(4)]
    if zeros[3] == 1 and zeros[2] > 0.9 and zeros[0] < 0.5:
        return "utf-32-le"
    if zeros[0] == 1 and zeros[1] > 0.9 and zeros[3] < 0.5:
        return "utf-32-be"
    even = (zeros[0] + zeros[2]) / 2
    odd = (zeros[1] + zeros[3]) / 2
    if odd > 0.4 and even < 0.1:
        return "utf-16-le"
    if even > 0.4 and odd < 0.1:
        return "utf-16-be"
    return None


def _whole_units(data: bytes, encoding: str) -> bytes:
    """Drop a trailing partial code unit (a truncated upload) so a strict decode judges the rest."""
    unit = 4 if "32" in encoding else 2
    return data[: len(data) - len(data) % unit]


def _markup_charsets(head: bytes) -> list[str]:
    return [(m.group(1) or m.group(2)).decode("ascii") for m in _MARKUP_CHARSET.finditer(head)]


def _charset_candidates(labels: Iterable[str | None], narrow_only: bool = False) -> list[str]:
    candidates: list[str] = []
    for label in labels:
        if not label:
            continue
        label = label.strip().lower()
        if label in _WINDOWS_1252_LABELS:
            candidates.append("cp1252")
        try:
            name = codecs.lookup(label).name
        except LookupError:
            continue
        # Markup in an 8-bit file that claims UTF-16 is wrong: a real UTF-16 file was caught by its NULs.
        if narrow_only and ("16" in name or "32" in name):
            continue
        candidates.append(name)
    return candidates


def _first_strict(data: bytes, encodings: Iterable[str]) -> str | None:
    for encoding in encodings:
        text = _strict(data, encoding)
        if text is not None:
            return text
    return None


def _strict(data: bytes, encoding: str) -> str | None:
    try:
        return data.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        return None


def _control_share(sample: str) -> float:
    return len(_TELLTALE_CONTROLS.findall(sample)) / len(sample) if sample else 0.0


def _control_share_bytes(sample: bytes) -> float:
    if not sample:
        return 0.0
    return (len(sample) - len(sample.translate(None, _CONTROL_BYTES))) / len(sample)


_BLANK_RUNS = re.compile(r"\n{3,}")


def tidy_lines(text: str) -> str:
    """Strip each line and keep at most one blank line in a row: for text assembled from markup."""
    lines = "\n".join(line.strip() for line in text.split("\n"))
    return _BLANK_RUNS.sub("\n\n", lines).strip()
