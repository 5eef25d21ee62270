"""Splitting a parsed document into token-bounded, overlapping chunks for embedding.

semchunk cuts each page into small pieces at its most meaningful boundaries (blank lines, lines,
sentences, words, then characters); this module packs consecutive pieces into chunks that fill the token
budget, each chunk after the first repeating the trailing pieces of the one before that fit in the
overlap. It adds what the index needs around them: page numbers, character offsets into each page's
text, stable chunk ids, and a cap on how many chunks one document may produce. Runs in Lambda, so it
uses only semchunk and the standard library.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Callable, Iterator

import semchunk

from chalicelib.model import Chunk, DocumentError, ErrorCode
from chalicelib.parsed import ParsedDocument

TokenCounter = Callable[[str], int]

# Hand-written because the embedding model's tokenizer is not available everywhere this runs (Titan's is
# not published, and Lambda should not carry one). The pattern approximates WordPiece: each CJK/kana/hangul
# character is a piece, letter runs count one piece per 5 letters (long or rare words split into several
# pieces), digit runs one per 3 digits, and each punctuation mark or underscore is a piece. Measured
# against the all-MiniLM-L6-v2 WordPiece tokenizer on 1,000-character windows it counts 1.15x the real
# tokens on an English novel, 1.18x on scientific abstracts and 1.06x on Python source: a slight
# over-count, so chunks stay inside the model's limit. It under-counts mixed-case alphanumeric codes
# (about 0.75x on gene-marker CSV); where the real tokenizer is local, pass it as `count_tokens`.
_APPROXIMATE_PIECE = re.compile(
    r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]"
    r"|[^\W\d_]{1,5}"
    r"|\d{1,3}"
    r"|[^\w\s]|_"
)

# semchunk's own memoization keeps one unbounded cache per counter function in a module-level dict, so a
# warm Lambda would keep every text slice it ever counted. We memoize per call instead, with a bound: a
# quarter of the counts on a novel are repeats (nearly all of them on text with no separators), and the
# cache is freed when the call returns.
_COUNT_CACHE_SIZE = 8192

# A chunk is packed from pieces of at most a fifth of its budget (semchunk cuts them at the most meaningful
# boundary), so it ends within a piece of the budget. semchunk's own overlap instead joins a fixed number
# of such pieces whatever their size: on SciFact abstracts its 200-token chunks held ~115 tokens.
_PIECES_PER_CHUNK = 5


def approximate_token_count(text: str) -> int:
    """Word-piece tokens in `text`, approximated by a regular expression (see _APPROXIMATE_PIECE)."""
    return len(_APPROXIMATE_PIECE.findall(text))


def chunk_id_for(document_id: str, version: str, ordinal: int) -> str:
    """Stable id of a chunk: the same document, version and position always give the same id, and a new
    version gives new ids, so an index can hold the old and new versions side by side while it swaps."""
    # NUL cannot occur in a document id or an integer, so the fields cannot run into each other.
    digest = hashlib.sha256(f"{document_id}\x00{version}\x00{ordinal}".encode()).hexdigest()
    return digest[:32]


def chunk_document(
    document_id: str,
    version: str,
    parsed: ParsedDocument,
    *,
    chunk_tokens: int,
    overlap_tokens: int,
    max_chunks: int,
    count_tokens: TokenCounter = approximate_token_count,
) -> list[Chunk]:
    """Chunks of at most `chunk_tokens` tokens (as `count_tokens` counts them), consecutive chunks of a
    page sharing at most `overlap_tokens` tokens (whole pieces, so often fewer). A chunk never spans two
    pages; its start and end are offsets into its page's text, and its text is exactly that slice, with
    no leading or trailing whitespace. Ordinals run 0..n-1 across the document. Raises
    DocumentError(TOO_LARGE) past `max_chunks` chunks, as soon as that is known."""
    if chunk_tokens < 1:
        raise ValueError("chunk_tokens must be at least 1")
    if not 0 <= overlap_tokens < chunk_tokens:
        raise ValueError("overlap_tokens must be at least 0 and less than chunk_tokens")
    counter = functools.lru_cache(maxsize=_COUNT_CACHE_SIZE)(count_tokens)
    piece_tokens = max(1, min(chunk_tokens // _PIECES_PER_CHUNK, overlap_tokens or chunk_tokens))
    piece_chunker = semchunk.chunkerify(counter, piece_tokens, memoize=False)
    chunks: list[Chunk] = []
    for page in parsed.pages:
        for start, end in _page_spans(page.text, piece_chunker, counter, chunk_tokens, overlap_tokens):
            if len(chunks) == max_chunks:
                raise DocumentError(
                    ErrorCode.TOO_LARGE,
                    f"the document splits into more than {max_chunks} chunks of {chunk_tokens} tokens, "
                    f"the limit per document; split it into smaller files (or raise QUARRY_MAX_CHUNKS)",
                )
            ordinal = len(chunks)
            chunks.append(
                Chunk(
                    chunk_id=chunk_id_for(document_id, version, ordinal),
                    document_id=document_id,
                    ordinal=ordinal,
                    text=page.text[start:end],
                    page=page.number,
                    start=start,
                    end=end,
                )
            )
    return chunks


def _page_spans(
    text: str,
    piece_chunker: semchunk.Chunker,
    count_tokens: TokenCounter,
    chunk_tokens: int,
    overlap_tokens: int,
) -> Iterator[tuple[int, int]]:
    """(start, end) of each chunk of one page's text, stripped of surrounding whitespace, in order."""
    pieces = list(_pieces(text, piece_chunker, count_tokens, chunk_tokens))
    counts = [count_tokens(text[start:end]) for start, end in pieces]

    def span_tokens(first: int, last: int) -> int:
        return count_tokens(text[pieces[first][0] : pieces[last][1]])

    # Grown by the pieces' own counts, so a chunk costs one count of its text rather than one per
    # piece; then checked as one span, since a counter need not be additive over the joins.
    first = 0
    while first < len(pieces):
        last, total = first, counts[first]
        while last + 1 < len(pieces) and total + counts[last + 1] <= chunk_tokens:
            last += 1
            total += counts[last]
        while last > first and span_tokens(first, last) > chunk_tokens:
            last -= 1
        yield pieces[first][0], pieces[last][1]
        if last + 1 == len(pieces):
            return
        # The next chunk repeats the trailing pieces that fit in the overlap, and starts past `first`.
        following, shared = last + 1, 0
        while following - 1 > first and shared + counts[following - 1] <= overlap_tokens:
            following -= 1
            shared += counts[following]
        while following <= last and span_tokens(following, last) > overlap_tokens:
            following += 1
        first = following


