"""The small interfaces the services depend on. Adapters implement them; bootstrap picks which."""

from __future__ import annotations

import abc
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from typing import Any

from chalicelib.model import (
    AnswerDraft,
    ClaimOutcome,
    DocumentRecord,
    DocumentState,
    EmbeddingModel,
    ExtractionResult,
    Hit,
    IndexedChunk,
    ListedObject,
    ObjectRef,
    SearchFilters,
    Status,
    StoredObject,
)


class ObjectStore(abc.ABC):
    @abc.abstractmethod
    def get(self, bucket: str, key: str, max_bytes: int) -> StoredObject:
        """Fetch an object. Raises DocumentError(OBJECT_MISSING) if absent, (TOO_LARGE) past max_bytes."""

    @abc.abstractmethod
    def exists(self, bucket: str, key: str) -> bool: ...

    @abc.abstractmethod
    def put_json(self, bucket: str, key: str, document: dict[str, Any]) -> None: ...

    @abc.abstractmethod
    def delete(self, bucket: str, key: str) -> None:
        """Delete an object and every earlier version of it; deleting one that is absent is not an
        error."""

    @abc.abstractmethod
    def list_objects(self, bucket: str, prefix: str = "") -> Iterator[ListedObject]:
        """Every current object of `bucket` whose key starts with `prefix`, in key order, read a page
        at a time."""

    @abc.abstractmethod
    def presign_upload(
        self, bucket: str, key: str, content_type: str, expires_in: int, max_bytes: int
    ) -> dict[str, Any]:
        """A pre-signed form the client POSTs straight to the store, good for this one key and
        Content-Type and for 1 to `max_bytes` bytes: {"method": "POST", "url", "fields"}; the client
        sends the fields, then the file, as multipart/form-data."""


class Catalog(abc.ABC):
    @abc.abstractmethod
    def get(self, document_id: str) -> DocumentRecord | None: ...

    @abc.abstractmethod
    def get_many(self, document_ids: Collection[str]) -> dict[str, DocumentState]:
        """The state of each document named that the catalog holds (unknown ids are left out), read
        consistently in as few round trips as the store allows: search checks its hits with it."""

    @abc.abstractmethod
    def put(self, record: DocumentRecord, claim_token: str | None = None) -> None:
        """Create or replace the whole record. With `claim_token`, only while that claim still holds
        the document (else ClaimLost)."""

    @abc.abstractmethod
    def claim(self, record: DocumentRecord, now: str, force: bool = False) -> ClaimOutcome:
        """Write `record` (PROCESSING, with its claim_token and lease_expires_at) in one conditional
        step, unless its version is already INDEXED (ignored with `force`: a reindex) or another
        worker's lease is still live at `now`. This serialises concurrent deliveries of a document
        across workers."""

    @abc.abstractmethod
    def list_by_status(
        self, status: Status, limit: int, cursor: str | None
    ) -> tuple[list[DocumentRecord], str | None]:
        """A page of every tenant's records with `status`, oldest update first: work for operators'
        jobs (the reaper), never for an API caller."""

    @abc.abstractmethod
    def list(
        self, tenant: str, status: Status | None, limit: int, cursor: str | None
    ) -> tuple[list[DocumentRecord], str | None]:
        """A page of `tenant`'s records (only theirs), newest first; the cursor is opaque and valid
        only for the listing (tenant and status) that returned it."""

    @abc.abstractmethod
    def delete(self, document_id: str) -> None: ...

    # The cost ledger (chalicelib/ledger.py). `usage` is chalicelib.usage.Usage.as_dict(), plus
    # "estimated_cost_usd" on a document; a day is "YYYY-MM-DD" (UTC).
    @abc.abstractmethod
    def record_usage(self, document_id: str, usage: dict[str, Any]) -> None:
        """Store `usage` on the document's record; ClaimLost, with nothing written, when the record is
        gone."""

    @abc.abstractmethod
    def add_day_usage(self, tenant: str, day: str, documents: dict[str, int], usage: dict[str, Any]) -> None:
        """Add `documents` (how many ended in each status) and their summed `usage` to `tenant`'s total
        for `day`, atomically against concurrent additions."""

    @abc.abstractmethod
    def usage_by_day(self, tenant: str, days: Sequence[str]) -> dict[str, dict[str, Any]]:
        """`tenant`'s totals for each of `days` that has any: {"documents": {status: n}, "tokens":
        {model: {"input", "output"}}, "provider_calls": {provider: n}, "source_bytes", "chunks"}."""


class Extractor(abc.ABC):
    name: str
    # True when extracting is mostly waiting on a remote model: the worker then runs it beside
    # embedding. An extractor that computes in this process would only take the embedder's cores.
    waits_on_network: bool = False

    @abc.abstractmethod
    def extract(
        self,
        text: str,
        title_hint: str | None = None,
        content_type: str | None = None,
        schema: dict[str, Any] | None = None,
    ) -> ExtractionResult:
        """Structured facts about a document. With `schema` (a JSON schema a user supplied) the data
        validates against it; otherwise against chalicelib.schemas.Extraction."""


class Embedder(abc.ABC):
    model_id: str
    dimensions: int

    @abc.abstractmethod
    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        """Unit-length vectors, one per text, in order."""

    @abc.abstractmethod
    def embed_query(self, text: str) -> list[float]: ...


