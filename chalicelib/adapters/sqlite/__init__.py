"""The embedded vector index: one SQLite file holds the chunks, their vectors and an FTS5 index for BM25.

index.py    SqliteVectorIndex: connections, schema creation, writes and the search entry points
schema.py   the file's tables, and how the rows read back become Hits
vectors.py  exact cosine search over an in-memory matrix of every chunk's unit vector
keyword.py  query terms, the FTS5 match expression and BM25 ranking over the rarer terms' chunks
filters.py  SearchFilters as SQL (keyword side) and as a mask over facet groups (vector side)
live.py     which file is the live index (a pointer file a re-embed replaces), and switching it
"""

from chalicelib.adapters.sqlite.index import SqliteVectorIndex

__all__ = ["SqliteVectorIndex"]
