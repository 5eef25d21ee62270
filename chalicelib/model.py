"""The domain vocabulary shared by every service and adapter. Standard library only."""

from __future__ import annotations

import enum
import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any


class Status(enum.StrEnum):
    PENDING = "PENDING"
    PROCESSING = "PROCESSING"
    INDEXED = "INDEXED"
    FAILED = "FAILED"
    DELETED = "DELETED"
    # Never stored: how the API shows a PENDING record whose object did not arrive before its
    # expires_at (in AWS the table's TTL then deletes it; moto never runs TTL).
    EXPIRED = "EXPIRED"


class ErrorCode(enum.StrEnum):
    """Why a document failed. Each code maps to an action a person can take."""

    UNSUPPORTED_TYPE = "UNSUPPORTED_TYPE"
    ENCRYPTED = "ENCRYPTED"
    NO_TEXT_LAYER = "NO_TEXT_LAYER"
    TOO_LARGE = "TOO_LARGE"
    # Past a limit of the parser's child process (memory, CPU or wall time), or the child was killed
    # reading it: small as the file may be, it costs too much to read (chalicelib/parsing/isolation.py).
    TOO_COMPLEX = "TOO_COMPLEX"
    CORRUPT = "CORRUPT"
    EMPTY = "EMPTY"
    OBJECT_MISSING = "OBJECT_MISSING"
    PROVIDER_ERROR = "PROVIDER_ERROR"
    WORKER_DIED = "WORKER_DIED"
    INTERNAL = "INTERNAL"
    NO_TENANT = "NO_TENANT"


class DocumentError(Exception):
    """A problem with one document's content: permanent, so retrying the message cannot help."""

    def __init__(self, code: ErrorCode, message: str):
        super().__init__(f"{code.value}: {message}")
        self.code = code
        self.message = message


class TransientError(Exception):
    """A failure worth retrying (throttling, a provider outage): the message goes back to the queue."""


class ConfigurationError(TransientError):
    """The account or deployment is wrong, not the file: a missing permission, expired credentials, a
    model not enabled. Every document fails the same way until a person applies `fix`, so the message
    is retried (later, with backoff) rather than the document failed for good."""

    def __init__(self, message: str, fix: str):
        super().__init__(f"{message} (fix: {fix})")
        self.message = message
        self.fix = fix


class IndexModelMismatch(ConfigurationError):
    """Vectors of one embedding model offered to an index that holds another's: chunks to write, or a
    query to answer. Scores across two models mean nothing, so the index refuses; it is the deployment's
    state (a re-embed switching models, or settings naming another model), not the file's or the
    caller's fault, so a write is retried and a search answers 503."""

    def __init__(self, index: str, holds: EmbeddingModel, offered: EmbeddingModel, what: str):
        super().__init__(
            f"{index} holds vectors of {holds}; {what} came from {offered}",
            "run the embedder the index was built with, or re-embed the index for the new model "
            "(docs/DEPLOY.md, Re-embedding)",
        )
        self.holds = holds
        self.offered = offered


class IndexSwitched(TransientError):
    """A re-embed made another index the live one while this write was going to the old one: write
    again, to the live index (with its model's vectors)."""


class DocumentBusy(TransientError):
    """Another worker holds a live claim on the document: retry after it finishes or its lease ends."""


class NotFound(Exception):
    """The requested document does not exist."""


class InvalidRequest(Exception):
    """The client sent something we cannot act on; becomes a 4xx with this code and message."""

    def __init__(self, code: str, message: str, status: int = 400):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def document_id_for(bucket: str, key: str) -> str:
    """Identity of a document: stable for a bucket and key, so direct drops and re-deliveries agree."""
    return hashlib.sha256(f"s3://{bucket}/{key}".encode()).hexdigest()[:32]


def sweep_message(document_id: str) -> str:
    """The body of a delayed sweep message (chalicelib/sweeps.py): it names one document."""
    return json.dumps({"sweep": {"document_id": document_id}})


def document_of_sweep_message(body: str) -> str:
    """The document a sweep message names; ValueError for any other body."""
    try:
        document_id = json.loads(body)["sweep"]["document_id"]
    except (ValueError, TypeError, KeyError) as error:
        raise ValueError(f"not a sweep message: {body[:200]!r}") from error
    if not isinstance(document_id, str) or not re.fullmatch(r"[0-9a-f]{32}", document_id):
        raise ValueError(f"a sweep message names no document id: {body[:200]!r}")
    return document_id


