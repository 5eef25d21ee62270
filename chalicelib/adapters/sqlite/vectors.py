"""Exact vector search: every chunk's unit vector as a row of one in-memory float32 matrix.

Cosine similarity over the whole matrix rather than an approximate index: at 100k x 384 the
matrix-vector product reads 150 MB and takes about ten milliseconds on two cores, so an approximate
index would buy little and cost recall.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from chalicelib.adapters.sqlite.filters import Facets, is_unfiltered
from chalicelib.model import SearchFilters

# How many filters' row masks a matrix keeps (each is one byte per row: 100 kB at 100k rows).
MASK_CACHE_SIZE = 16


def _dot_rows(matrix, vector):
    """matrix @ vector, through einsum's single-threaded SIMD loop rather than BLAS: the product is
    memory-bound, so BLAS threads add nothing, and on a busy two-core machine they spin waiting for a
    core (measured at 100k x 384 under load: einsum p50 10 ms / p95 19 ms, BLAS 24 ms / 39 ms)."""
    import numpy as np

    return np.einsum("ij,j->i", matrix, vector)


class VectorMatrix:
    """The vectors of every chunk, as rows of one float32 matrix, and each row's facet group.

    Rows are appended into spare capacity and deleted by clearing their `alive` flag, so a write
    touches only its own rows; the matrix is compacted when a quarter of it is dead.
    """

    def __init__(self, dimensions: int):
        import numpy as np

        self.dimensions = dimensions
        self.size = 0
        self.vectors = np.zeros((0, dimensions), dtype=np.float32)
        self.rowids = np.zeros(0, dtype=np.int64)
        self.group_of_row = np.zeros(0, dtype=np.int32)
        self.alive = np.zeros(0, dtype=bool)
        self.facets = Facets()
        self._rows_of_document: dict[str, list[int]] = {}
        self.dead = 0
        # The row masks of recent filters, until the rows change: building one (group masks from the
        # inverted lists, then a gather over every row) costs a few ms at 100k rows, and a client
        # paging or a dashboard repeating a filtered query asks for the same mask again.
        self._masks: dict[str, object] = {}

    def remove_documents(self, document_ids: Iterable[str]) -> None:
        self._masks.clear()
        for document_id in document_ids:
            for row in self._rows_of_document.pop(document_id, ()):
                self.alive[row] = False
                self.dead += 1

    def append(self, rows: Sequence[tuple[int, str, str, str, str, bytes, str]]) -> None:
        """Add rows of schema.MATRIX_COLUMNS: (rowid, document_id, key, content_type, metadata_json,
        vector_blob, tenant, created_at)."""
        import numpy as np

        if not rows:
            return
        self._masks.clear()
        self._reserve(self.size + len(rows))
        start, end = self.size, self.size + len(rows)
        blob = b"".join(r[5] for r in rows)
        self.vectors[start:end] = np.frombuffer(blob, dtype=np.float32).reshape(len(rows), self.dimensions)
        self.rowids[start:end] = [r[0] for r in rows]
        self.group_of_row[start:end] = [self.facets.group(r[6], r[1], r[2], r[3], r[4], r[7]) for r in rows]
        self.alive[start:end] = True
        for offset, r in enumerate(rows):
            self._rows_of_document.setdefault(r[1], []).append(start + offset)
        self.size = end

    def compact_if_sparse(self) -> None:
        """Drop dead rows once they are a quarter of the matrix, so churn cannot grow it without end.
        Done in memory: a copy of the live rows is far cheaper than reloading them from the file."""
        import numpy as np

        if self.dead <= 1024 or self.dead * 4 <= self.size:
            return
        self._masks.clear()
        live = np.flatnonzero(self.alive[: self.size])
        new_row = np.full(self.size, -1, dtype=np.int64)
        new_row[live] = np.arange(len(live))
        self.vectors = self.vectors[live]
        self.rowids = self.rowids[live]
        self.group_of_row = self.group_of_row[live]
        self.alive = np.ones(len(live), dtype=bool)
        self._rows_of_document = {
            document_id: [int(new_row[row]) for row in rows]
            for document_id, rows in self._rows_of_document.items()
        }
        self.size, self.dead = len(live), 0

    def _reserve(self, needed: int) -> None:
        import numpy as np

        capacity = len(self.rowids)
        if needed <= capacity:
            return
        # Doubling keeps a stream of small appends from copying the whole matrix each time.
        new_capacity = max(needed, capacity * 2, 1024)
        vectors = np.zeros((new_capacity, self.dimensions), dtype=np.float32)
        vectors[: self.size] = self.vectors[: self.size]
        self.vectors = vectors
        for name, dtype in (("rowids", np.int64), ("group_of_row", np.int32), ("alive", bool)):
            grown = np.zeros(new_capacity, dtype=dtype)
            grown[: self.size] = getattr(self, name)[: self.size]
            setattr(self, name, grown)

    def searchable(self, filters: SearchFilters):
        """A boolean mask over rows: alive, of the filters' tenant and matching the other filters."""

        alive = self.alive[: self.size]
        if is_unfiltered(filters) and self.facets.single_tenant(filters.tenant):
            return alive
        # Keyed by repr, as Facets keys its expression masks: equals(k, True) and equals(k, 1) differ.
        cache_key = repr(filters)
        mask = self._masks.pop(cache_key, None)
        if mask is None:
            if len(self._masks) >= MASK_CACHE_SIZE:
                self._masks.pop(next(iter(self._masks)))
            mask = alive & self.facets.allowed(filters)[self.group_of_row[: self.size]]
        self._masks[cache_key] = mask  # most recently used last
        return mask

    def top_k(self, query, k: int, filters: SearchFilters) -> list[tuple[int, float]]:
        """(rowid, cosine) of the k best searchable rows, best first; ties go to the older row.

        The filter is a mask applied before the cut, so k rows come back whenever k rows match.
        """
        import numpy as np

        mask = self.searchable(filters)
        matching = int(np.count_nonzero(mask))
        k = min(k, matching)
        if k <= 0:
            return []
        if matching * 20 < self.size:
            # A very selective filter: gather and multiply only the matching rows. Gathering copies
            # them, which costs more than the product itself unless they are few.
            rows = np.flatnonzero(mask)
            scores = _dot_rows(self.vectors[rows], query)
        else:
            # The product over all rows reads the matrix once (memory-bound); masked rows then drop out.
            rows = np.arange(self.size)
            scores = _dot_rows(self.vectors[: self.size], query)
            if matching < self.size:
                scores = np.where(mask, scores, -np.inf)
        # argpartition finds the k best in linear time; only those k are then sorted.
        best = np.argpartition(-scores, k - 1)[:k] if len(scores) > k else np.arange(len(scores))
        best = best[np.lexsort((rows[best], -scores[best]))]
        return [(int(self.rowids[rows[i]]), float(scores[i])) for i in best]
