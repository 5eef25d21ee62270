"""What a re-embed reads from a SQLite index file: its chunks by document, and the change log.

Each write appends a row to the `changes` table (log_change, in the write's own transaction); a
re-embed takes a marker (the log's last generation), copies every document (export_documents), then
catches up on the documents written since its marker (changed_since). The vector matrix reads the
same log to reload only what changed (index.py).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator

from chalicelib.adapters.sqlite.schema import EXPORT_COLUMNS, chunk_from_row
from chalicelib.adapters.sqlite.transactions import batches, reading
from chalicelib.model import EmbeddingModel, IndexedChunk

# How many change-log rows the writer keeps. A reader further behind than this reloads everything,
# which is correct, only slower; the log itself stays small.
CHANGE_LOG_KEEP = 10_000


def log_change(db: sqlite3.Connection, document_id: str) -> None:
    """Record that `document_id` was written, inside the write's transaction; trim the log."""
    generation = db.execute("INSERT INTO changes (document_id) VALUES (?)", (document_id,)).lastrowid
    db.execute("DELETE FROM changes WHERE generation <= ?", (generation - CHANGE_LOG_KEEP,))


def export_documents(
    db: sqlite3.Connection, model: EmbeddingModel, document_ids: Iterable[str] | None
) -> Iterator[tuple[str, list[IndexedChunk]]]:
    """Each document's chunks (all documents, or those named), in ordinal order."""
    if document_ids is None:
        # Document ids first, then each document's rows: never the whole file in memory at once.
        with reading(db):
            listed = db.execute("SELECT DISTINCT document_id FROM chunks ORDER BY 1")
            document_ids = [r[0] for r in listed]
    for batch in batches(list(document_ids), 200):
        with reading(db):
            rows = db.execute(
                f"SELECT {EXPORT_COLUMNS} FROM chunks WHERE document_id IN ({','.join('?' * len(batch))})"
                " ORDER BY document_id, ordinal",
                batch,
            ).fetchall()
        by_document: dict[str, list[IndexedChunk]] = {}
        for row in rows:
            by_document.setdefault(row[1], []).append(chunk_from_row(row, model))
        yield from by_document.items()


def change_marker(db: sqlite3.Connection) -> int:
    return db.execute("SELECT coalesce(max(generation), 0) FROM changes").fetchone()[0]


def changed_since(db: sqlite3.Connection, marker: int) -> tuple[list[str] | None, int]:
    """The documents written after `marker` and the new marker; None when the log was trimmed past it."""
    with reading(db):
        now, oldest = db.execute(
            "SELECT coalesce(max(generation), 0), min(generation) FROM changes"
        ).fetchone()
        if now > marker and (oldest is None or oldest > marker + 1):
            return None, now  # the log was trimmed past the marker
        changed = [
            r[0]
            for r in db.execute(
                "SELECT DISTINCT document_id FROM changes WHERE generation > ? AND generation <= ?",
                (marker, now),
            )
        ]
    return changed, now
