"""Transactions on a SQLite connection in autocommit mode: BEGIN ... COMMIT blocks, and batching of ids.

The index opens its connections with isolation_level=None and issues BEGIN/COMMIT itself, so a
document's replacement is exactly one transaction; these are the blocks it (and its change log) use.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterable


class Transaction:
    """BEGIN ... COMMIT on a connection in autocommit mode; ROLLBACK if the block raises."""

    def __init__(self, connection: sqlite3.Connection, begin: str):
        self.connection = connection
        self.begin = begin

    def __enter__(self) -> sqlite3.Connection:
        self.connection.execute(self.begin)
        return self.connection

    def __exit__(self, exc_type, exc, tb) -> None:
        self.connection.execute("ROLLBACK" if exc_type else "COMMIT")


def reading(db: sqlite3.Connection) -> contextlib.AbstractContextManager:
    """A read transaction, unless `db` is already in one (retire's catch-up runs inside its lock)."""
    return contextlib.nullcontext(db) if db.in_transaction else Transaction(db, "BEGIN")


def batches(items: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
