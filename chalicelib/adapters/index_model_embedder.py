"""The embedder of whatever model the live index holds, so that a re-embed's switch moves queries and
writes to the new model at once, in every process, without a redeploy in between.

Settings name the deployment's model (QUARRY_EMBEDDER, QUARRY_EMBEDDING_MODEL_ID/_DIMENSIONS): the
model a first index is created with. Once an index exists, its recorded model decides: a query
embedded with any other would be compared with vectors it cannot be compared with, and the index
would refuse the worker's chunks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from chalicelib.model import EmbeddingModel
from chalicelib.ports import Embedder, VectorIndex


class IndexModelEmbedder(Embedder):
    def __init__(
        self,
        index: VectorIndex,
        configured: Callable[[], Embedder],
        embedder_for: Callable[[EmbeddingModel], Embedder],
    ):
        self._index = index
        self._configured = configured
        self._embedder_for = embedder_for

    def current(self) -> Embedder:
        """The embedder of the live index's model (the configured one while the index has none yet)."""
        model = self._index.embedding_model()
        configured = self._configured()
        if model is None or model == EmbeddingModel(configured.model_id, configured.dimensions):
            return configured
        return self._embedder_for(model)

    @property
    def model_id(self) -> str:  # type: ignore[override]
        return self.current().model_id

    @property
    def dimensions(self) -> int:  # type: ignore[override]
        return self.current().dimensions

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        return self.current().embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        return self.current().embed_query(text)
