"""The embedded vector index: one SQLite file holds the chunks, their vectors and an FTS5 index for BM25.

Two processes share the file: the API searches while the worker writes. SQLite (WAL mode) gives both
snapshot isolation, so a document's replacement is one transaction and a reader sees the old chunks or
the new ones, never a mix and never none.

Vector search is exact cosine similarity over an in-memory matrix of unit vectors: at 100k x 384 the
matrix-vector product reads 150 MB and takes about ten milliseconds on two cores, so an approximate
index would buy little and cost recall. Each write appends a row to a change log; before searching,
a reader compares the log's last generation with the one its matrix reflects and reloads only the
documents written since.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from chalicelib.model import Hit, IndexedChunk, SearchFilters
from chalicelib.ports import VectorIndex

# How many change-log rows the writer keeps. A reader further behind than this reloads everything,
# which is correct, only slower; the log itself stays small.
CHANGE_LOG_KEEP = 10_000

# Keyword search ranks only chunks holding one of the query's rarer terms, about this many at most
# (see keyword_query_plan): FTS5 spends a few microseconds scoring each chunk a query matches.
KEYWORD_CANDIDATE_BUDGET = 4000

# Past this many distinct terms a query costs more than it helps: each term adds a posting-list
# scan, and BM25 gives the rarest terms most of the weight anyway, so the commonest are dropped.
MAX_QUERY_TERMS = 32

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS chunks (
    rowid INTEGER PRIMARY KEY AUTOINCREMENT,
    chunk_id TEXT NOT NULL UNIQUE,
    document_id TEXT NOT NULL,
    version TEXT NOT NULL,
    ordinal INTEGER NOT NULL,
    page INTEGER,
    key TEXT NOT NULL,
    content_type TEXT NOT NULL,
    metadata TEXT NOT NULL,
    text TEXT NOT NULL,
    vector BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_by_document ON chunks (document_id);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(
    text, content='chunks', content_rowid='rowid',
    tokenize='porter unicode61 remove_diacritics 2'
);
CREATE TRIGGER IF NOT EXISTS chunks_fts_insert AFTER INSERT ON chunks BEGIN
    INSERT INTO chunks_fts (rowid, text) VALUES (new.rowid, new.text);
END;
CREATE TRIGGER IF NOT EXISTS chunks_fts_delete AFTER DELETE ON chunks BEGIN
    INSERT INTO chunks_fts (chunks_fts, rowid, text) VALUES ('delete', old.rowid, old.text);
END;
CREATE TABLE IF NOT EXISTS changes (
    generation INTEGER PRIMARY KEY AUTOINCREMENT,
    document_id TEXT NOT NULL
);
"""

_HIT_COLUMNS = "c.rowid, c.chunk_id, c.document_id, c.text, c.key, c.page, c.content_type, c.metadata"

# Tokens as FTS5's unicode61 tokenizer sees them: runs of letters and digits (underscore separates).
_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)


@lru_cache(maxsize=1)
def english_stop_words() -> frozenset[str]:
    """YAKE's English stop-word list, read from the installed package's data file, less its single
    letters other than "a": in technical text they carry meaning (T cells, vitamin C, hepatitis B).

    Read as a file rather than through `import yake`, whose package import pulls in its whole
    keyword-extraction stack.
    """
    spec = importlib.util.find_spec("yake")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the yake package (requirements-local.txt) provides the stop-word list")
    path = Path(next(iter(spec.submodule_search_locations))) / "core" / "StopwordsList" / "stopwords_en.txt"
    words = {w.strip().lower() for w in path.read_text(encoding="utf-8").split()}
    return frozenset(w for w in words if len(w) > 1 or w == "a")


def query_terms(text: str) -> list[str]:
    """Distinct searchable words of free text, in order: lower-cased, stop words dropped."""
    stop = english_stop_words()
    terms: list[str] = []
    for token in _TOKEN.findall(text.lower()):
        if token not in stop and token not in terms:
            terms.append(token)
    return terms


def fts_match_expression(terms: Sequence[str]) -> str:
    """An FTS5 query that ORs the terms. Every term is a quoted string, so user input can never be
    read as FTS5 syntax (AND, NEAR(, *, -, column filters)."""
    return " OR ".join('"' + term.replace('"', '""') + '"' for term in terms)


