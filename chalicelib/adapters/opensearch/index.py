"""Chunks in an Amazon OpenSearch Serverless vector collection: k-NN and BM25 over one index.

AOSS is not OpenSearch, and four differences shape this adapter (AWS's "Supported operations and plugins
in Amazon OpenSearch Serverless"; opensearch-py#792 for the _id):

- It assigns every document's _id and rejects ours. chunk_id and document_id are plain fields, and
  removing chunks means finding their _ids with a search (paged with search_after: there is no scroll)
  and deleting those _ids in a bulk request (there is no delete_by_query).
- `_bulk` answers 200 even when items fail. Every item's status is checked; items that failed with 429
  or 5xx are sent again with backoff, any other failure is permanent.
- There is no refresh: a write becomes searchable about a minute later. A document's replacement
  therefore cannot be atomic. Each replace_document writes a new *generation* (a string that sorts by
  write time) and then deletes the document's other generations it can see. Readers over-fetch and
  keep, per document, only the hits of the newest generation among the results, so a search never
  mixes two versions of a document, whichever of the writes and deletes are visible yet. (Within the
  lag a query that only the old text matches still finds the old version, alone. The port's other
  promise, never no version while one existed, can slip for a moment if the deletes of the old chunks
  become visible before the new chunks do. Generations compare wall clocks of different Lambdas, so
  two writes of one document less than the clock skew apart may be ordered wrongly.)
- Deletes lag too, and a lookup cannot see chunks written in the last minute: a version replaced
  within a minute of being written is left behind (hidden by the rule above, but still stored and
  counted). `sweep` (the port's, run by the delayed sweep minutes after every write and delete of a
  document, chalicelib/sweeps.py) keeps only the generation the catalog names and deletes the rest;
  `sweep_document` deletes every generation but the newest. Both are safe to run at any time.

Vectors: Titan V2 and the local embedders return unit vectors, whose inner product is their cosine
similarity. So the field uses faiss HNSW (the AOSS engine that supports filtering inside the k-NN
search) with the `innerproduct` space, and scores are mapped back to the cosine the port promises.

The request bodies are built in queries.py, `_bulk` retries in bulk.py, write checks in checks.py.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from opensearchpy.exceptions import NotFoundError, RequestError

from chalicelib.adapters.aws_retry import Backoff, call_with_backoff
from chalicelib.adapters.opensearch.bulk import send_bulk
from chalicelib.adapters.opensearch.checks import check_chunks, check_models
from chalicelib.adapters.opensearch.client import (
    BulkAction,
    batches,
    classify_opensearch_error,
    describe_opensearch_error,
    opensearch_configuration_fix,
)
from chalicelib.adapters.opensearch.mapping import (
    MODEL_FIELDS,
    TYPED_FILTER_FIELDS,
    VECTOR_FIELD,
    chunk_from_source,
    chunk_source,
    cosine_from_knn_score,
    hit_from_source,
    index_body,
    newest_generation_only,
    recorded_model,
)
from chalicelib.adapters.opensearch.queries import (
    candidates,
    documents_query,
    entry_ids_query,
    keyword_search_body,
    new_generation,
    newest_generation_body,
    paged_body,
    vector_search_body,
    written_since_query,
)
from chalicelib.model import (
    DocumentError,
    EmbeddingModel,
    Hit,
    IndexedChunk,
    IndexModelMismatch,
    SearchFilters,
    TransientError,
)
from chalicelib.ports import ReembedSource, VectorIndex

logger = logging.getLogger(__name__)


class OpenSearchVectorIndex(VectorIndex, ReembedSource):
    """One concrete index. Its mapping's `_meta` records the embedding model (the constructor's
    `model_id` and `dimensions`, when ensure_index creates it); chunks of another model are refused.
    The alias that search goes through, and switching it, are in aliases.py."""

    def __init__(
        self,
        client: Any,
        index_name: str,
        dimensions: int,
        *,
        overfetch: int = 3,
        bulk_batch_size: int = 200,
        page_size: int = 1000,
        write_deadline_s: float = 60.0,
        search_deadline_s: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        wall_clock_ns: Callable[[], int] = time.time_ns,
        model_id: str | None = None,
    ):
        self.client = client
        self.model_id = model_id
        self._recorded: EmbeddingModel | None = None
        self.index_name = index_name
        self.dimensions = dimensions
        self.overfetch = overfetch
        self.bulk_batch_size = bulk_batch_size
        self.page_size = page_size
        self.write_deadline_s = write_deadline_s
        self.search_deadline_s = search_deadline_s
        self._sleep = sleep
        self._clock = clock
        self._wall_clock_ns = wall_clock_ns
        self._index_ready = False

    # -- index ------------------------------------------------------------------------------------

    def ensure_index(self) -> None:
        """Create the index if it is missing, recording the model; if it exists, read its model
        (IndexModelMismatch if its vectors are of another size than this adapter's)."""
        model = EmbeddingModel(self.model_id, self.dimensions) if self.model_id else None

        def create() -> bool:
            if self.client.indices.exists(index=self.index_name):
                return False
            try:
                self.client.indices.create(index=self.index_name, body=index_body(self.dimensions, model))
            except RequestError as err:
                # Another worker created it between our check and our create.
                if err.error != "resource_already_exists_exception":
                    raise
                return False
            return True

        if self._call(create, self.write_deadline_s):
            self._recorded = model
        else:
            mapping = self._mapping() or {}
            mapped = mapping.get("properties", {}).get(VECTOR_FIELD, {}).get("dimension")
            holds = recorded_model(mapping)
            if holds is None and mapped is not None:
                # An index made before models were recorded: its vectors are taken to be the
                # configured model's when their size agrees (see docs/DEPLOY.md, Re-embedding).
                holds = EmbeddingModel(self.model_id or "", int(mapped))
                self._add_model_fields(mapping)
            if holds is not None and holds.dimensions != self.dimensions:
                offered = model or EmbeddingModel("", self.dimensions)
                raise IndexModelMismatch(f"index {self.index_name}", holds, offered, "the embedder")
            self._recorded = holds
            if mapping and not TYPED_FILTER_FIELDS.keys() <= mapping.get("properties", {}).keys():
                self._add_typed_filter_fields()
        self._index_ready = True

    def _add_typed_filter_fields(self) -> None:
        """Map the fields typed filters read on an index created before them: the mapping is strict,
        so chunks carrying them would be rejected. Adding fields is allowed on a live index."""
        body = {"properties": TYPED_FILTER_FIELDS}
        self._call(
            functools.partial(self.client.indices.put_mapping, index=self.index_name, body=body),
            self.write_deadline_s,
        )

    def embedding_model(self) -> EmbeddingModel | None:
        if self._recorded is None:
            mapping = self._mapping()
            if mapping is None:
                return None  # no index yet
            holds = recorded_model(mapping)
            mapped = mapping.get("properties", {}).get(VECTOR_FIELD, {}).get("dimension")
            if holds is None and mapped is not None and self.model_id:
                holds = EmbeddingModel(self.model_id, int(mapped))
            self._recorded = holds
        return self._recorded

    def _mapping(self) -> dict[str, Any] | None:
        def get() -> dict[str, Any] | None:
            try:
                return self.client.indices.get_mapping(index=self.index_name)
            except NotFoundError:
                return None

        response = self._call(get, self.search_deadline_s)
        return next(iter(response.values()))["mappings"] if response else None

    def _add_model_fields(self, mapping: dict[str, Any]) -> None:
        """Give an index made before chunks carried their model the two fields (strict mapping would
        reject every chunk otherwise)."""
        if "model_id" in mapping.get("properties", {}):
            return
        body = {"properties": MODEL_FIELDS}
        put = functools.partial(self.client.indices.put_mapping, index=self.index_name, body=body)
        self._call(put, self.write_deadline_s)

    def mapped_dimensions(self) -> int | None:
        """The vector size in the existing index's mapping; None if there is no index."""
        mapping = self._mapping()
        if mapping is None:
            return None
        return mapping.get("properties", {}).get(VECTOR_FIELD, {}).get("dimension")

    # -- writes -----------------------------------------------------------------------------------

    def replace_document(self, document_id: str, version: str, chunks: Sequence[IndexedChunk]) -> None:
        check_chunks(self.index_name, self.dimensions, self.model_id, document_id, chunks)
        if not self._index_ready:
            self.ensure_index()
        self._check_models(chunks)
        generation, indexed_at = self._new_generation()
        actions = [
            BulkAction("index", source=chunk_source(item, version, generation, indexed_at)) for item in chunks
        ]
        written: list[dict[str, Any]] = []
        try:
            for batch in batches(actions, self.bulk_batch_size):
                self._bulk(batch, written)
        except Exception:
            # A partial generation would be the newest one readers see, hiding the complete previous
            # version: remove what was written before reporting the failure.
            self._delete_quietly([result["_id"] for result in written])
            raise
        try:
            self._delete_ids(self._entry_ids(document_id, exclude_generation=generation))
        except (TransientError, DocumentError):
            # The new version is complete and readers already prefer it: failing the document now
            # would only redo the work. The leftovers wait for the delayed sweep or the next write.
            logger.warning("could not remove older chunks of %s", document_id, exc_info=True)

    def delete_document(self, document_id: str) -> int:
        return self._delete_ids(self._entry_ids(document_id))

    def sweep(self, document_id: str, keep_version: str | None) -> int:
        """Run by the delayed sweep (chalicelib/sweeps.py) minutes after the document's last write, when
        the lookups see every chunk: keep only the newest generation of `keep_version`, if any."""
        if keep_version is None:
            return self.delete_document(document_id)
        keep = self._newest_generation(document_id, version=keep_version)
        if keep is None:
            return self._delete_ids(self._entry_ids(document_id, exclude_version=keep_version))
        return self._delete_ids(self._entry_ids(document_id, exclude_generation=keep))

    def sweep_document(self, document_id: str) -> int:
        """Delete every chunk of the document outside its newest visible generation; how many."""
        newest = self._newest_generation(document_id)
        if newest is None:
            return 0
        return self._delete_ids(self._entry_ids(document_id, exclude_generation=newest))

    def count(self, document_id: str | None = None) -> int:
        query = {"term": {"document_id": document_id}} if document_id else {"match_all": {}}

        def run() -> int:
            try:
                return int(self.client.count(index=self.index_name, body={"query": query})["count"])
            except NotFoundError:
                return 0

        return self._call(run, self.search_deadline_s)

    # -- searches ---------------------------------------------------------------------------------

    def search_vector(
        self, vector: Sequence[float], k: int, filters: SearchFilters, model: EmbeddingModel | None = None
    ) -> list[Hit]:
        if len(vector) != self.dimensions or model is not None:
            holds = self.embedding_model() or EmbeddingModel(self.model_id or "", self.dimensions)
            offered = model or EmbeddingModel("a query embedder", len(vector))
            if len(vector) != holds.dimensions or (holds.model_id and offered != holds):
                raise IndexModelMismatch(f"index {self.index_name}", holds, offered, "the query vector")
        body = vector_search_body(vector, self._candidates(k), filters)
        return self._ranked(self._search(body), k, cosine_from_knn_score)

    def search_keyword(self, query: str, k: int, filters: SearchFilters) -> list[Hit]:
        body = keyword_search_body(query, self._candidates(k), filters)
        return self._ranked(self._search(body), k, float)

    # -- helpers ----------------------------------------------------------------------------------

    def _candidates(self, k: int) -> int:
        return candidates(k, self.overfetch)

    def _ranked(self, raw_hits: list[dict[str, Any]], k: int, score: Callable[[float], float]) -> list[Hit]:
        return [
            hit_from_source(raw["_source"], score(float(raw["_score"])))
            for raw in newest_generation_only(raw_hits)[:k]
        ]

    def _search(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        def run() -> list[dict[str, Any]]:
            try:
                return self.client.search(index=self.index_name, body=body)["hits"]["hits"]
            except NotFoundError:
                return []  # no index yet: nothing has been indexed

        return self._call(run, self.search_deadline_s)

    def _entry_ids(
        self, document_id: str, exclude_generation: str | None = None, exclude_version: str | None = None
    ) -> list[str]:
        """_ids of the document's stored chunks (all, or all outside one generation or one version),
        paged by search_after on entry_id."""
        query = entry_ids_query(document_id, exclude_generation, exclude_version)
        return [raw["_id"] for raw in self._paged(query, False)]

    def _newest_generation(self, document_id: str, version: str | None = None) -> str | None:
        body = newest_generation_body(document_id, version)
        page = self._search(body)
        return page[0]["_source"]["generation"] if page else None

    def _delete_ids(self, ids: Sequence[str]) -> int:
        done: list[dict[str, Any]] = []
        for batch in batches([BulkAction("delete", doc_id=doc_id) for doc_id in ids], self.bulk_batch_size):
            self._bulk(batch, done)
        return sum(1 for result in done if result.get("result") == "deleted")

    def _delete_quietly(self, ids: Sequence[str]) -> None:
        try:
            self._delete_ids(ids)
        except Exception:  # the original failure matters more; the delayed sweep finishes this
            logger.warning("could not remove %d chunks of a failed write", len(ids), exc_info=True)

    def _bulk(self, actions: Sequence[BulkAction], done: list[dict[str, Any]]) -> None:
        """Send `actions` (bulk.py), resending the items that failed with 429/5xx until the deadline."""
        backoff = Backoff(deadline_s=self.write_deadline_s, sleep=self._sleep, clock=self._clock)
        call = functools.partial(self._call, deadline_s=self.write_deadline_s)
        send_bulk(self.client, self.index_name, actions, done, call=call, backoff=backoff)

    def _call(self, fn: Callable[[], Any], deadline_s: float) -> Any:
        return call_with_backoff(
            fn,
            deadline_s=deadline_s,
            sleep=self._sleep,
            clock=self._clock,
            classify=classify_opensearch_error,
            describe=describe_opensearch_error,
            advise=opensearch_configuration_fix,
            provider="opensearch",
        )

    def _new_generation(self) -> tuple[str, str]:
        """A new generation label and its instant as an ISO date (queries.new_generation)."""
        return new_generation(self._wall_clock_ns())

    def _check_models(self, chunks: Sequence[IndexedChunk]) -> None:
        if chunks and (self._recorded is None or not self._recorded.model_id):
            # Made without a model (or before models were recorded): the first chunks name it.
            self._recorded = chunks[0].embedding_model
        check_models(self.index_name, self._recorded, chunks)

    # -- what a re-embed reads --------------------------------------------------------------------

    def export(self, document_ids: Iterable[str] | None = None) -> Iterator[tuple[str, list[IndexedChunk]]]:
        model = self.embedding_model() or EmbeddingModel(self.model_id or "", self.dimensions)
        ids = sorted(self.document_ids()) if document_ids is None else list(document_ids)
        for batch in batches(ids, 100):
            raw = self._paged(documents_query(batch), {"excludes": [VECTOR_FIELD]})
            by_document: dict[str, list[IndexedChunk]] = {}
            for hit in newest_generation_only(raw):
                source = hit["_source"]
                by_document.setdefault(source["document_id"], []).append(chunk_from_source(source, model))
            for document_id, chunks in by_document.items():
                yield document_id, sorted(chunks, key=lambda c: c.chunk.ordinal)

    def document_ids(self) -> set[str]:
        return {hit["_source"]["document_id"] for hit in self._paged({"match_all": {}}, ["document_id"])}

    def change_marker(self) -> str:
        return self._new_generation()[1]

    def changed_since(self, marker: str) -> tuple[list[str] | None, str]:
        now = self.change_marker()
        query = written_since_query(marker)
        return sorted({hit["_source"]["document_id"] for hit in self._paged(query, ["document_id"])}), now

    def written_since(self, document_id: str, wall_clock_ns: int) -> bool:
        """True when the document's newest chunks here were written at or after `wall_clock_ns`."""
        newest = self._newest_generation(document_id)
        return newest is not None and newest >= f"{wall_clock_ns:020d}"

    def _paged(self, query: dict[str, Any], source: Any) -> list[dict[str, Any]]:
        """Every stored chunk matching `query`, paged by search_after on entry_id."""
        body = paged_body(query, source, self.page_size)
        found: list[dict[str, Any]] = []
        while True:
            page = self._search(dict(body))
            found.extend(page)
            if len(page) < self.page_size:
                return found
            body["search_after"] = page[-1]["sort"]
