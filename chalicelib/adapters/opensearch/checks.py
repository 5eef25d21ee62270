"""What chunks must be before the OpenSearch index writes them: the document's own, sized for the
index, of unit length (the `innerproduct` space equals cosine only for unit vectors) and all of one
embedding model, the one the index records.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from chalicelib.model import EmbeddingModel, IndexedChunk, IndexModelMismatch

# A unit vector's norm, give or take float32 rounding and the embedder's own.
UNIT_NORM_TOLERANCE = 1e-2


def check_chunks(
    index_name: str, dimensions: int, model_id: str | None, document_id: str, chunks: Sequence[IndexedChunk]
) -> None:
    """ValueError for a chunk of another document or not of unit length; IndexModelMismatch for a
    vector of another size than the index's."""
    for item in chunks:
        if item.chunk.document_id != document_id:
            raise ValueError(f"chunk {item.chunk.chunk_id} belongs to {item.chunk.document_id}")
        if len(item.vector) != dimensions:
            holds = EmbeddingModel(model_id or "", dimensions)
            offered = item.embedding_model
            raise IndexModelMismatch(f"index {index_name}", holds, offered, "chunks to write")
        # innerproduct equals cosine only for unit vectors; anything else would rank wrongly.
        norm = math.sqrt(sum(x * x for x in item.vector))
        if abs(norm - 1.0) > UNIT_NORM_TOLERANCE:
            raise ValueError(f"chunk {item.chunk.chunk_id}: vector norm {norm:.3f}, expected unit length")


def check_models(index_name: str, holds: EmbeddingModel | None, chunks: Sequence[IndexedChunk]) -> None:
    """IndexModelMismatch for a chunk of another model than `holds`, the one the index records."""
    for item in chunks:
        if item.embedding_model != holds:
            offered = item.embedding_model
            raise IndexModelMismatch(f"index {index_name}", holds, offered, "chunks to write")
