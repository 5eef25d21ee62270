"""The local stage's answerer: no language model runs offline, so the answer is extractive. It is
the sentences of the retrieved chunks that best match the question (by shared English word stems,
weighted by how rare each stem is among the passages), in their ranking order, each citing its chunk.
With no sentence sharing a content word with the question, the documents do not hold the answer.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Sequence
from functools import lru_cache

from chalicelib.model import AnswerDraft, Hit
from chalicelib.ports import Answerer

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
# Sentence ends: . ! ? followed by space and an upper-case letter or digit, or a line break.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])|\n{2,}")
# Function words carry no evidence (a short list: the full ones ship with local-only packages).
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
        "can",
        "could",
        "did",
        "do",
        "does",
        "for",
        "from",
        "had",
        "has",
        "have",
        "how",
        "i",
        "in",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "that",
        "the",
        "their",
        "there",
        "these",
        "this",
        "those",
        "to",
        "was",
        "were",
        "what",
        "when",
        "where",
        "which",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
    ]
)
MAX_SENTENCES = 3
MAX_SENTENCE_CHARS = 600


@lru_cache(maxsize=1)
def _stemmer():
    import snowballstemmer

    return snowballstemmer.stemmer("english")


def stems(text: str) -> set[str]:
    words = [w for w in (m.lower() for m in _WORD.findall(text)) if w not in _STOP]
    return set(_stemmer().stemWords(words))


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if s and s.strip()]


class ExtractiveAnswerer(Answerer):
    model_id = "quarry/extractive"

    def answer(self, question: str, passages: Sequence[Hit]) -> AnswerDraft:
        started = time.perf_counter()
        asked = stems(question)
        candidates = [
            (rank, position, hit, sentence, stems(sentence))
            for rank, hit in enumerate(passages)
            for position, sentence in enumerate(sentences(hit.text))
        ]
        # A stem found in few sentences says more than one found in all of them.
        frequency: dict[str, int] = {}
        for *_, found in candidates:
            for stem in found & asked:
                frequency[stem] = frequency.get(stem, 0) + 1
        total = max(len(candidates), 1)

        def weight(found: set[str]) -> float:
            return sum(math.log(1 + total / frequency[stem]) for stem in found & asked)

        scored = [
            (weight(found), rank, position, hit, sentence)
            for rank, position, hit, sentence, found in candidates
        ]
        best = sorted((c for c in scored if c[0] > 0), key=lambda c: (-c[0], c[1], c[2]))[:MAX_SENTENCES]
        # Read in the order the chunks ranked, and within a chunk, in the text's order.
        best.sort(key=lambda c: (c[1], c[2]))
        latency = round((time.perf_counter() - started) * 1000, 2)
        if not best:
            return AnswerDraft("", (), found=False, model=self.model_id, latency_ms=latency)
        text = " ".join(sentence[:MAX_SENTENCE_CHARS] for *_, sentence in best)
        cited = tuple(dict.fromkeys(hit.chunk_id for *_, hit, _ in best))
        return AnswerDraft(text, cited, found=True, model=self.model_id, latency_ms=latency)
