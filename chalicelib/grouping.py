"""group_by "document": ranked chunks to ranked documents, each with its best chunk first and its
other matching chunks after it, up to a limit, ranked by the best chunk's score."""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.model import Hit


@dataclass(frozen=True)
class DocumentHit:
    document_id: str
    score: float
    chunks: tuple[Hit, ...]


def group_by_document(hits: list[Hit], chunks_per_document: int) -> list[DocumentHit]:
    """`hits` best first, one DocumentHit per document in the order of its best chunk."""
    grouped: dict[str, list[Hit]] = {}
    for hit in hits:
        chunks = grouped.setdefault(hit.document_id, [])
        if len(chunks) < chunks_per_document:
            chunks.append(hit)
    return [
        DocumentHit(document_id, chunks[0].score, tuple(chunks)) for document_id, chunks in grouped.items()
    ]
