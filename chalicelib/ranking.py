"""Reciprocal rank fusion: how hybrid search merges the vector and keyword rankings, on every backend.

Standard library only: it runs in Lambda next to the OpenSearch adapter as well as in the local stack.
RRF uses ranks, not scores, because cosine similarities and BM25 scores live on unrelated scales.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from chalicelib.model import Hit


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[Hit]],
    k: int = 60,
    limit: int = 10,
    weights: Sequence[float] | None = None,
) -> list[Hit]:
    """Fuse ranked lists: score(chunk) = sum over lists of weight / (k + rank), rank starting at 1.

    A chunk's text and metadata come from the first list that has it. Equal scores are ordered by
    chunk_id so the same inputs always give the same page of results. The returned hits carry the
    fused score.
    """
    if weights is None:
        weights = [1.0] * len(rankings)
    if len(weights) != len(rankings):
        raise ValueError(f"{len(weights)} weights for {len(rankings)} rankings")
    if k < 0:
        raise ValueError("k must not be negative")

    scores: dict[str, float] = {}
    first_seen: dict[str, Hit] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        seen_in_this_list: set[str] = set()
        for rank, hit in enumerate(ranking, start=1):
            # A backend should not return a chunk twice; if one does, only its best rank counts,
            # otherwise a duplicate would be rewarded as if two rankers agreed.
            if hit.chunk_id in seen_in_this_list:
                continue
            seen_in_this_list.add(hit.chunk_id)
            scores[hit.chunk_id] = scores.get(hit.chunk_id, 0.0) + weight / (k + rank)
            first_seen.setdefault(hit.chunk_id, hit)

    ordered = sorted(scores, key=lambda chunk_id: (-scores[chunk_id], chunk_id))
    return [dataclasses.replace(first_seen[c], score=scores[c]) for c in ordered[: max(limit, 0)]]