class VectorIndex(abc.ABC):
    # True when a lookup right after a write sees it, so a replacement removes every older chunk of the
    # document and needs no delayed sweep after it (the embedded index). False for an engine whose
    # lookups lag its writes (OpenSearch Serverless), and the safe default.
    lookups_see_writes: bool = False

    @abc.abstractmethod
    def replace_document(self, document_id: str, version: str, chunks: Sequence[IndexedChunk]) -> None:
        """Make `chunks` the document's only chunks. Indexing the same version twice is a no-op
        in effect; a reader never sees two versions of a document, nor none while one existed."""

    @abc.abstractmethod
    def delete_document(self, document_id: str) -> int:
        """Remove every chunk of a document; returns how many were removed."""

    @abc.abstractmethod
    def sweep(self, document_id: str, keep_version: str | None) -> int:
        """Remove every chunk of the document but its latest write of `keep_version` (None: every chunk),
        including chunks a lagging engine hid from earlier deletes; returns how many were removed. Safe
        to run at any time and again."""

    @abc.abstractmethod
    def count(self, document_id: str | None = None) -> int: ...

    @abc.abstractmethod
    def search_vector(
        self, vector: Sequence[float], k: int, filters: SearchFilters, model: EmbeddingModel | None = None
    ) -> list[Hit]:
        """Nearest chunks by cosine similarity, best first. A query of another model than the index's
        (`model`, when given), or of other dimensions, raises IndexModelMismatch."""

    @abc.abstractmethod
    def search_keyword(self, query: str, k: int, filters: SearchFilters) -> list[Hit]:
        """Chunks ranked by BM25, best first."""

    @abc.abstractmethod
    def embedding_model(self) -> EmbeddingModel | None:
        """The model whose vectors the index holds, recorded when it was created (or by its first
        write, for an index created without one): replace_document refuses chunks of any other
        (IndexModelMismatch). None only for such an index while it is still empty."""


class ReembedSource(abc.ABC):
    """What a re-embed reads of the index it replaces: every document's chunks, and which documents
    changed since a point in time, so that writes made during the rebuild are replayed."""

    @abc.abstractmethod
    def export(self, document_ids: Iterable[str] | None = None) -> Iterator[tuple[str, list[IndexedChunk]]]:
        """(document_id, chunks) of every document (or of those named that still have chunks)."""

    @abc.abstractmethod
    def document_ids(self) -> set[str]:
        """Every document the index has chunks of."""

    @abc.abstractmethod
    def change_marker(self) -> Any:
        """An opaque point in the index's history, for changed_since."""

    @abc.abstractmethod
    def changed_since(self, marker: Any) -> tuple[list[str] | None, Any]:
        """Documents written or deleted after `marker` (None: the history no longer reaches back
        that far, so every document must be taken again), and the marker of now."""


class IndexSwitchboard(abc.ABC):
    """The live index (what search and writes use) and the new indexes a re-embed builds beside it."""

    @abc.abstractmethod
    def live(self) -> VectorIndex:
        """The index searches and writes go to: it follows switch_to, in every process."""

    @abc.abstractmethod
    def live_source(self) -> Any:
        """The index that is live now, bound to it (it does not follow a switch): a VectorIndex and a
        ReembedSource, what a re-embed reads."""

    @abc.abstractmethod
    def create(self, model: EmbeddingModel) -> VectorIndex:
        """A new, empty index for `model`'s vectors, written but not searched until switch_to."""

    @abc.abstractmethod
    def switch_to(self, index: VectorIndex, final_catch_up: Callable[[Callable[[str], bool]], None]) -> str:
        """Make `index` the live one in one atomic step, after running `final_catch_up` (which copies
        the old index's last writes, less the documents its argument says to skip) as late as the
        backend allows, and again after the switch where the backend's reads lag its writes; returns
        the old index's name."""

    @abc.abstractmethod
    def name_of(self, index: VectorIndex) -> str: ...


class Reranker(abc.ABC):
    model_id: str

    @abc.abstractmethod
    def rerank(self, query: str, texts: Sequence[str], top_n: int) -> list[tuple[int, float]]:
        """(index into `texts`, relevance score) of the `top_n` texts most relevant to `query`,
        most relevant first."""


class Answerer(abc.ABC):
    model_id: str

    @abc.abstractmethod
    def answer(self, question: str, passages: Sequence[Hit]) -> AnswerDraft:
        """An answer to `question` from `passages` alone, citing the chunk_ids it rests on;
        found=False when the passages do not answer it."""


class RateLimiter(abc.ABC):
    @abc.abstractmethod
    def acquire(self, tenant: str, action: str, limit_per_minute: int, now_s: float) -> float | None:
        """Count one `action` of `tenant` against its limit in the current minute: None when allowed,
        else the seconds until the next minute, when it may try again."""


class QueueVisibility(abc.ABC):
    @abc.abstractmethod
    def change_visibility(self, queue_url: str, receipt_handle: str, timeout_s: int) -> None:
        """Keep a received message hidden for `timeout_s` more seconds from now (0: visible at once),
        so a failed delivery comes back when its retry is due rather than after the queue's timeout."""


class SweepScheduler(abc.ABC):
    @abc.abstractmethod
    def schedule_sweep(self, document_id: str) -> None:
        """Ask for the document's chunks to be brought in line with its catalog record later, once every
        write and delete made until now is visible to the index's own lookups (chalicelib/sweeps.py)."""


class IngestRequests(abc.ABC):
    @abc.abstractmethod
    def send(self, refs: Sequence[ObjectRef], reason: str) -> None:
        """Ask the ingest worker, through its queue, to ingest each object `refs` names (with
        ObjectRef.force, even a version already indexed); `reason` ("reindex", "backfill") travels in
        the message, for whoever reads it in the queue or the DLQ. Raises when any could not be queued."""