@dataclass(frozen=True)
class ObjectRef:
    """An S3 object named by an event: what to fetch and which version the event is about."""

    bucket: str
    key: str
    etag: str | None = None
    size: int | None = None
    version_id: str | None = None
    sequencer: str | None = None
    event_time: str | None = None
    deleted: bool = False
    # Ingest again even when this version is already indexed (POST /documents/{id}/reindex).
    force: bool = False

    @property
    def document_id(self) -> str:
        return document_id_for(self.bucket, self.key)


@dataclass(frozen=True)
class ListedObject:
    """An object of a bucket listing: enough to ask the worker to ingest it."""

    bucket: str
    key: str
    etag: str
    size: int


@dataclass(frozen=True)
class StoredObject:
    bucket: str
    key: str
    body: bytes
    etag: str
    size: int
    content_type: str | None
    metadata: dict[str, str] = field(default_factory=dict)
    version_id: str | None = None


@dataclass(frozen=True)
class Chunk:
    chunk_id: str
    document_id: str
    ordinal: int
    text: str
    page: int | None = None
    start: int = 0
    end: int = 0


@dataclass(frozen=True)
class EmbeddingModel:
    """Which model made a vector, and its size: vectors of two models never share an index."""

    model_id: str
    dimensions: int

    def __str__(self) -> str:
        return f"{self.model_id} ({self.dimensions}-d)"

    @property
    def slug(self) -> str:
        """A file- and index-name-safe label: `sentence-transformers-all-minilm-l6-v2-384`."""
        return re.sub(r"[^a-z0-9]+", "-", f"{self.model_id}-{self.dimensions}".lower()).strip("-")


@dataclass(frozen=True)
class IndexedChunk:
    """A chunk ready for the vector index: text, vector and the fields search can filter on."""

    chunk: Chunk
    vector: list[float]
    version: str
    key: str
    content_type: str
    # Upload metadata: strings, numbers, booleans and lists of strings (S3 user metadata: strings).
    metadata: dict[str, Any] = field(default_factory=dict)
    # Whose chunk this is: every search is scoped to one tenant.
    tenant: str = field(kw_only=True)
    # The embedder that made `vector` (Embedder.model_id, .dimensions): an index refuses other models'.
    model_id: str = field(kw_only=True)
    dimensions: int = field(kw_only=True)
    # When its document was created (the catalog's created_at): the `created_at` filter key.
    created_at: str = field(default="", kw_only=True)

    @property
    def embedding_model(self) -> EmbeddingModel:
        return EmbeddingModel(self.model_id, self.dimensions)


# Filter keys every chunk has, whatever its metadata; they win over metadata keys of the same name.
BUILTIN_FILTER_KEYS = ("content_type", "key", "document_id", "created_at")


@dataclass(frozen=True)
class FilterCondition:
    """One leaf of a filter: `op` (one of chalicelib.filtering.FILTER_OPERATORS) applied to the
    attribute `key`. `value` is a str, int, float or bool, or a tuple of str/int/float for in and notIn."""

    op: str
    key: str
    value: Any


@dataclass(frozen=True)
class FilterGroup:
    """andAll (`every` True) or orAll (`every` False) of two or more filters."""

    every: bool
    members: tuple[FilterCondition | FilterGroup, ...]


FilterExpression = FilterCondition | FilterGroup


@dataclass(frozen=True)
class SearchFilters:
    """What a search may return. `tenant` is always set, by the service from the signed-in caller
    (never from the request body), and every index applies it before ranking."""

    tenant: str = field(kw_only=True)
    content_types: tuple[str, ...] = ()
    key_prefix: str | None = None
    metadata: tuple[tuple[str, str], ...] = ()
    document_ids: tuple[str, ...] = ()
    # The request's typed `filter`, ANDed with the fields above.
    expression: FilterExpression | None = None


@dataclass(frozen=True)
class Hit:
    """One ranked chunk from an index query, before fusion."""

    chunk_id: str
    document_id: str
    score: float
    text: str
    key: str
    page: int | None
    content_type: str
    metadata: dict[str, Any]
    # The document version (its source object's ETag) the chunk was indexed from: search shows a hit
    # only while the catalog says that version is the document's searchable one. None: unknown, never shown.
    version: str | None = None


