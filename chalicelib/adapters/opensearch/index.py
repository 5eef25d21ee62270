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
"""

from __future__ import annotations

import functools
import logging
import math
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from opensearchpy.exceptions import NotFoundError, RequestError

from chalicelib.adapters.aws_retry import Backoff, call_with_backoff, is_retryable_status
from chalicelib.adapters.opensearch.client import (
    BulkAction,
    batches,
    bulk_item_error,
    bulk_ndjson,
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
    filter_clauses,
    hit_from_source,
    index_body,
    newest_generation_only,
    recorded_model,
)
from chalicelib.model import (
    DocumentError,
    EmbeddingModel,
    ErrorCode,
    Hit,
    IndexedChunk,
    IndexModelMismatch,
    SearchFilters,
    TransientError,
)
from chalicelib.ports import ReembedSource, VectorIndex

logger = logging.getLogger(__name__)

# A search returns at most this many candidates, whatever k and the over-fetch factor ask for.
MAX_CANDIDATES = 1000
# A unit vector's norm, give or take float32 rounding and the embedder's own.
UNIT_NORM_TOLERANCE = 1e-2
# How far back changed_since looks before its marker: AOSS makes a write searchable about a minute
# after it, so a search at the marker may not have seen the writes of the minute before it.
VISIBILITY_LAG_S = 120


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
        self._check_chunks(document_id, chunks)
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
        size = self._candidates(k)
        knn: dict[str, Any] = {"vector": [float(x) for x in vector], "k": size}
        # Inside the knn clause, faiss filters while it searches and still returns k results;
        # a post-filter would drop hits after the search and return fewer (or another tenant's).
        knn["filter"] = {"bool": {"filter": filter_clauses(filters)}}
        body = {"size": size, "_source": {"excludes": [VECTOR_FIELD]}, "query": {"knn": {VECTOR_FIELD: knn}}}
        return self._ranked(self._search(body), k, cosine_from_knn_score)

    def search_keyword(self, query: str, k: int, filters: SearchFilters) -> list[Hit]:
        size = self._candidates(k)
        body = {
            "size": size,
            "_source": {"excludes": [VECTOR_FIELD]},
            "query": {
                "bool": {
                    "must": [{"match": {"text": {"query": query, "operator": "or"}}}],
                    "filter": filter_clauses(filters),
                }
            },
        }
        return self._ranked(self._search(body), k, float)

    # -- helpers ----------------------------------------------------------------------------------

    def _candidates(self, k: int) -> int:
        # Over-fetch: hits of stale generations and duplicates are dropped after the search.
        return max(1, min(MAX_CANDIDATES, k * self.overfetch))

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
        query: dict[str, Any] = {"bool": {"filter": [{"term": {"document_id": document_id}}]}}
        if exclude_generation is not None:
            query["bool"]["must_not"] = [{"term": {"generation": exclude_generation}}]
        elif exclude_version is not None:
            query["bool"]["must_not"] = [{"term": {"version": exclude_version}}]
        body: dict[str, Any] = {
            "size": self.page_size,
            "query": query,
            "sort": [{"entry_id": "asc"}],
            "_source": False,
            "track_total_hits": False,
        }
        ids: list[str] = []
        while True:
            page = self._search(dict(body))
            ids.extend(raw["_id"] for raw in page)
            if len(page) < self.page_size:
                return ids
            body["search_after"] = page[-1]["sort"]

    def _newest_generation(self, document_id: str, version: str | None = None) -> str | None:
        match: list[dict[str, Any]] = [{"term": {"document_id": document_id}}]
        if version is not None:
            match.append({"term": {"version": version}})
        body = {
            "size": 1,
            "query": {"bool": {"filter": match}},
            "sort": [{"generation": "desc"}],
            "_source": ["generation"],
        }
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
        """Send `actions`, resending the items that failed with 429/5xx, until all succeed or the
        deadline passes (TransientError); any other item failure raises DocumentError. Each item's
        result is appended to `done` as soon as it succeeds, so a caller can undo a partial write."""
        backoff = Backoff(deadline_s=self.write_deadline_s, sleep=self._sleep, clock=self._clock)
        pending = list(actions)
        while pending:
            send = functools.partial(self.client.bulk, body=bulk_ndjson(pending), index=self.index_name)
            items = self._call(send, self.write_deadline_s).get("items") or []
            if len(items) != len(pending):
                raise TransientError(f"bulk answered {len(items)} items for {len(pending)} actions")
            retry: list[BulkAction] = []
            rejected: list[str] = []
            for action, item in zip(pending, items, strict=True):
                result = item.get(action.op) or next(iter(item.values()))
                status = int(result.get("status", 0))
                if 200 <= status < 300 or (action.op == "delete" and status == 404):
                    done.append(result)
                elif is_retryable_status(status):
                    retry.append(action)
                else:
                    rejected.append(bulk_item_error(result))
            if rejected:
                raise DocumentError(
                    ErrorCode.PROVIDER_ERROR,
                    f"OpenSearch rejected {len(rejected)} of {len(pending)} bulk items; first: {rejected[0]}",
                )
            if retry:
                backoff.wait(f"{len(retry)} of {len(pending)} bulk items throttled or failed")
            pending = retry

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
        """A generation label that sorts by write time (zero-padded nanoseconds, then a random suffix
        so two writers in the same nanosecond differ), and the same instant as an ISO date."""
        now_ns = self._wall_clock_ns()
        moment = datetime.fromtimestamp(now_ns / 1e9, tz=UTC)
        indexed_at = moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
        return f"{now_ns:020d}-{uuid.uuid4().hex[:8]}", indexed_at

    def _check_models(self, chunks: Sequence[IndexedChunk]) -> None:
        holds = self._recorded
        if holds is None or not holds.model_id:
            # Made without a model (or before models were recorded): the first chunks name it.
            if not chunks:
                return
            holds = self._recorded = chunks[0].embedding_model
        for item in chunks:
            if item.embedding_model != holds:
                offered = item.embedding_model
                raise IndexModelMismatch(f"index {self.index_name}", holds, offered, "chunks to write")

    # -- what a re-embed reads --------------------------------------------------------------------

    def export(self, document_ids: Iterable[str] | None = None) -> Iterator[tuple[str, list[IndexedChunk]]]:
        model = self.embedding_model() or EmbeddingModel(self.model_id or "", self.dimensions)
        ids = sorted(self.document_ids()) if document_ids is None else list(document_ids)
        for batch in batches(ids, 100):
            query = {"bool": {"filter": [{"terms": {"document_id": list(batch)}}]}}
            raw = self._paged(query, {"excludes": [VECTOR_FIELD]})
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
        since = datetime.fromisoformat(marker.replace("Z", "+00:00")).timestamp() - VISIBILITY_LAG_S
        start = datetime.fromtimestamp(since, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        query = {"range": {"indexed_at": {"gte": start}}}
        return sorted({hit["_source"]["document_id"] for hit in self._paged(query, ["document_id"])}), now

    def written_since(self, document_id: str, wall_clock_ns: int) -> bool:
        """True when the document's newest chunks here were written at or after `wall_clock_ns`."""
        newest = self._newest_generation(document_id)
        return newest is not None and newest >= f"{wall_clock_ns:020d}"

    def _paged(self, query: dict[str, Any], source: Any) -> list[dict[str, Any]]:
        """Every stored chunk matching `query`, paged by search_after on entry_id."""
        body: dict[str, Any] = {
            "size": self.page_size,
            "query": query,
            "sort": [{"entry_id": "asc"}],
            "_source": source,
            "track_total_hits": False,
        }
        found: list[dict[str, Any]] = []
        while True:
            page = self._search(dict(body))
            found.extend(page)
            if len(page) < self.page_size:
                return found
            body["search_after"] = page[-1]["sort"]

    def _check_chunks(self, document_id: str, chunks: Sequence[IndexedChunk]) -> None:
        for item in chunks:
            if item.chunk.document_id != document_id:
                raise ValueError(f"chunk {item.chunk.chunk_id} belongs to {item.chunk.document_id}")
            if len(item.vector) != self.dimensions:
                holds = EmbeddingModel(self.model_id or "", self.dimensions)
                offered = item.embedding_model
                raise IndexModelMismatch(f"index {self.index_name}", holds, offered, "chunks to write")
            # innerproduct equals cosine only for unit vectors; anything else would rank wrongly.
            norm = math.sqrt(sum(x * x for x in item.vector))
            if abs(norm - 1.0) > UNIT_NORM_TOLERANCE:
                raise ValueError(f"chunk {item.chunk.chunk_id}: vector norm {norm:.3f}, expected unit length")
