"""The index file's tables, and how the rows read back from them become Hits."""

from __future__ import annotations

import json

from chalicelib.model import Chunk, EmbeddingModel, Hit, IndexedChunk

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS chunks (
    rowid INTEGER PRIMARY KEY AUTOINCREMENT,
    chunk_id TEXT NOT NULL UNIQUE,
    document_id TEXT NOT NULL,
    tenant TEXT NOT NULL,
    version TEXT NOT NULL,
    ordinal INTEGER NOT NULL,
    page INTEGER,
    key TEXT NOT NULL,
    content_type TEXT NOT NULL,
    metadata TEXT NOT NULL,
    text TEXT NOT NULL,
    vector BLOB NOT NULL,
    model_id TEXT NOT NULL DEFAULT '',
    dimensions INTEGER NOT NULL DEFAULT 0
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

# One row of SqliteVectorIndex._row, in its order.
INSERT_CHUNK = (
    "INSERT INTO chunks (chunk_id, document_id, tenant, version, ordinal, page, key, content_type, metadata,"
    " text, vector, model_id, dimensions, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)

# What a search reads of each winning chunk (table alias c), in the order hit_from_row expects.
HIT_COLUMNS = (
    "c.rowid, c.chunk_id, c.document_id, c.text, c.key, c.page, c.content_type, c.metadata, c.version"
)

# What the vector matrix loads of each chunk, in the order VectorMatrix.append expects.
MATRIX_COLUMNS = "rowid, document_id, key, content_type, metadata, vector, tenant, created_at"

# A file written before chunks carried their tenant gains the column; its old chunks get the empty
# tenant, which no caller has, so no search returns them until their documents are indexed again.
ADD_TENANT_COLUMN = "ALTER TABLE chunks ADD COLUMN tenant TEXT NOT NULL DEFAULT ''"
# Likewise created_at (the `created_at` filter key): chunks written before it read as created at ''.
ADD_CREATED_AT_COLUMN = "ALTER TABLE chunks ADD COLUMN created_at TEXT NOT NULL DEFAULT ''"

# A file written before chunks carried their embedding model gains the columns, empty for old chunks
# (the file's meta row names the model they were all made with, see SqliteVectorIndex).
ADD_MODEL_COLUMNS = (
    "ALTER TABLE chunks ADD COLUMN model_id TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE chunks ADD COLUMN dimensions INTEGER NOT NULL DEFAULT 0",
)

# What a re-embed reads back of each chunk, in the order chunk_from_row expects.
EXPORT_COLUMNS = (
    "chunk_id, document_id, tenant, version, ordinal, page, key, content_type, metadata, text,"
    " model_id, dimensions, created_at"
)


def chunk_from_row(row: tuple, model: EmbeddingModel) -> IndexedChunk:
    """The IndexedChunk of a row of EXPORT_COLUMNS, without its vector (a re-embed makes a new one)."""
    (
        chunk_id,
        document_id,
        tenant,
        version,
        ordinal,
        page,
        key,
        content_type,
        metadata,
        text,
        *_,
        created_at,
    ) = row
    return IndexedChunk(
        chunk=Chunk(chunk_id=chunk_id, document_id=document_id, ordinal=ordinal, text=text, page=page),
        vector=[],
        version=version,
        key=key,
        content_type=content_type,
        metadata=json.loads(metadata),
        tenant=tenant,
        created_at=created_at,
        model_id=model.model_id,
        dimensions=model.dimensions,
    )


def hit_from_row(row: tuple, score: float) -> Hit:
    """The Hit for a row of HIT_COLUMNS, scored `score`."""
    _, chunk_id, document_id, text, key, page, content_type, metadata, version = row
    return Hit(
        chunk_id=chunk_id,
        document_id=document_id,
        score=float(score),
        text=text,
        key=key,
        page=page,
        content_type=content_type,
        metadata=json.loads(metadata),
        version=version,
    )
