"""POST /answer: hybrid retrieval within the caller's tenant, then an answer from those chunks alone.

The answerer (Claude through Converse in AWS, an extractive one locally) cites chunk ids; only
citations of chunks this request retrieved are kept, so an answer can never point at a chunk the
caller was not shown (another tenant's, or one the model made up). With nothing retrieved, no
answer, or no valid citation, the reply is NOT_FOUND: weak evidence is said, not papered over.
"""

from __future__ import annotations

import time
from typing import Any

from chalicelib.api.requests import AnswerRequest, SearchRequest
from chalicelib.model import AnswerDraft, Hit
from chalicelib.observability import logger
from chalicelib.ports import Answerer
from chalicelib.search import SearchService

NOT_FOUND = "Not found in the documents."


class AnswerService:
    def __init__(self, search: SearchService, answerer: Answerer):
        self._search = search
        self._answerer = answerer

    def answer(self, tenant: str, request: AnswerRequest) -> dict[str, Any]:
        started = time.perf_counter()
        retrieval = SearchRequest(
            query=request.question, k=request.k, mode="hybrid", filters=request.filters, filter=request.filter
        )
        passages = self._search.retrieve(tenant, retrieval)
        draft = self._answerer.answer(request.question, passages) if passages else None
        by_id = {hit.chunk_id: hit for hit in passages}
        cited = [by_id[c] for c in dict.fromkeys(draft.cited_chunk_ids) if c in by_id] if draft else []
        if draft is not None:
            dropped = [c for c in draft.cited_chunk_ids if c not in by_id]
            # Recorded like extraction's cost: per call, with the model, in the structured log.
            logger.info(
                "answer",
                extra={
                    "model": draft.model,
                    "input_tokens": draft.input_tokens,
                    "output_tokens": draft.output_tokens,
                    "latency_ms": draft.latency_ms,
                    "passages": len(passages),
                    "citations_dropped": len(dropped),
                },
            )
        found = draft is not None and draft.found and bool(cited)
        return {
            "answer": draft.text if found else NOT_FOUND,
            "found": found,
            "citations": [_citation(hit) for hit in cited] if found else [],
            "model": draft.model if draft else None,
            "usage": _usage(draft),
            "took_ms": round((time.perf_counter() - started) * 1000, 2),
        }


def _citation(hit: Hit) -> dict[str, Any]:
    return {
        "chunk_id": hit.chunk_id,
        "document_id": hit.document_id,
        "source": {"key": hit.key, "page": hit.page},
        "text": hit.text,
    }


def _usage(draft: AnswerDraft | None) -> dict[str, int]:
    if draft is None:
        return {"input_tokens": 0, "output_tokens": 0}
    return {"input_tokens": draft.input_tokens, "output_tokens": draft.output_tokens}