def keyword_query_plan(frequencies: dict[str, int], budget: int) -> tuple[list[str], list[str]]:
    """Split query terms into (rare, common): the rarest terms whose chunks add up to at most
    `budget` (at least one term), and the rest. Terms no chunk holds are left out of both.

    `frequencies` maps each term to the number of chunks holding it (it may be capped past `budget`).
    Search ranks only chunks holding a rare term: see SqliteVectorIndex.search_keyword for why, and
    why every term still counts in their scores.
    """
    present = sorted((t for t, n in frequencies.items() if n > 0), key=lambda t: (frequencies[t], t))
    rare: list[str] = []
    candidates = 0
    for term in present:
        if rare and candidates + frequencies[term] > budget:
            break
        rare.append(term)
        candidates += frequencies[term]
    # Each common term costs a scan of its whole posting list (bm25() counts its documents), and past
    # a few dozen terms the commonest add almost nothing to the ranking.
    common = present[len(rare) : MAX_QUERY_TERMS]
    return rare, common


def _filter_sql(filters: SearchFilters, alias: str = "c") -> tuple[str, list[Any]]:
    """SQL conditions (joined by AND, or "" when none) and their parameters for `filters`."""
    clauses: list[str] = []
    params: list[Any] = []
    if filters.content_types:
        clauses.append(f"{alias}.content_type IN ({','.join('?' * len(filters.content_types))})")
        params.extend(filters.content_types)
    if filters.key_prefix:
        clauses.append(f"substr({alias}.key, 1, ?) = ?")
        params.extend([len(filters.key_prefix), filters.key_prefix])
    for name, value in filters.metadata:
        # json_each rather than json_extract: a metadata key may hold any character, and a JSON path
        # built from it would need escaping SQLite's path syntax does not offer.
        clauses.append(
            f"EXISTS (SELECT 1 FROM json_each({alias}.metadata) AS m WHERE m.key = ? AND m.value = ?)"
        )
        params.extend([name, value])
    if filters.document_ids:
        clauses.append(f"{alias}.document_id IN ({','.join('?' * len(filters.document_ids))})")
        params.extend(filters.document_ids)
    return " AND ".join(clauses), params


def _is_unfiltered(filters: SearchFilters) -> bool:
    return not (filters.content_types or filters.key_prefix or filters.metadata or filters.document_ids)


class _Facets:
    """What filters test, per group of rows sharing (document, key, content type, metadata): usually
    one group per document, so a filter is decided per document rather than per chunk.

    Inverted lists (content type, metadata pair, document -> groups) make a filter cost what it
    matches rather than one Python call per group; only a key prefix is tested against every key.
    It mirrors _filter_sql, which applies the same filters on the keyword side.
    """

    def __init__(self) -> None:
        self._ids: dict[tuple[str, str, str, str], int] = {}
        self.keys: list[str] = []
        self._keys_as_array = None
        self._by_content_type: dict[str, list[int]] = {}
        self._by_metadata: dict[tuple[str, str], list[int]] = {}
        self._by_document: dict[str, list[int]] = {}

    def __len__(self) -> int:
        return len(self.keys)

    def group(self, document_id: str, key: str, content_type: str, metadata_json: str) -> int:
        ident = (document_id, key, content_type, metadata_json)
        group = self._ids.get(ident)
        if group is None:
            group = self._ids[ident] = len(self.keys)
            self.keys.append(key)
            self._by_content_type.setdefault(content_type, []).append(group)
            self._by_document.setdefault(document_id, []).append(group)
            for pair in json.loads(metadata_json).items():
                self._by_metadata.setdefault(pair, []).append(group)
        return group

    def allowed(self, filters: SearchFilters):
        """A boolean mask over groups: those every set filter accepts."""
        import numpy as np

        ok = np.ones(len(self.keys), dtype=bool)
        if filters.content_types:
            ok &= self._any_of(self._by_content_type, filters.content_types)
        if filters.document_ids:
            ok &= self._any_of(self._by_document, filters.document_ids)
        for pair in filters.metadata:
            ok &= self._any_of(self._by_metadata, [pair])
        if filters.key_prefix:
            ok &= np.strings.startswith(self._key_array(), filters.key_prefix)
        return ok

    def _key_array(self):
        """The keys as a numpy string array, so a prefix test is one C loop, not a Python call per
        group; rebuilt on the first prefix search after new groups arrive."""
        import numpy as np

        if self._keys_as_array is None or len(self._keys_as_array) != len(self.keys):
            self._keys_as_array = np.array(self.keys, dtype=np.str_)
        return self._keys_as_array

    def _any_of(self, inverted: dict, values: Iterable):
        import numpy as np

        mask = np.zeros(len(self.keys), dtype=bool)
        for value in values:
            mask[inverted.get(value, [])] = True
        return mask