@dataclass(frozen=True)
class AnswerDraft:
    """An answerer's answer to a question from retrieved chunks: its text, the chunk_ids it cites
    (not yet checked against what was retrieved), whether the chunks held the answer, and its cost."""

    text: str
    cited_chunk_ids: tuple[str, ...]
    found: bool
    model: str
    input_tokens: int = 0
    output_tokens: int = 0
    latency_ms: float = 0.0


@dataclass(frozen=True)
class ExtractionResult:
    """Structured facts about a document, and what producing them cost.

    `data` validates against chalicelib.extraction.Extraction (or the caller's own schema). When the
    extractor could not produce valid data, `data` is empty and `error` says why: the document is
    still indexed, with the extraction error recorded.
    """

    data: dict[str, Any]
    model: str
    input_tokens: int = 0
    output_tokens: int = 0
    latency_ms: float = 0.0
    error: str | None = None


@dataclass
class DocumentRecord:
    """The catalog's row for a document: status, source, and what ingestion learned."""

    document_id: str
    status: Status
    bucket: str
    key: str
    created_at: str
    updated_at: str
    # The tenant the document belongs to; None only for an object dropped outside any tenant prefix
    # (FAILED/NO_TENANT), which no tenant can see.
    tenant: str | None = field(kw_only=True)
    etag: str | None = None
    size: int | None = None
    content_type: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    chunk_count: int = 0
    extraction: dict[str, Any] | None = None
    error_code: str | None = None
    error_message: str | None = None
    processed_key: str | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)
    attempts: int = 0
    # The worker currently processing this document, and until when its claim holds.
    claim_token: str | None = None
    lease_expires_at: str | None = None
    # A JSON Schema the client asked the extraction to fill instead of the default one.
    extraction_schema: dict[str, Any] | None = None
    # Epoch seconds after which a PENDING record whose object never arrived is dropped: the table's
    # TTL attribute (the rate limiter's counters use the same one). Cleared when a worker claims it.
    expires_at: int | None = None
    # The version whose chunks search shows: set when a version is INDEXED, kept while a newer one is
    # PROCESSING (the old chunks stay in the index until the new ones replace them), cleared when the
    # document ends FAILED or DELETED (its chunks are removed). `etag` is the version being worked on.
    indexed_etag: str | None = None
    # What ingesting it used and an estimate of its cost (chalicelib/accounting.py), once it ended.
    usage: dict[str, Any] | None = None

    def status_at(self, now_s: float) -> Status:
        """The status a reader sees at `now_s`: PENDING past its expiry reads as EXPIRED."""
        if self.status == Status.PENDING and self.expires_at is not None and now_s >= self.expires_at:
            return Status.EXPIRED
        return self.status


def searchable_version(status: Status, etag: str | None, indexed_etag: str | None) -> str | None:
    """The one version of a document whose chunks a search may show, or None for none.

    INDEXED: the version indexed (a record written before `indexed_etag` existed has only `etag`).
    PROCESSING: the last version indexed, while a new one is ingested; a first ingest shows nothing.
    Anything else (PENDING, FAILED, DELETED): nothing, whatever the index still holds.
    """
    if status == Status.INDEXED:
        return indexed_etag or etag
    if status == Status.PROCESSING:
        return indexed_etag
    return None


@dataclass(frozen=True)
class DocumentState:
    """What a search needs to know of a document to decide whether its hits may be shown: one item of
    Catalog.get_many, read with a projection of these fields only."""

    document_id: str
    tenant: str | None
    status: Status
    etag: str | None = None
    indexed_etag: str | None = None

    def shows(self, tenant: str, version: str | None) -> bool:
        """Whether a chunk of `version` of this document may be a search result for `tenant`."""
        searchable = searchable_version(self.status, self.etag, self.indexed_etag)
        return self.tenant == tenant and searchable is not None and version == searchable


class ClaimOutcome(enum.StrEnum):
    CLAIMED = "CLAIMED"
    ALREADY_INDEXED = "ALREADY_INDEXED"
    BUSY = "BUSY"


class ClaimLost(Exception):
    """Another worker took over the document (our lease expired): our result must not be recorded."""
