"""The live chunk index behind an alias, and a re-embed's switch of that alias.

Search and writes go through the alias QUARRY_OPENSEARCH_INDEX; the concrete index behind it is
`<alias>-<model-slug>-<time>`, created with the alias in the same request. A re-embed builds another
concrete index and moves the alias with one `POST _aliases` of remove + add, which OpenSearch applies
atomically. AWS lists `POST _aliases` among OpenSearch Serverless's supported operations (permission
`aoss:UpdateIndex`, see docs/DEPLOY.md); osmem-server, the tests' engine, implements it too.

Reads resolve the alias at most every `resolve_ttl_s` and then query the concrete index, so a process
that has not yet seen a switch keeps answering from the old index (complete, and of one model)
rather than sending old-model vectors to the new one. Writes resolve it afresh before and after each
write: a write that raced the switch raises IndexSwitched and, retried, goes to the new index.
An index made before aliases (a concrete index named like the alias) keeps working as the live index;
the first re-embed replaces it, with `remove_index` in the same atomic request.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from opensearchpy.exceptions import NotFoundError

from chalicelib.adapters.opensearch.index import OpenSearchVectorIndex
from chalicelib.adapters.opensearch.mapping import index_body
from chalicelib.adapters.opensearch.queries import VISIBILITY_LAG_S
from chalicelib.model import EmbeddingModel, Hit, IndexedChunk, IndexSwitched, SearchFilters
from chalicelib.ports import IndexSwitchboard, ReembedSource, VectorIndex


class OpenSearchLiveIndex(VectorIndex, ReembedSource):
    def __init__(
        self,
        client: Any,
        alias: str,
        model: EmbeddingModel,
        *,
        resolve_ttl_s: float = 10.0,
        resolve_clock: Callable[[], float] = time.monotonic,
        **index_options: Any,
    ):
        self.client = client
        self.alias = alias
        self.model = model
        self.resolve_ttl_s = resolve_ttl_s
        self._clock = resolve_clock
        self._index_options = index_options
        self._lock = threading.Lock()
        self._resolved: tuple[str | None, float] | None = None
        self._open: dict[str, OpenSearchVectorIndex] = {}

    # -- the alias --------------------------------------------------------------------------------

    def resolve(self, fresh: bool = False) -> str | None:
        """The concrete index the alias names (the alias's own name for an index made before
        aliases); None when there is neither."""
        with self._lock:
            if not fresh and self._resolved and self._clock() - self._resolved[1] < self.resolve_ttl_s:
                return self._resolved[0]
        try:
            named = list(self.client.indices.get_alias(name=self.alias))
        except NotFoundError:
            named = [self.alias] if self.client.indices.exists(index=self.alias) else []
        concrete = named[0] if named else None
        with self._lock:
            self._resolved = (concrete, self._clock())
        return concrete

    def concrete(self, name: str, model: EmbeddingModel | None = None) -> OpenSearchVectorIndex:
        with self._lock:
            index = self._open.get(name)
            if index is None:
                model = model or self.model
                index = self._open[name] = OpenSearchVectorIndex(
                    self.client, name, model.dimensions, model_id=model.model_id, **self._index_options
                )
            return index

    def _first_index(self) -> str:
        """Create the first concrete index with the alias on it (one request), unless another
        process just did. Its name carries the epoch rather than the time, so that workers racing to
        create it collide on one name instead of putting the alias on two indexes."""
        name = concrete_name(self.alias, self.model, 0)
        try:
            body = index_body(self.model.dimensions, self.model, self.alias)
            self.client.indices.create(index=name, body=body)
        except Exception:
            found = self.resolve(fresh=True)
            if found is None:
                raise
            return found
        self.resolve(fresh=True)
        return name

    def _for_reading(self) -> OpenSearchVectorIndex | None:
        name = self.resolve()
        return self.concrete(name) if name else None

    # -- writes -----------------------------------------------------------------------------------

    def _writing(self, write: Callable[[OpenSearchVectorIndex], Any]) -> Any:
        name = self.resolve(fresh=True) or self._first_index()
        result = write(self.concrete(name))
        if self.resolve(fresh=True) != name:
            raise IndexSwitched(f"the alias {self.alias} moved off {name} during the write")
        return result

    def replace_document(self, document_id: str, version: str, chunks: Sequence[IndexedChunk]) -> None:
        self._writing(lambda index: index.replace_document(document_id, version, chunks))

    def delete_document(self, document_id: str) -> int:
        try:
            return self._writing(lambda index: index.delete_document(document_id))
        except IndexSwitched:
            return self._writing(lambda index: index.delete_document(document_id))

    def sweep(self, document_id: str, keep_version: str | None) -> int:
        # Like a delete: a sweep that raced a switch runs again on the index the alias now names.
        try:
            return self._writing(lambda index: index.sweep(document_id, keep_version))
        except IndexSwitched:
            return self._writing(lambda index: index.sweep(document_id, keep_version))

    # -- reads ------------------------------------------------------------------------------------

    def count(self, document_id: str | None = None) -> int:
        index = self._for_reading()
        return index.count(document_id) if index else 0

    def search_vector(
        self, vector: Sequence[float], k: int, filters: SearchFilters, model: EmbeddingModel | None = None
    ) -> list[Hit]:
        index = self._for_reading()
        return index.search_vector(vector, k, filters, model) if index else []

    def search_keyword(self, query: str, k: int, filters: SearchFilters) -> list[Hit]:
        index = self._for_reading()
        return index.search_keyword(query, k, filters) if index else []

    def embedding_model(self) -> EmbeddingModel | None:
        index = self._for_reading()
        return index.embedding_model() if index else None

    def export(self, document_ids: Iterable[str] | None = None) -> Iterator[tuple[str, list[IndexedChunk]]]:
        index = self._for_reading()
        return index.export(document_ids) if index else iter(())

    def document_ids(self) -> set[str]:
        index = self._for_reading()
        return index.document_ids() if index else set()

    def change_marker(self) -> Any:
        return self._required().change_marker()

    def changed_since(self, marker: Any) -> tuple[list[str] | None, Any]:
        return self._required().changed_since(marker)

    def _required(self) -> OpenSearchVectorIndex:
        index = self._for_reading()
        if index is None:
            raise LookupError(f"no index behind {self.alias}")
        return index


def concrete_name(alias: str, model: EmbeddingModel, wall_clock_s: float) -> str:
    return f"{alias}-{model.slug}-{time.strftime('%Y%m%dt%H%M%S', time.gmtime(wall_clock_s))}"


class OpenSearchSwitchboard(IndexSwitchboard):
    def __init__(
        self,
        client: Any,
        alias: str,
        model: EmbeddingModel,
        *,
        settle_s: float = VISIBILITY_LAG_S,
        sleep: Callable[[float], None] = time.sleep,
        wall_clock_ns: Callable[[], int] = time.time_ns,
        **live_options: Any,
    ):
        self.client = client
        self.alias = alias
        self.settle_s = settle_s
        self._sleep = sleep
        self._wall_clock_ns = wall_clock_ns
        self._live = OpenSearchLiveIndex(client, alias, model, **live_options)

    def live(self) -> OpenSearchLiveIndex:
        return self._live

    def live_source(self) -> OpenSearchVectorIndex:
        name = self._live.resolve(fresh=True)
        if name is None:
            raise LookupError(f"no index behind {self.alias}: nothing to re-embed")
        return self._live.concrete(name)

    def name_of(self, index: VectorIndex) -> str:
        assert isinstance(index, OpenSearchVectorIndex)
        return index.index_name

    def create(self, model: EmbeddingModel) -> OpenSearchVectorIndex:
        name = concrete_name(self.alias, model, self._wall_clock_ns() / 1e9)
        index = self._live.concrete(name, model)
        index.ensure_index()
        return index

    def switch_to(self, index: VectorIndex, final_catch_up: Callable[[Callable[[str], bool]], None]) -> str:
        assert isinstance(index, OpenSearchVectorIndex)
        old = self.live_source().index_name
        final_catch_up(lambda _: False)
        switched_ns = self._wall_clock_ns()
        if old == self.alias:
            # An index made before aliases holds the alias's name: it goes in the same atomic step.
            actions = [
                {"remove_index": {"index": old}},
                {"add": {"index": index.index_name, "alias": self.alias}},
            ]
        else:
            actions = [
                {"remove": {"index": old, "alias": self.alias}},
                {"add": {"index": index.index_name, "alias": self.alias}},
            ]
        self.client.indices.update_aliases(body={"actions": actions})
        if old != self.alias:
            # AOSS shows a write about a minute after it: writes to the old index just before the
            # switch (and deletes) become visible only now. Take them again, except where the new index
            # has a newer write of the document, made after the switch.
            self._sleep(self.settle_s)
            final_catch_up(lambda document_id: index.written_since(document_id, switched_ns))
        return old
