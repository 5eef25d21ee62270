"""Which index hits a search may show: only chunks of a document the catalog holds searchable at the
chunk's version (model.searchable_version), for the caller's tenant.

The index alone cannot promise that. On OpenSearch Serverless a write is invisible for about a minute,
so a delete or a replace can miss chunks written just before it, and a failed document's cleanup can
fail; until the delayed sweep purges them, such strays are still in the index. The catalog is the
truth about a document's state, so the search service asks it about every document among the hits, in
one batch read per round of hits (Catalog.get_many), and drops the hits it does not vouch for.
"""

from __future__ import annotations

from collections.abc import Sequence

from chalicelib.model import DocumentState, Hit
from chalicelib.ports import Catalog


class CatalogCheck:
    """The catalog's verdict on the documents of one search's hits. Each document is read once per
    search, however many rounds of hits name it; `reads` counts the catalog calls made."""

    def __init__(self, catalog: Catalog, tenant: str):
        self._catalog = catalog
        self._tenant = tenant
        self._states: dict[str, DocumentState | None] = {}
        self.reads = 0

    def keep(self, rankings: Sequence[Sequence[Hit]]) -> list[list[Hit]]:
        """Each ranking with the hits the catalog does not vouch for removed, order kept. The documents
        of every ranking are read together: hybrid search checks the union of both sides at once."""
        unseen = sorted({hit.document_id for ranking in rankings for hit in ranking} - self._states.keys())
        if unseen:
            found = self._catalog.get_many(unseen)
            self.reads += 1
            for document_id in unseen:
                self._states[document_id] = found.get(document_id)
        return [[hit for hit in ranking if self._shows(hit)] for ranking in rankings]

    def _shows(self, hit: Hit) -> bool:
        state = self._states.get(hit.document_id)
        return state is not None and state.shows(self._tenant, hit.version)