def _dot_rows(matrix, vector):
    """matrix @ vector, through einsum's single-threaded SIMD loop rather than BLAS: the product is
    memory-bound, so BLAS threads add nothing, and on a busy two-core machine they spin waiting for a
    core (measured at 100k x 384 under load: einsum p50 10 ms / p95 19 ms, BLAS 24 ms / 39 ms)."""
    import numpy as np

    return np.einsum("ij,j->i", matrix, vector)


class _VectorMatrix:
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
        self.facets = _Facets()
        self._rows_of_document: dict[str, list[int]] = {}
        self.dead = 0

    def remove_documents(self, document_ids: Iterable[str]) -> None:
        for document_id in document_ids:
            for row in self._rows_of_document.pop(document_id, ()):
                self.alive[row] = False
                self.dead += 1

    def append(self, rows: Sequence[tuple[int, str, str, str, str, bytes]]) -> None:
        """Add (rowid, document_id, key, content_type, metadata_json, vector_blob) rows."""
        import numpy as np

        if not rows:
            return
        self._reserve(self.size + len(rows))
        start, end = self.size, self.size + len(rows)
        blob = b"".join(r[5] for r in rows)
        self.vectors[start:end] = np.frombuffer(blob, dtype=np.float32).reshape(len(rows), self.dimensions)
        self.rowids[start:end] = [r[0] for r in rows]
        self.group_of_row[start:end] = [self.facets.group(r[1], r[2], r[3], r[4]) for r in rows]
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
        """A boolean mask over rows: alive and matching the filters."""

        alive = self.alive[: self.size]
        if _is_unfiltered(filters):
            return alive
        return alive & self.facets.allowed(filters)[self.group_of_row[: self.size]]

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


