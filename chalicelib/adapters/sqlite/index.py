"""SqliteVectorIndex: the VectorIndex in one SQLite file, its connections, writes and search entry points.

Two processes share the file: the API searches while the worker writes. SQLite (WAL mode) gives both
snapshot isolation, so a document's replacement is one transaction and a reader sees the old chunks or
the new ones, never a mix and never none.

Each write appends a row to a change log (changes.py, which also holds what a re-embed reads); before
a vector search, a reader compares the log's last generation with the one its in-memory matrix
(vectors.py) reflects and reloads only the documents written since.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

from chalicelib.adapters.sqlite.changes import change_marker, changed_since, export_documents, log_change
from chalicelib.adapters.sqlite.keyword import keyword_top_k, query_terms
from chalicelib.adapters.sqlite.schema import (
    ADD_CREATED_AT_COLUMN,
    ADD_MODEL_COLUMNS,
    ADD_TENANT_COLUMN,
    HIT_COLUMNS,
    INSERT_CHUNK,
    MATRIX_COLUMNS,
    SCHEMA,
    hit_from_row,
)
from chalicelib.adapters.sqlite.transactions import Transaction, batches
from chalicelib.adapters.sqlite.vectors import VectorMatrix
from chalicelib.model import (
    EmbeddingModel,
    Hit,
    IndexedChunk,
    IndexModelMismatch,
    IndexSwitched,
    SearchFilters,
)
from chalicelib.ports import ReembedSource, VectorIndex


class SqliteVectorIndex(VectorIndex, ReembedSource):
    """A VectorIndex in one SQLite file, safe to share between threads and processes.

    The file's meta table records its embedding model (`model_id`, `dimensions`): the constructor's
    `model_id` when the file has none recorded (a new file, or one written before models were: its
    vectors are taken to be that model's), else the model of the first chunks written. Writes of other
    models' chunks are refused. A re-embed marks a replaced file `superseded_by` its successor, in the
    same transaction as its last catch-up, so a write that reaches it later is refused too
    (IndexSwitched) and goes to the successor instead.
    """

    # A replacement deletes the document's older chunks in the transaction that writes the new ones.
    lookups_see_writes = True

    def __init__(
        self, path: Path, dimensions: int, busy_timeout_s: float = 30.0, *, model_id: str | None = None
    ):
        self.path = Path(path)
        self.dimensions = dimensions
        self._model_id = model_id
        self._recorded: EmbeddingModel | None = None
        self._busy_timeout_s = busy_timeout_s
        self._local = threading.local()
        # Each connection and the thread it serves. A thread-per-request server (chalice local) would
        # otherwise leave one open connection, with its file handles and page cache, per request served.
        self._owners: dict[sqlite3.Connection, threading.Thread] = {}
        self._connections_lock = threading.Lock()
        # Guards the in-memory matrix; searches take it for their whole duration.
        self._matrix_lock = threading.Lock()
        self._matrix: VectorMatrix | None = None
        self._generation = -1
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._create_schema()

    # -- connections ---------------------------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        """This thread's connection: sqlite3 connections must not be used by two threads at once."""
        connection = getattr(self._local, "connection", None)
        if connection is None:
            with self._connections_lock:
                connection = self._orphan() or self._open()
                self._owners[connection] = threading.current_thread()
            self._local.connection = connection
        return connection

    def _orphan(self) -> sqlite3.Connection | None:
        """A connection whose thread has ended, for the calling thread to take over (warm cache and all)."""
        for connection, owner in self._owners.items():
            if not owner.is_alive():
                if connection.in_transaction:  # cannot happen through _Transaction, but never inherit one
                    connection.rollback()
                return connection
        return None

    def _open(self) -> sqlite3.Connection:
        # isolation_level=None: this class issues BEGIN/COMMIT itself, so a replacement is exactly one
        # transaction. check_same_thread=False so a connection can pass to another thread once its
        # thread has ended, and so close() can close them all.
        connection = sqlite3.connect(
            self.path, timeout=self._busy_timeout_s, isolation_level=None, check_same_thread=False
        )
        connection.execute("PRAGMA journal_mode=WAL")
        # NORMAL is durable in WAL mode except for the last commits on power loss, which the worker's
        # at-least-once redelivery covers.
        connection.execute("PRAGMA synchronous=NORMAL")
        return connection

    @property
    def open_connections(self) -> int:
        with self._connections_lock:
            return len(self._owners)

    def checkpoint(self) -> None:
        """Fold the write-ahead log into the main file and truncate it, so the file alone holds every
        commit: a copy of it (say, a prepared benchmark store) then needs no -wal file beside it."""
        self._connection().execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def close(self) -> None:
        with self._connections_lock:
            for connection in self._owners:
                connection.close()
            self._owners.clear()
        self._local = threading.local()

    def _create_schema(self) -> None:
        db = self._connection()
        # One script in one transaction, so two processes opening a new file at once cannot interleave.
        db.executescript(f"BEGIN IMMEDIATE;\n{SCHEMA}\nCOMMIT;")
        with self._write_transaction() as upgrading:
            columns = {row[1] for row in upgrading.execute("PRAGMA table_info(chunks)")}
            if "tenant" not in columns:
                upgrading.execute(ADD_TENANT_COLUMN)
            if "model_id" not in columns:
                for statement in ADD_MODEL_COLUMNS:
                    upgrading.execute(statement)
            if "created_at" not in columns:
                upgrading.execute(ADD_CREATED_AT_COLUMN)
        db.execute(
            "INSERT OR IGNORE INTO meta (name, value) VALUES ('dimensions', ?)", (str(self.dimensions),)
        )
        if self._model_id:
            db.execute("INSERT OR IGNORE INTO meta (name, value) VALUES ('model_id', ?)", (self._model_id,))
        stored = int(db.execute("SELECT value FROM meta WHERE name = 'dimensions'").fetchone()[0])
        if stored != self.dimensions:
            raise ValueError(
                f"{self.path} holds {stored}-dimensional vectors, not {self.dimensions}: "
                "a different embedding model needs its own index file"
            )

    # -- writes --------------------------------------------------------------------------------

    def replace_document(self, document_id: str, version: str, chunks: Sequence[IndexedChunk]) -> None:
        rows = [self._row(document_id, version, c) for c in chunks]
        with self._write_transaction() as db:
            self._refuse_if_superseded(db)
            self._check_models(db, chunks)
            db.execute("DELETE FROM chunks WHERE document_id = ?", (document_id,))
            db.executemany(
                INSERT_CHUNK,
                rows,
            )
            self._log_change(db, document_id)

    def delete_document(self, document_id: str) -> int:
        with self._write_transaction() as db:
            self._refuse_if_superseded(db)
            removed = db.execute("DELETE FROM chunks WHERE document_id = ?", (document_id,)).rowcount
            if removed:
                self._log_change(db, document_id)
        return removed

    def sweep(self, document_id: str, keep_version: str | None) -> int:
        # Every write here is visible at once and replaces the whole document, so a sweep only ever
        # finds what a crash between two steps left behind.
        with self._write_transaction() as db:
            if keep_version is None:
                removed = db.execute("DELETE FROM chunks WHERE document_id = ?", (document_id,)).rowcount
            else:
                removed = db.execute(
                    "DELETE FROM chunks WHERE document_id = ? AND version != ?", (document_id, keep_version)
                ).rowcount
            if removed:
                self._log_change(db, document_id)
        return removed

    def _row(self, document_id: str, version: str, indexed: IndexedChunk) -> tuple:
        import numpy as np

        chunk = indexed.chunk
        if chunk.document_id != document_id:
            raise ValueError(f"chunk {chunk.chunk_id} belongs to {chunk.document_id}, not {document_id}")
        vector = np.asarray(indexed.vector, dtype=np.float32)
        if vector.shape != (self.dimensions,):
            raise ValueError(
                f"chunk {chunk.chunk_id}: vector of {vector.shape} for a {self.dimensions}-d index"
            )
        norm = float(np.linalg.norm(vector))
        # Stored as unit vectors, so cosine similarity is a plain dot product at search time.
        if norm > 0:
            vector = vector / norm
        metadata = json.dumps(dict(indexed.metadata), sort_keys=True, ensure_ascii=False)
        return (
            chunk.chunk_id,
            document_id,
            indexed.tenant,
            version,
            chunk.ordinal,
            chunk.page,
            indexed.key,
            indexed.content_type,
            metadata,
            chunk.text,
            vector.astype("<f4").tobytes(),
            indexed.model_id,
            indexed.dimensions,
            indexed.created_at,
        )

    # -- the embedding model ------------------------------------------------------------------

    def embedding_model(self) -> EmbeddingModel | None:
        if self._recorded is None:  # once recorded, a file's model never changes
            self._recorded = self._read_model(self._connection())
        return self._recorded

    def _read_model(self, db: sqlite3.Connection) -> EmbeddingModel | None:
        meta = dict(db.execute("SELECT name, value FROM meta WHERE name IN ('model_id', 'dimensions')"))
        if "model_id" not in meta:
            return None
        return EmbeddingModel(meta["model_id"], int(meta["dimensions"]))

    def _check_models(self, db: sqlite3.Connection, chunks: Sequence[IndexedChunk]) -> None:
        """Refuse chunks of another model than the file's; the first chunks written name the model of
        a file created without one. Runs inside the write transaction, so two writers of different
        models cannot both be first."""
        if not chunks:
            return
        holds = self._read_model(db)
        if holds is None:
            holds = chunks[0].embedding_model
            db.execute("INSERT INTO meta (name, value) VALUES ('model_id', ?)", (holds.model_id,))
        for item in chunks:
            if item.embedding_model != holds:
                offered = item.embedding_model
                raise IndexModelMismatch(f"index {self.path.name}", holds, offered, "chunks to write")

    def _refuse_if_superseded(self, db: sqlite3.Connection) -> None:
        row = db.execute("SELECT value FROM meta WHERE name = 'superseded_by'").fetchone()
        if row is not None:
            raise IndexSwitched(f"{self.path} was replaced by {row[0]} (a re-embed)")

    def retire(self, successor: str, final_catch_up: Callable[[], None], switch: Callable[[], None]) -> None:
        """End this file's life as the live index: under its write lock (so no write can slip in
        between), run `final_catch_up`, mark the file superseded by `successor` and run `switch` (which
        points readers at the successor). Writers waiting for the lock then find the mark and write to
        the successor instead; readers keep answering from this file until they follow the pointer."""
        with self._write_transaction() as db:
            self._refuse_if_superseded(db)  # another re-embed got here first
            final_catch_up()
            db.execute("INSERT OR REPLACE INTO meta (name, value) VALUES ('superseded_by', ?)", (successor,))
            switch()

    # -- what a re-embed reads (changes.py) ---------------------------------------------------

    def export(self, document_ids: Iterable[str] | None = None) -> Iterator[tuple[str, list[IndexedChunk]]]:
        model = self.embedding_model() or EmbeddingModel("", self.dimensions)
        yield from export_documents(self._connection(), model, document_ids)

    def document_ids(self) -> set[str]:
        db = self._connection()
        return {r[0] for r in db.execute("SELECT DISTINCT document_id FROM chunks")}

    def change_marker(self) -> int:
        return change_marker(self._connection())

    def changed_since(self, marker: int) -> tuple[list[str] | None, int]:
        return changed_since(self._connection(), marker)

    @staticmethod
    def _log_change(db: sqlite3.Connection, document_id: str) -> None:
        log_change(db, document_id)

    def _write_transaction(self) -> Transaction:
        # IMMEDIATE takes the write lock up front: two writers queue on busy_timeout instead of one
        # failing with "database is locked" when it tries to upgrade a read transaction.
        return Transaction(self._connection(), "BEGIN IMMEDIATE")

    # -- reads ---------------------------------------------------------------------------------

    def count(self, document_id: str | None = None) -> int:
        db = self._connection()
        if document_id is None:
            return db.execute("SELECT count(*) FROM chunks").fetchone()[0]
        return db.execute("SELECT count(*) FROM chunks WHERE document_id = ?", (document_id,)).fetchone()[0]

    def search_vector(
        self, vector: Sequence[float], k: int, filters: SearchFilters, model: EmbeddingModel | None = None
    ) -> list[Hit]:
        import numpy as np

        holds = self.embedding_model() or EmbeddingModel("", self.dimensions)
        query = np.asarray(vector, dtype=np.float32)
        if query.shape != (self.dimensions,):
            offered = model or EmbeddingModel("a query embedder", int(query.size))
            raise IndexModelMismatch(f"index {self.path.name}", holds, offered, "the query vector")
        if model is not None and holds.model_id and model != holds:
            raise IndexModelMismatch(f"index {self.path.name}", holds, model, "the query vector")
        norm = float(np.linalg.norm(query))
        if norm > 0:
            query = query / norm
        if k <= 0:
            return []
        # One read transaction for syncing the matrix and fetching the winners' rows: both see the same
        # snapshot, so every rowid the matrix returns still exists when its text is read.
        with self._matrix_lock, Transaction(self._connection(), "BEGIN") as db:
            matrix = self._synced_matrix(db)
            best = matrix.top_k(query, k, filters)
            if not best:
                return []
            rows = self._rows_by_rowid(db, [rowid for rowid, _ in best])
        hits = [hit_from_row(rows[rowid], score) for rowid, score in best if rowid in rows]
        # Equal scores in chunk_id order, so re-indexing a document (new rowids) cannot reorder ties.
        return sorted(hits, key=lambda hit: (-hit.score, hit.chunk_id))

    def search_keyword(self, query: str, k: int, filters: SearchFilters) -> list[Hit]:
        """The BM25 top k of the OR of the query's terms, computed by FTS5 on fewer chunks
        (keyword.keyword_top_k says how, and what that approximates)."""
        terms = query_terms(query)
        if not terms or k <= 0:
            return []
        db = self._connection()
        # One snapshot for the frequency counts and the queries they shape.
        with Transaction(db, "BEGIN"):
            return keyword_top_k(db, terms, k, filters)

    # -- the in-memory matrix ------------------------------------------------------------------

    def _synced_matrix(self, db: sqlite3.Connection) -> VectorMatrix:
        """The matrix, brought up to the generation `db`'s snapshot sees. Caller holds _matrix_lock."""
        generation, oldest = db.execute(
            "SELECT coalesce(max(generation), 0), min(generation) FROM changes"
        ).fetchone()
        matrix = self._matrix
        if matrix is not None and generation == self._generation:
            return matrix
        if matrix is None or oldest is None or oldest > self._generation + 1:
            # The first search, or the change log no longer reaches back to our generation.
            matrix = VectorMatrix(self.dimensions)
            matrix.append(db.execute(f"SELECT {MATRIX_COLUMNS} FROM chunks ORDER BY rowid").fetchall())
        else:
            changed = [
                r[0]
                for r in db.execute(
                    "SELECT DISTINCT document_id FROM changes WHERE generation > ?", (self._generation,)
                )
            ]
            matrix.remove_documents(changed)
            for batch in batches(changed, 500):
                matrix.append(
                    db.execute(
                        f"SELECT {MATRIX_COLUMNS} FROM chunks"
                        f" WHERE document_id IN ({','.join('?' * len(batch))}) ORDER BY rowid",
                        batch,
                    ).fetchall()
                )
            matrix.compact_if_sparse()
        self._matrix, self._generation = matrix, generation
        return matrix

    @staticmethod
    def _rows_by_rowid(db: sqlite3.Connection, rowids: list[int]) -> dict[int, tuple]:
        sql = f"SELECT {HIT_COLUMNS} FROM chunks AS c WHERE c.rowid IN ({','.join('?' * len(rowids))})"
        return {row[0]: row for row in db.execute(sql, rowids)}
