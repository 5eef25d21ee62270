"""Highlights: where the query's words occur in a returned text, as character offsets a client can
mark up. A word matches when its English Snowball stem is a query word's stem, which is roughly what
both keyword engines index (FTS5's porter tokenizer, OpenSearch's english analyzer), so "seabirds"
lights up for the query "seabird".
"""

from __future__ import annotations

import re
from functools import lru_cache

# Words as both engines split them: runs of letters and digits.
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
# The commonest English function words: neither engine ranks by them, so marking them would only add
# noise. A short list written here because the full lists ship with local-only packages (yake-rust).
_STOP = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "for",
        "from",
        "has",
        "have",
        "in",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "that",
        "the",
        "this",
        "to",
        "was",
        "were",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "will",
        "with",
    ]
)
MAX_HIGHLIGHTS = 50


@lru_cache(maxsize=1)
def _stemmer():
    import snowballstemmer

    return snowballstemmer.stemmer("english")


@lru_cache(maxsize=4096)
def _stem(word: str) -> str:
    return _stemmer().stemWord(word)


def query_stems(query: str) -> frozenset[str]:
    return frozenset(_stem(w) for w in (m.lower() for m in _WORD.findall(query)) if w not in _STOP)


def highlights(text: str, stems: frozenset[str]) -> list[dict[str, int]]:
    """[{"start", "end"}] of the words of `text` whose stem is in `stems`, in order (at most
    MAX_HIGHLIGHTS); `text[start:end]` is the word."""
    found: list[dict[str, int]] = []
    if not stems:
        return found
    for match in _WORD.finditer(text):
        if _stem(match.group().lower()) in stems:
            found.append({"start": match.start(), "end": match.end()})
            if len(found) == MAX_HIGHLIGHTS:
                break
    return found