class SqliteVectorIndex(VectorIndex):
    """A VectorIndex in one SQLite file, safe to share between threads and processes."""

    def __init__(self, path: Path, dimensions: int, busy_timeout_s: float = 30.0):
        self.path = Path(path)
        self.dimensions = dimensions
        self._busy_timeout_s = busy_timeout_s
        self._local = threading.local()
        # Each connection and the thread it serves. A thread-per-request server (chalice local) would
        # otherwise leave one open connection, with its file handles and page cache, per request served.
        self._owners: dict[sqlite3.Connection, threading.Thread] = {}
        self._connections_lock = threading.Lock()
        # Guards the in-memory matrix; searches take it for their whole duration.
        self._matrix_lock = threading.Lock()
        self._matrix: _VectorMatrix | None = None
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

    def close(self) -> None:
        with self._connections_lock:
            for connection in self._owners:
                connection.close()
            self._owners.clear()
        self._local = threading.local()

    def _create_schema(self) -> None:
        db = self._connection()
        # One script in one transaction, so two processes opening a new file at once cannot interleave.
        db.executescript(f"BEGIN IMMEDIATE;\n{_SCHEMA}\nCOMMIT;")
        db.execute(
            "INSERT OR IGNORE INTO meta (name, value) VALUES ('dimensions', ?)", (str(self.dimensions),)
        )
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
            db.execute("DELETE FROM chunks WHERE document_id = ?", (document_id,))
            db.executemany(
                "INSERT INTO chunks (chunk_id, document_id, version, ordinal, page, key, content_type,"
                " metadata, text, vector) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            self._log_change(db, document_id)

    def delete_document(self, document_id: str) -> int:
        with self._write_transaction() as db:
            removed = db.execute("DELETE FROM chunks WHERE document_id = ?", (document_id,)).rowcount
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
            version,
            chunk.ordinal,
            chunk.page,
            indexed.key,
            indexed.content_type,
            metadata,
            chunk.text,
            vector.astype("<f4").tobytes(),
        )

    @staticmethod
    def _log_change(db: sqlite3.Connection, document_id: str) -> None:
        generation = db.execute("INSERT INTO changes (document_id) VALUES (?)", (document_id,)).lastrowid
        db.execute("DELETE FROM changes WHERE generation <= ?", (generation - CHANGE_LOG_KEEP,))

    def _write_transaction(self) -> _Transaction:
        # IMMEDIATE takes the write lock up front: two writers queue on busy_timeout instead of one
        # failing with "database is locked" when it tries to upgrade a read transaction.
        return _Transaction(self._connection(), "BEGIN IMMEDIATE")

    # -- reads ---------------------------------------------------------------------------------

    def count(self, document_id: str | None = None) -> int:
        db = self._connection()
        if document_id is None:
            return db.execute("SELECT count(*) FROM chunks").fetchone()[0]
        return db.execute("SELECT count(*) FROM chunks WHERE document_id = ?", (document_id,)).fetchone()[0]

    def search_vector(self, vector: Sequence[float], k: int, filters: SearchFilters) -> list[Hit]:
        import numpy as np

        query = np.asarray(vector, dtype=np.float32)
        if query.shape != (self.dimensions,):
            raise ValueError(f"query vector of {query.shape} for a {self.dimensions}-d index")
        norm = float(np.linalg.norm(query))
        if norm > 0:
            query = query / norm
        if k <= 0:
            return []
        # One read transaction for syncing the matrix and fetching the winners' rows: both see the same
        # snapshot, so every rowid the matrix returns still exists when its text is read.
        with self._matrix_lock, _Transaction(self._connection(), "BEGIN") as db:
            matrix = self._synced_matrix(db)
            best = matrix.top_k(query, k, filters)
            if not best:
                return []
            rows = self._rows_by_rowid(db, [rowid for rowid, _ in best])
        hits = [_hit(rows[rowid], score) for rowid, score in best if rowid in rows]
        # Equal scores in chunk_id order, so re-indexing a document (new rowids) cannot reorder ties.
        return sorted(hits, key=lambda hit: (-hit.score, hit.chunk_id))

    def search_keyword(self, query: str, k: int, filters: SearchFilters) -> list[Hit]:
        """The BM25 top k of the OR of the query's terms, computed by FTS5 on fewer chunks.

        FTS5 scores every chunk an expression matches, a few microseconds each, and an OR of ordinary
        words matches about half a corpus (46% of SciFact's abstracts for the median test query): at
        100k chunks, far too slow. But the best BM25 matches nearly always hold one of the query's
        rarer terms. So only chunks holding a rare term (keyword_query_plan) are ranked, in two
        queries: `rare` scores each by its rare terms alone, exact for chunks holding no common term
        and an underestimate for the others; `rare AND common` scores the chunks holding a common
        term too, exactly (bm25() is a sum over the query's phrases, each weighted by its true
        document frequency). Merging the two top-k lists, exact scores winning, gives the exact
        top k among chunks holding a rare term: a chunk whose underestimate is all we have missed
        the exact list's top k, so k chunks score above it.

        Chunks holding only common terms are the approximation. On SciFact it changes nDCG@10 by
        less than 0.001 even with a budget of 1% of the corpus; on 100k chunks of SciFact sentences
        the top 10 equals the plain OR query's for 297 of the 300 test queries, at a quarter of the cost.
        """
        terms = query_terms(query)
        if not terms or k <= 0:
            return []
        db = self._connection()
        # One snapshot for the frequency counts and the queries they shape.
        with _Transaction(db, "BEGIN"):
            frequencies = {term: self._capped_frequency(db, term) for term in terms}
            rare, common = keyword_query_plan(frequencies, KEYWORD_CANDIDATE_BUDGET)
            if not rare:
                return []
            rare_any = fts_match_expression(rare)
            hits = self._bm25_top_k(db, rare_any, k, filters)
            if common:
                exact = self._bm25_top_k(db, f"({rare_any}) AND ({fts_match_expression(common)})", k, filters)
                hits = _best_of(hits, exact, k)
                if len(hits) < k:
                    # Fewer than k chunks (after filtering) hold a rare term: rank every chunk holding
                    # any term, which is exact and, this rarely, affordable.
                    hits = self._bm25_top_k(db, fts_match_expression(rare + common), k, filters)
        return hits

    @staticmethod
    def _capped_frequency(db: sqlite3.Connection, term: str) -> int:
        """How many chunks hold `term`, counted only up to just past the budget: beyond that the
        exact number changes nothing, and counting it would cost as much as the search it saves."""
        sql = "SELECT count(*) FROM (SELECT 1 FROM chunks_fts WHERE chunks_fts MATCH ? LIMIT ?)"
        return db.execute(sql, (fts_match_expression([term]), KEYWORD_CANDIDATE_BUDGET + 1)).fetchone()[0]

    @staticmethod
    def _bm25_top_k(db: sqlite3.Connection, expression: str, k: int, filters: SearchFilters) -> list[Hit]:
        where, params = _filter_sql(filters)
        # rank is bm25(): negative, and more negative for better matches.
        sql = (
            f"SELECT {_HIT_COLUMNS}, -chunks_fts.rank FROM chunks_fts JOIN chunks AS c"
            f" ON c.rowid = chunks_fts.rowid WHERE chunks_fts MATCH ?{' AND ' + where if where else ''}"
            " ORDER BY chunks_fts.rank LIMIT ?"
        )
        return [_hit(row[:-1], row[-1]) for row in db.execute(sql, [expression, *params, k])]

    # -- the in-memory matrix ------------------------------------------------------------------

    def _synced_matrix(self, db: sqlite3.Connection) -> _VectorMatrix:
        """The matrix, brought up to the generation `db`'s snapshot sees. Caller holds _matrix_lock."""
        generation, oldest = db.execute(
            "SELECT coalesce(max(generation), 0), min(generation) FROM changes"
        ).fetchone()
        matrix = self._matrix
        if matrix is not None and generation == self._generation:
            return matrix
        if matrix is None or oldest is None or oldest > self._generation + 1:
            # The first search, or the change log no longer reaches back to our generation.
            matrix = _VectorMatrix(self.dimensions)
            matrix.append(db.execute(f"SELECT {_MATRIX_COLUMNS} FROM chunks ORDER BY rowid").fetchall())
        else:
            changed = [
                r[0]
                for r in db.execute(
                    "SELECT DISTINCT document_id FROM changes WHERE generation > ?", (self._generation,)
                )
            ]
            matrix.remove_documents(changed)
            for batch in _batches(changed, 500):
                matrix.append(
                    db.execute(
                        f"SELECT {_MATRIX_COLUMNS} FROM chunks"
                        f" WHERE document_id IN ({','.join('?' * len(batch))}) ORDER BY rowid",
                        batch,
                    ).fetchall()
                )
            matrix.compact_if_sparse()
        self._matrix, self._generation = matrix, generation
        return matrix

    @staticmethod
    def _rows_by_rowid(db: sqlite3.Connection, rowids: list[int]) -> dict[int, tuple]:
        sql = f"SELECT {_HIT_COLUMNS} FROM chunks AS c WHERE c.rowid IN ({','.join('?' * len(rowids))})"
        return {row[0]: row for row in db.execute(sql, rowids)}


