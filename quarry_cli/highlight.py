"""Which words of a result match the query, and the part of its text worth showing.

The API returns each hit's whole chunk; neither backend's highlighter is exposed, and the hybrid and
vector modes have none, so the client marks the query's words itself: a word of the text matches a
query word it starts with (so "auditor" marks "auditors"), ignoring case and the commonest words. The
web page (web/app.js) applies the same rule.
"""

from __future__ import annotations

import re

_COMMON = (
    "a an and are as at be by did do does for from had has have how in is it its of on or that the this to"
)
STOPWORDS = frozenset(f"{_COMMON} was were what when where which who why will with".split(" "))
WORD = re.compile(r"\w+", re.UNICODE)


def query_terms(query: str) -> list[str]:
    seen: list[str] = []
    for word in WORD.findall(query.lower()):
        if len(word) > 1 and word not in STOPWORDS and word not in seen:
            seen.append(word)
    return seen


def match_pattern(terms: list[str]) -> re.Pattern[str] | None:
    if not terms:
        return None
    alternatives = "|".join(re.escape(t) for t in sorted(terms, key=len, reverse=True))
    return re.compile(rf"\b(?:{alternatives})\w*", re.IGNORECASE | re.UNICODE)


def snippet(text: str, terms: list[str], width: int = 220) -> str:
    """About `width` characters of `text` on one line, starting shortly before the first matched word."""
    flat = " ".join(text.split())
    pattern = match_pattern(terms)
    first = pattern.search(flat) if pattern else None
    start = max(0, first.start() - width // 4) if first else 0
    if start:
        space = flat.find(" ", start)
        start = space + 1 if 0 <= space < first.start() else start
    end = min(len(flat), start + width)
    return ("…" if start else "") + flat[start:end] + ("…" if end < len(flat) else "")