def _pieces(
    text: str, piece_chunker: semchunk.Chunker, count_tokens: TokenCounter, chunk_tokens: int
) -> Iterator[tuple[int, int]]:
    """The page cut at its most meaningful boundaries into pieces of at most a fifth of a chunk, stripped."""
    if not text or text.isspace():
        return
    _, offsets = piece_chunker(text, offsets=True)
    for start, end in offsets:
        yield from _fitting(text, *_strip(text, start, end), count_tokens, chunk_tokens)


def _fitting(
    text: str, start: int, end: int, count_tokens: TokenCounter, chunk_tokens: int
) -> Iterator[tuple[int, int]]:
    """[start, end) as it is, or halved until each part fits: semchunk sized the piece as it joined its
    splits, and a counter that is not additive (one that counts whitespace) can count the page's own
    slice higher. Never needed by the approximation or MiniLM's tokenizer on a novel."""
    if start == end:
        return
    if end - start == 1 or count_tokens(text[start:end]) <= chunk_tokens:
        yield start, end
        return
    middle = (start + end) // 2
    yield from _fitting(text, *_strip(text, start, middle), count_tokens, chunk_tokens)
    yield from _fitting(text, *_strip(text, middle, end), count_tokens, chunk_tokens)


def _strip(text: str, start: int, end: int) -> tuple[int, int]:
    """Narrow [start, end) past leading and trailing whitespace (the same characters str.strip removes)."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end
