"""Which SQLite file is the live index, and switching it: a pointer file that a re-embed replaces.

`index.current` in the state directory names the live file (`index.sqlite3` while there is no
pointer, as before re-embeds existed). A re-embed builds `index-<model>-<time>.sqlite3` beside it and
switches by replacing the pointer with os.replace, which is atomic on POSIX: every process sees the
old name or the new one. Renaming the new file over `index.sqlite3` would not do: a process with the
old file open keeps reading its inode, while SQLite finds the -wal and -shm files by name.

LiveSqliteIndex is what the API and the worker hold: each call looks at the pointer (one stat) and
goes to the file it names, so a switch reaches every process at its next call, without a restart.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from chalicelib.adapters.sqlite.index import SqliteVectorIndex
from chalicelib.model import EmbeddingModel, Hit, IndexedChunk, IndexSwitched, SearchFilters
from chalicelib.ports import IndexSwitchboard, ReembedSource, VectorIndex

POINTER = "index.current"
FIRST_INDEX = "index.sqlite3"


class SqliteSwitchboard(IndexSwitchboard):
    def __init__(self, home: Path, model: EmbeddingModel, clock: Callable[[], float] = time.time):
        self.home = Path(home)
        self.model = model
        self._clock = clock
        self._live: LiveSqliteIndex | None = None

    def live(self) -> LiveSqliteIndex:
        if self._live is None:
            self._live = LiveSqliteIndex(self.home, self.model)
        return self._live

    def live_source(self) -> SqliteVectorIndex:
        return self.live().current()

    def name_of(self, index: VectorIndex) -> str:
        assert isinstance(index, SqliteVectorIndex)
        return index.path.name

    def create(self, model: EmbeddingModel) -> SqliteVectorIndex:
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(self._clock()))
        path = self.home / f"index-{model.slug}-{stamp}.sqlite3"
        if path.exists():
            raise FileExistsError(f"{path} exists: another re-embed started this second")
        return SqliteVectorIndex(path, model.dimensions, model_id=model.model_id)

    def switch_to(self, index: VectorIndex, final_catch_up: Callable[[Callable[[str], bool]], None]) -> str:
        assert isinstance(index, SqliteVectorIndex)
        old = self.live().current()
        # Under the old file's write lock no write can land between the catch-up and the switch, and
        # SQLite's reads see every commit: one catch-up, skipping nothing, is the last.
        name = index.path.name
        old.retire(name, lambda: final_catch_up(lambda _: False), lambda: point_at(self.home, name))
        return old.path.name


def point_at(home: Path, name: str) -> None:
    """Make `name` the live index file, atomically (write a temporary pointer, then os.replace it)."""
    temporary = home / f"{POINTER}.{os.getpid()}.{threading.get_ident()}"
    temporary.write_text(name + "\n", encoding="utf-8")
    os.replace(temporary, home / POINTER)


class LiveSqliteIndex(VectorIndex, ReembedSource):
    """The VectorIndex of whichever file the pointer names now."""

    lookups_see_writes = True

    def __init__(self, home: Path, model: EmbeddingModel):
        self.home = Path(home)
        # The model a first index file is created with; an existing file keeps its own.
        self.model = model
        self._lock = threading.Lock()
        self._seen: tuple[int, int] | None = None
        self._name = ""
        self._open: dict[str, SqliteVectorIndex] = {}

    def current(self) -> SqliteVectorIndex:
        pointer = self.home / POINTER
        try:
            stat = pointer.stat()
            seen = (stat.st_ino, stat.st_mtime_ns)
        except FileNotFoundError:
            seen = None
        with self._lock:
            if seen != self._seen or not self._name:
                self._name = pointer.read_text(encoding="utf-8").strip() if seen else FIRST_INDEX
                self._seen = seen
            return self._opened(self._name)

    def _opened(self, name: str) -> SqliteVectorIndex:
        index = self._open.get(name)
        if index is None:
            path = self.home / name
            dimensions = self.model.dimensions if name == FIRST_INDEX else _recorded_dimensions(path)
            model_id = self.model.model_id if name == FIRST_INDEX else None
            index = self._open[name] = SqliteVectorIndex(path, dimensions, model_id=model_id)
        return index

    def close(self) -> None:
        with self._lock:
            for index in self._open.values():
                index.close()
            self._open.clear()

    # -- writes: a write that reaches a file a re-embed just retired goes to its successor ---------

    def _writing(self, write: Callable[[SqliteVectorIndex], Any]) -> Any:
        try:
            return write(self.current())
        except IndexSwitched:
            return write(self.current())

    def replace_document(self, document_id: str, version: str, chunks: Sequence[IndexedChunk]) -> None:
        self._writing(lambda index: index.replace_document(document_id, version, chunks))

    def delete_document(self, document_id: str) -> int:
        return self._writing(lambda index: index.delete_document(document_id))

    def sweep(self, document_id: str, keep_version: str | None) -> int:
        return self._writing(lambda index: index.sweep(document_id, keep_version))

    # -- reads --------------------------------------------------------------------------------

    def count(self, document_id: str | None = None) -> int:
        return self.current().count(document_id)

    def search_vector(
        self, vector: Sequence[float], k: int, filters: SearchFilters, model: EmbeddingModel | None = None
    ) -> list[Hit]:
        return self.current().search_vector(vector, k, filters, model)

    def search_keyword(self, query: str, k: int, filters: SearchFilters) -> list[Hit]:
        return self.current().search_keyword(query, k, filters)

    def embedding_model(self) -> EmbeddingModel | None:
        return self.current().embedding_model()

    def export(self, document_ids: Iterable[str] | None = None) -> Iterator[tuple[str, list[IndexedChunk]]]:
        return self.current().export(document_ids)

    def document_ids(self) -> set[str]:
        return self.current().document_ids()

    def change_marker(self) -> Any:
        return self.current().change_marker()

    def changed_since(self, marker: Any) -> tuple[list[str] | None, Any]:
        return self.current().changed_since(marker)


def _recorded_dimensions(path: Path) -> int:
    """The vector size a re-embed recorded in the file it built (its meta table)."""
    import contextlib
    import sqlite3

    if not path.exists():
        raise FileNotFoundError(f"the index pointer names {path.name}, which does not exist in {path.parent}")
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        return int(db.execute("SELECT value FROM meta WHERE name = 'dimensions'").fetchone()[0])
