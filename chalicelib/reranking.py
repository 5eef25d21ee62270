"""`rerank: true`: the search's first candidates (fused, in hybrid mode) put in the order a reranking
model gives them, each scored with its relevance score. Paging and group_by then work over that order."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

from chalicelib.model import Hit, InvalidRequest
from chalicelib.ports import Reranker

NO_RERANKER = (
    "this deployment has no reranking model: the local stage has none (no reranking model runs offline),"
    " and a deployment needs QUARRY_RERANKER=bedrock; search without rerank"
)


def reranked(
    ranked: Callable[[int], list[Hit]],
    reranker: Reranker | None,
    query: str,
    candidates: int,
    depth: int,
    timings: dict[str, float],
) -> Callable[[int], list[Hit]]:
    """The first `candidates` hits of `ranked` at `depth` (at least the unreranked search's, so hybrid
    fuses as it would without reranking), in the reranker's order, whatever depth is asked for later
    (the model is called once per search)."""
    if reranker is None:
        raise InvalidRequest("rerank_unavailable", NO_RERANKER)
    done: list[list[Hit]] = []

    def at(_depth: int) -> list[Hit]:
        if not done:
            hits = ranked(max(depth, candidates))[:candidates]
            started = time.perf_counter()
            order = reranker.rerank(query, [hit.text for hit in hits], len(hits))
            timings["rerank"] = round((time.perf_counter() - started) * 1000, 2)
            done.append([dataclasses.replace(hits[index], score=score) for index, score in order])
        return done[0]

    return at
