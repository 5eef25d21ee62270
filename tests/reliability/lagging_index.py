"""A VectorIndex that lags like OpenSearch Serverless, over the real SQLite index.

On AOSS a write becomes visible to searches, and to the lookups that find chunks to delete, about a
minute later (chalicelib/adapters/opensearch/index.py). LaggingIndex does the same by an injected
clock: a chunk written less than `window_s` ago is invisible to delete_document, sweep, the
replacement's removal of older chunks, and searches. Like the OpenSearch adapter, a replacement writes
the new chunks beside the old ones (a new generation) and then removes the older ones it can see; a
reader keeps, per document, only the newest generation among its hits. `count` tells the truth (what
is stored, seen or not), so the invariants can check what really stayed behind.

The rows live in the SqliteVectorIndex's own file and go through its own row encoding and change log,
so its searches, FTS and vector matrix serve them; SQLite's replace_document deletes a document's every
chunk in one transaction, so chunks are written here with the index's own helpers instead.
"""

from __future__ import annotations

import itertools
import math
import threading
from collections.abc import Callable, Sequence

from chalicelib.adapters.sqlite import SqliteVectorIndex
from chalicelib.adapters.sqlite.live import LiveSqliteIndex
from chalicelib.adapters.sqlite.schema import INSERT_CHUNK
from chalicelib.model import EmbeddingModel, Hit, IndexedChunk, SearchFilters
from chalicelib.ports import VectorIndex

INSERT = INSERT_CHUNK  # the adapter's own statement, in _row's order


class LaggingIndex(VectorIndex):
    def __init__(
        self, inner: SqliteVectorIndex | LiveSqliteIndex, window_s: float, clock: Callable[[], float]
    ):
        # The rows are written straight into the file that serves searches now.
        self.inner = inner.current() if isinstance(inner, LiveSqliteIndex) else inner
        self.window_s = window_s
        self._clock = clock
        self._written_at: dict[str, float] = {}
        self._generation: dict[str, int] = {}
        self._generations = itertools.count(1)
        self._lock = threading.Lock()
        # What the lag made a lookup miss, for the test to show the lag was real.
        self.missed_by_lookups = 0

    # -- what a lookup can see -------------------------------------------------------------------

    def _visible(self, chunk_id: str) -> bool:
        return self._clock() - self._written_at.get(chunk_id, -math.inf) >= self.window_s

    def _stored(self, document_id: str) -> list[tuple[str, str]]:
        """(chunk_id, version) of every chunk of the document in the file, seen or not."""
        db = self.inner._connection()
        sql = "SELECT chunk_id, version FROM chunks WHERE document_id = ?"
        return db.execute(sql, (document_id,)).fetchall()

    def _lookup(self, document_id: str, keep: Callable[[str, str], bool] = lambda c, v: False) -> list[str]:
        """The chunk ids a lookup finds for deletion: visible ones not kept."""
        found, missed = [], 0
        for chunk_id, version in self._stored(document_id):
            if keep(chunk_id, version):
                continue
            if self._visible(chunk_id):
                found.append(chunk_id)
            else:
                missed += 1
        with self._lock:
            self.missed_by_lookups += missed
        return found

    def _delete(self, document_id: str, chunk_ids: Sequence[str]) -> int:
        if not chunk_ids:
            return 0
        with self.inner._write_transaction() as db:
            removed = db.execute(
                f"DELETE FROM chunks WHERE chunk_id IN ({','.join('?' * len(chunk_ids))})", list(chunk_ids)
            ).rowcount
            self.inner._log_change(db, document_id)
        return removed

    # -- the port ----------------------------------------------------------------------------------

    def replace_document(self, document_id: str, version: str, chunks: Sequence[IndexedChunk]) -> None:
        rows = [self.inner._row(document_id, version, c) for c in chunks]
        new_ids = [c.chunk.chunk_id for c in chunks]
        with self._lock:
            generation = next(self._generations)
        with self.inner._write_transaction() as db:
            if new_ids:
                # The same version again: its chunk ids are the same, so their rows are rewritten.
                db.execute(f"DELETE FROM chunks WHERE chunk_id IN ({','.join('?' * len(new_ids))})", new_ids)
            db.executemany(INSERT, rows)
            self.inner._log_change(db, document_id)
        now = self._clock()
        with self._lock:
            for chunk_id in new_ids:
                self._written_at[chunk_id] = now
                self._generation[chunk_id] = generation
        fresh = set(new_ids)
        self._delete(document_id, self._lookup(document_id, keep=lambda chunk_id, _: chunk_id in fresh))

    def delete_document(self, document_id: str) -> int:
        return self._delete(document_id, self._lookup(document_id))

    def sweep(self, document_id: str, keep_version: str | None) -> int:
        kept = self._lookup(document_id, keep=lambda _, version: version == keep_version)
        return self._delete(document_id, kept)

    def count(self, document_id: str | None = None) -> int:
        return self.inner.count(document_id)

    def embedding_model(self) -> EmbeddingModel | None:
        return self.inner.embedding_model()

    def search_vector(
        self, vector: Sequence[float], k: int, filters: SearchFilters, model: EmbeddingModel | None = None
    ) -> list[Hit]:
        return self._readable(lambda n: self.inner.search_vector(vector, n, filters, model), k)

    def search_keyword(self, query: str, k: int, filters: SearchFilters) -> list[Hit]:
        return self._readable(lambda n: self.inner.search_keyword(query, n, filters), k)

    def _readable(self, search: Callable[[int], list[Hit]], k: int) -> list[Hit]:
        """The top k a reader gets: chunks within the window hidden, and per document only the newest
        generation among the hits (the OpenSearch adapter's newest_generation_only)."""
        with self._lock:
            hidden = sum(1 for chunk_id in self._written_at if not self._visible(chunk_id))
        hits = [hit for hit in search(k + hidden) if self._visible(hit.chunk_id)]
        generation = {hit.chunk_id: self._generation.get(hit.chunk_id, 0) for hit in hits}
        newest: dict[str, int] = {}
        for hit in hits:
            newest[hit.document_id] = max(newest.get(hit.document_id, 0), generation[hit.chunk_id])
        return [hit for hit in hits if generation[hit.chunk_id] == newest[hit.document_id]][:k]
