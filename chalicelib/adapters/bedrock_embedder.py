"""Titan Text Embeddings V2 on Bedrock: one text per InvokeModel call, calls run in a bounded pool.

Input length: the model takes up to 8,192 tokens. We cap inputs at 30,000 characters before sending,
about 6,500 tokens of English (4-5 characters a token), so ordinary text never reaches the limit; our
chunks are far shorter anyway and the cap matters for an odd query or chunk. Text with fewer
characters per token (code, digits, CJK) can still exceed the limit: Bedrock then answers
ValidationException, and we halve the text and try again rather than fail the document.
"""

from __future__ import annotations

import contextvars
import functools
import json
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any

from chalicelib.adapters.aws_retry import call_with_backoff
from chalicelib.model import DocumentError, ErrorCode
from chalicelib.ports import Embedder
from chalicelib.usage import count_provider_call, count_tokens

TITAN_V2_MODEL_ID = "amazon.titan-embed-text-v2:0"
TITAN_V2_DIMENSIONS = (256, 512, 1024)
MAX_INPUT_CHARS = 30_000
# Halving stops here: a text this short that is still "too long" is not a length problem.
MIN_RETRY_CHARS = 500


def truncate(text: str, max_chars: int) -> str:
    """`text` cut to at most `max_chars`, at the last whitespace when one is near, so no word is split."""
    if len(text) <= max_chars:
        return text
    cut = text[:max_chars]
    space = cut.rfind(" ", max_chars - 200)
    return cut[:space] if space > 0 else cut


def _too_many_tokens(err: DocumentError) -> bool:
    message = err.message.lower()
    return err.message.startswith("ValidationException") and "token" in message


class TitanEmbedder(Embedder):
    def __init__(
        self,
        client: Any,
        *,
        model_id: str = TITAN_V2_MODEL_ID,
        dimensions: int = 1024,
        concurrency: int = 8,
        max_input_chars: int = MAX_INPUT_CHARS,
        retry_deadline_s: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ):
        if dimensions not in TITAN_V2_DIMENSIONS:
            raise ValueError(f"Titan V2 makes 256-, 512- or 1024-dimensional vectors, not {dimensions}")
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.client = client
        self.model_id = model_id
        self.dimensions = dimensions
        self.concurrency = concurrency
        self.max_input_chars = max_input_chars
        self.retry_deadline_s = retry_deadline_s
        self._sleep = sleep
        self._clock = clock
        # One pool shared by every caller: the worker embeds several documents at once, and the
        # provider should see at most `concurrency` calls from this process, not that many per document.
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="titan")

    def check_dimensions(self, index_dimensions: int | None) -> None:
        """Raise if an existing index holds vectors of another size: every write and query would fail,
        or worse, compare vectors from different models."""
        if index_dimensions is not None and index_dimensions != self.dimensions:
            raise ValueError(
                f"the vector index holds {index_dimensions}-dimensional vectors but {self.model_id} is "
                f"configured for {self.dimensions}: set QUARRY_EMBEDDING_DIMENSIONS={index_dimensions} "
                "or rebuild the index"
            )

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        if len(texts) <= 1:
            return [self._embed(text) for text in texts]
        # Each call runs in the caller's context, so its tokens and retries count for the caller's document.
        calls = [self._pool.submit(contextvars.copy_context().run, self._embed, text) for text in texts]
        try:
            return [call.result() for call in calls]
        finally:
            # When one text fails, its document fails: calls not started are dropped, and the ones in
            # flight are waited for, so none of this document's work runs on after it has given up.
            for call in calls:
                call.cancel()
            wait(calls)

    def embed_query(self, text: str) -> list[float]:
        return self._embed(text)

    def _embed(self, text: str) -> list[float]:
        if not text.strip():
            raise ValueError("cannot embed an empty text")
        text = truncate(text, self.max_input_chars)
        while True:
            try:
                return call_with_backoff(
                    functools.partial(self._invoke, text),
                    deadline_s=self.retry_deadline_s,
                    provider="bedrock",
                    sleep=self._sleep,
                    clock=self._clock,
                )
            except DocumentError as err:
                if not _too_many_tokens(err) or len(text) <= MIN_RETRY_CHARS:
                    raise
                text = truncate(text, len(text) // 2)

    def _invoke(self, text: str) -> list[float]:
        response = self.client.invoke_model(
            modelId=self.model_id,
            contentType="application/json",
            accept="application/json",
            body=json.dumps({"inputText": text, "dimensions": self.dimensions, "normalize": True}),
        )
        answer = json.loads(response["body"].read())
        count_provider_call("bedrock")
        # Titan V2 says how many tokens it read: what the call is billed for.
        count_tokens(self.model_id, int(answer.get("inputTextTokenCount") or 0))
        vector = answer.get("embedding")
        if not isinstance(vector, list) or len(vector) != self.dimensions:
            size = len(vector) if isinstance(vector, list) else "no"
            raise DocumentError(
                ErrorCode.PROVIDER_ERROR,
                f"{self.model_id} returned {size} values where {self.dimensions} were asked for",
            )
        return [float(x) for x in vector]