_MATRIX_COLUMNS = "rowid, document_id, key, content_type, metadata, vector"


def _hit(row: tuple, score: float) -> Hit:
    _, chunk_id, document_id, text, key, page, content_type, metadata = row
    return Hit(
        chunk_id=chunk_id,
        document_id=document_id,
        score=float(score),
        text=text,
        key=key,
        page=page,
        content_type=content_type,
        metadata=json.loads(metadata),
    )


def _best_of(underestimated: list[Hit], exact: list[Hit], k: int) -> list[Hit]:
    """The k best of two rankings of the same query, a chunk's exact score replacing its underestimate."""
    best = {hit.chunk_id: hit for hit in underestimated}
    best.update((hit.chunk_id, hit) for hit in exact)
    return sorted(best.values(), key=lambda hit: (-hit.score, hit.chunk_id))[:k]


def _batches(items: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class _Transaction:
    """BEGIN ... COMMIT on a connection in autocommit mode; ROLLBACK if the block raises."""

    def __init__(self, connection: sqlite3.Connection, begin: str):
        self.connection = connection
        self.begin = begin

    def __enter__(self) -> sqlite3.Connection:
        self.connection.execute(self.begin)
        return self.connection

    def __exit__(self, exc_type, exc, tb) -> None:
        self.connection.execute("ROLLBACK" if exc_type else "COMMIT")
