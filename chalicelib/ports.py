"""The small interfaces the services depend on. Adapters implement them; bootstrap picks which."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import Any

from chalicelib.model import (
    ClaimOutcome,
    DocumentRecord,
    ExtractionResult,
    Hit,
    IndexedChunk,
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
    def put(self, record: DocumentRecord, claim_token: str | None = None) -> None:
        """Create or replace the whole record. With `claim_token`, only while that claim still holds
        the document (else ClaimLost)."""

    @abc.abstractmethod
    def claim(self, record: DocumentRecord, now: str) -> ClaimOutcome:
        """Write `record` (PROCESSING, with its claim_token and lease_expires_at) in one conditional
        step, unless its version is already INDEXED or another worker's lease is still live at `now`.
        This serialises concurrent deliveries of a document across workers."""

    @abc.abstractmethod
    def list(
        self, tenant: str, status: Status | None, limit: int, cursor: str | None
    ) -> tuple[list[DocumentRecord], str | None]:
        """A page of `tenant`'s records (only theirs), newest first; the cursor is opaque and valid
        only for the listing (tenant and status) that returned it."""

    @abc.abstractmethod
    def delete(self, document_id: str) -> None: ...


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
    def search_vector(self, vector: Sequence[float], k: int, filters: SearchFilters) -> list[Hit]:
        """Nearest chunks by cosine similarity, best first."""

    @abc.abstractmethod
    def search_keyword(self, query: str, k: int, filters: SearchFilters) -> list[Hit]:
        """Chunks ranked by BM25, best first."""


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
