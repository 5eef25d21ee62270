"""A search's ranked hits as the response shows them: min_score, group_by document, the page the
cursor asks for (chalicelib/paging.py) and its next_cursor, and highlights in keyword and hybrid mode."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalicelib.api.requests import SearchRequest
from chalicelib.api.views import hit_view
from chalicelib.grouping import DocumentHit, group_by_document
from chalicelib.highlighting import highlights, query_stems
from chalicelib.model import Hit
from chalicelib.paging import MAX_PAGED_RESULTS, CursorSigner, cut_page, fingerprint

# group_by document ranks this many chunks per document wanted, so k documents usually come back.
GROUP_OVERFETCH = 3
# The deepest a ranking goes (OpenSearch answers at most 1000 candidates).
MAX_CHUNK_DEPTH = 1000


def present(
    tenant: str,
    request: SearchRequest,
    ranked_chunks: Callable[[int], list[Hit]],
    first_chunk_depth: int,
    cursors: CursorSigner,
) -> tuple[list[dict[str, Any]], str | None]:
    """The page of results `request` asks for, and the cursor of the next page (None: no more)."""
    bound_to = fingerprint(
        tenant,
        request.model_dump(mode="json", exclude={"cursor", "filter"}) | {"filter": repr(request.filter)},
    )
    page = cursors.page_of(request.cursor, bound_to, request.k) if request.cursor else 0

    def scored(depth: int) -> list[Hit]:
        hits = ranked_chunks(min(depth, MAX_CHUNK_DEPTH))
        if request.min_score is not None:
            hits = [h for h in hits if h.score >= request.min_score]
        return hits

    stems = query_stems(request.query) if request.mode != "vector" else None
    if request.group_by == "document":

        def documents(depth: int) -> list[DocumentHit]:
            return group_by_document(scored(depth * GROUP_OVERFETCH), request.chunks_per_document)

        first = max(request.k, -(-first_chunk_depth // GROUP_OVERFETCH))
        shown, more = cut_page(documents, lambda d: d.document_id, page, request.k, first, MAX_PAGED_RESULTS)
        results = [_document_view(d, stems) for d in shown]
    else:
        hits, more = cut_page(
            scored, lambda h: h.chunk_id, page, request.k, first_chunk_depth, MAX_CHUNK_DEPTH
        )
        results = [_chunk_view(h, stems) for h in hits]
    return results, cursors.issue(page + 1, bound_to) if more else None


def _chunk_view(hit: Hit, stems: frozenset[str] | None) -> dict[str, Any]:
    view = hit_view(hit)
    if stems is not None:
        view["highlights"] = highlights(hit.text, stems)
    return view


def _document_view(document: DocumentHit, stems: frozenset[str] | None) -> dict[str, Any]:
    best = document.chunks[0]
    return {
        "document_id": document.document_id,
        "score": document.score,
        "source": {"key": best.key, "content_type": best.content_type},
        "metadata": best.metadata,
        "chunks": [_chunk_view(h, stems) for h in document.chunks],
    }
