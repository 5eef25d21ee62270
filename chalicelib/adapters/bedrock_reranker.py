"""Reranking with Amazon Bedrock's Rerank API (bedrock-agent-runtime `Rerank`): the query and the
candidates' texts go inline, and a reranking model (amazon.rerank-v1:0 or cohere.rerank-v3-5:0, named
by its foundation-model ARN) answers each candidate's index and relevance score, most relevant first.
Throttling and 5xx are retried with backoff; a permanent error is a DocumentError(PROVIDER_ERROR).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from typing import Any

from chalicelib.adapters.aws_retry import call_with_backoff
from chalicelib.model import DocumentError, ErrorCode
from chalicelib.ports import Reranker

RERANK_MODELS = ("amazon.rerank-v1:0", "cohere.rerank-v3-5:0")
# The API's limits: 1000 sources a call, 32,000 characters a text.
MAX_SOURCES = 1000
MAX_TEXT_CHARS = 32_000


def model_arn(region: str, model_id: str) -> str:
    return f"arn:aws:bedrock:{region}::foundation-model/{model_id}"


class BedrockReranker(Reranker):
    def __init__(
        self,
        client: Any,
        region: str,
        model_id: str = RERANK_MODELS[0],
        *,
        retry_deadline_s: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ):
        if model_id not in RERANK_MODELS:
            raise ValueError(
                f"QUARRY_RERANK_MODEL_ID must be one of {', '.join(RERANK_MODELS)}, not {model_id}"
            )
        self.client = client
        self.model_id = model_id
        self._arn = model_arn(region, model_id)
        self._retry_deadline_s = retry_deadline_s
        self._sleep = sleep
        self._clock = clock

    def rerank(self, query: str, texts: Sequence[str], top_n: int) -> list[tuple[int, float]]:
        if not texts or top_n <= 0:
            return []
        if len(texts) > MAX_SOURCES:
            raise ValueError(f"at most {MAX_SOURCES} texts a call, not {len(texts)}")
        request = {
            "queries": [{"type": "TEXT", "textQuery": {"text": query[:MAX_TEXT_CHARS]}}],
            "sources": [
                {
                    "type": "INLINE",
                    "inlineDocumentSource": {"type": "TEXT", "textDocument": {"text": text[:MAX_TEXT_CHARS]}},
                }
                for text in texts
            ],
            "rerankingConfiguration": {
                "type": "BEDROCK_RERANKING_MODEL",
                "bedrockRerankingConfiguration": {
                    "numberOfResults": min(top_n, len(texts)),
                    "modelConfiguration": {"modelArn": self._arn},
                },
            },
        }
        response = call_with_backoff(
            functools.partial(self.client.rerank, **request),
            deadline_s=self._retry_deadline_s,
            sleep=self._sleep,
            clock=self._clock,
        )
        ranked: list[tuple[int, float]] = []
        for result in response.get("results") or []:
            index = result.get("index")
            if not isinstance(index, int) or not 0 <= index < len(texts):
                raise DocumentError(
                    ErrorCode.PROVIDER_ERROR, f"{self.model_id} answered an unknown index {index!r}"
                )
            ranked.append((index, float(result["relevanceScore"])))
        # The API answers most relevant first; sort anyway, so the contract does not rest on it.
        return sorted(ranked, key=lambda pair: (-pair[1], pair[0]))
