"""The ingest service: one S3 object in, one document indexed (or failed with a reason) out.

Data flows one way, top to bottom in IngestService._ingest: fetch → parse → chunk → extract → embed →
index → record. Each step is a plain function or port call; this module composes them, and every
change of the document's state (claim, release, finish, tombstone) is written by DocumentLifecycle
(chalicelib/lifecycle.py), so the catalog stays truthful at every step.
"""

from __future__ import annotations

import contextvars
import json
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from chalicelib.api.views import extraction_view, processed_document
from chalicelib.chunking import chunk_document
from chalicelib.clock import utc_now
from chalicelib.config import Settings
from chalicelib.extraction import check_extraction_schema, schema_violation
from chalicelib.failures import OutOfTime, gave_up_message, permanent_failure_message, retry_message
from chalicelib.keys import is_valid_tenant, processed_key, tenant_of_key
from chalicelib.lifecycle import DocumentLifecycle
from chalicelib.model import (
    Chunk,
    ClaimLost,
    DocumentBusy,
    DocumentError,
    DocumentRecord,
    ErrorCode,
    ExtractionResult,
    IndexedChunk,
    ObjectRef,
    Status,
    TransientError,
)
from chalicelib.observability import logger
from chalicelib.parsed import ParsedDocument
from chalicelib.parsing.isolation import parser_for
from chalicelib.ports import Catalog, Embedder, Extractor, ObjectStore, SweepScheduler, VectorIndex
from chalicelib.tracing import subsegment


@dataclass(frozen=True)
class Outcome:
    document_id: str
    status: Status
    chunk_count: int = 0
    skipped: bool = False
    # What the worker reports (chalicelib/accounting.py): whose document, why it failed, how long each
    # stage took, how many bytes were read.
    tenant: str | None = None
    error_code: str | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)
    source_bytes: int = 0
    # The document's ledger entry went on its record with the write that ended it.
    usage_recorded: bool = False


class _Budget:
    """The invocation's remaining time: a stage may start only with the reserve still left."""

    def __init__(self, remaining_ms: Callable[[], int] | None, reserve_ms: int):
        self._remaining_ms = remaining_ms
        self._reserve_ms = reserve_ms

    def check(self, stage: str) -> None:
        if self._remaining_ms is not None and self._remaining_ms() < self._reserve_ms:
            raise OutOfTime(
                f"the worker's time ran out before the {stage} stage; the document will be retried "
                "(if it keeps happening the file is too big for the worker's timeout: split it)"
            )


class StageTimer:
    """Wall time of each pipeline stage, in ms, recorded in the catalog and the processed JSON."""

    def __init__(self, before_stage: Callable[[str], None] = lambda stage: None) -> None:
        self.timings: dict[str, float] = {}
        self._before_stage = before_stage
        # Each error that left a stage, with that stage: extraction runs beside embedding, so "the
        # stage running last" could name the wrong one.
        self._failures: list[tuple[BaseException, str]] = []

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        self._before_stage(name)
        started = time.perf_counter()
        try:
            with subsegment(name):
                yield
        except BaseException as error:
            self._failures.append((error, name))
            raise
        finally:
            self.timings[name] = round((time.perf_counter() - started) * 1000, 2)

    def stage_of(self, error: BaseException) -> str | None:
        """The stage `error` escaped from, or None when it came from outside every stage."""
        return next((stage for failed, stage in self._failures if failed is error), None)


class IngestService:
    def __init__(
        self,
        settings: Settings,
        store: ObjectStore,
        catalog: Catalog,
        extractor: Extractor,
        embedder: Embedder,
        index: VectorIndex,
        clock: Callable[[], str] = utc_now,
        sweeps: SweepScheduler | None = None,
        usage_entry: Callable[[int, int], dict[str, Any] | None] | None = None,
    ):
        """`usage_entry(source_bytes, chunks)`: the ledger entry of the document being ingested
        (DocumentAccounting.entry_for_current_document), written with its INDEXED record so the ledger
        costs no write of its own; None leaves the entry to the worker's accounting."""
        self._usage_entry = usage_entry
        self._settings = settings
        self._store = store
        self._catalog = catalog
        self._extractor = extractor
        self._embedder = embedder
        self._index = index
        self._clock = clock
        self._parser = parser_for(settings)
        self._lifecycle = DocumentLifecycle(
            catalog,
            store,
            index,
            processed_bucket=settings.processed_bucket,
            claim_lease_s=settings.claim_lease_s,
            clock=clock,
            sweeps=sweeps,
        )
        # Only a remote extractor runs beside embedding (see _start_extraction). Threads live as long
        # as the service (a Lambda container's life), one per record in flight.
        self._extraction_pool = (
            ThreadPoolExecutor(max_workers=settings.record_concurrency, thread_name_prefix="extract")
            if extractor.waits_on_network
            else None
        )
        self._default_schema = json.loads(settings.extraction_schema) if settings.extraction_schema else None
        if self._default_schema is not None:
            check_extraction_schema(self._default_schema)
        if settings.default_tenant is not None and not is_valid_tenant(settings.default_tenant):
            raise ValueError(f"QUARRY_DEFAULT_TENANT {settings.default_tenant!r} is not a valid tenant name")

    def _tenant_of(self, key: str) -> str | None:
        """The tenant an object belongs to: the one its key names, else the configured default."""
        return tenant_of_key(key) or self._settings.default_tenant

    def handle(
        self, ref: ObjectRef, attempt: int = 1, remaining_ms: Callable[[], int] | None = None
    ) -> Outcome:
        """Bring the catalog and index in line with the object `ref` names.

        DocumentError (the file's fault) ends the document FAILED and returns normally: retrying cannot
        help. Anything else propagates so the message is retried; on the last attempt the document is
        marked FAILED first, so a message in the DLQ always has a FAILED document with its last error.
        `remaining_ms` is the invocation's time left (Lambda's context): no stage starts without
        `time_reserve_s` of it, so a slow document is retried instead of being cut off mid-write.
        """
        document_id = ref.document_id
        logger.thread_safe_append_keys(document_id=document_id, key=ref.key)
        if ref.deleted:
            return self._remove(ref, attempt)
        existing = self._catalog.get(document_id)
        indexed = existing and existing.status == Status.INDEXED and ref.etag and existing.etag == ref.etag
        if indexed and not ref.force:  # a reindex (ref.force) runs again on purpose
            logger.info("version already indexed; duplicate delivery skipped")
            return Outcome(document_id, Status.INDEXED, existing.chunk_count, skipped=True)
        if existing and existing.status == Status.DELETED and not self._store.exists(ref.bucket, ref.key):
            logger.info("late event for a deleted document whose object is gone; the tombstone stands")
            return Outcome(document_id, Status.DELETED, skipped=True)
        if attempt >= self._settings.max_receive_count and existing and self._worker_died(existing):
            return self._fail_after_worker_deaths(existing, attempt)
        try:
            record = self._lifecycle.claim(ref, existing, attempt, self._tenant_of(ref.key))
        except DocumentBusy:
            if attempt < self._settings.max_receive_count:
                raise
            # The claim holder's own delivery brings the document to a terminal state; parking this
            # one in the DLQ would only leave a message there for a document that is fine.
            logger.warning("document still busy on the last attempt; leaving it to the claim holder")
            return Outcome(document_id, Status.PROCESSING, skipped=True)
        if record is None:
            return Outcome(document_id, Status.INDEXED, existing.chunk_count if existing else 0, skipped=True)
        timer = StageTimer(_Budget(remaining_ms, self._settings.time_reserve_s * 1000).check)
        try:
            return self._ingest(record, timer)
        except ClaimLost:
            # DocumentLifecycle has already removed this worker's output if the document was deleted.
            return Outcome(document_id, Status.PROCESSING, skipped=True)
        except DocumentError as error:
            stage = timer.stage_of(error)
            # The full text stays in the logs (with the document id); the record gets failures.py's words.
            logger.warning(
                "document failed",
                extra={"error_code": error.code.value, "stage": stage, "detail": error.message},
            )
            # A FAILED document keeps no chunks (search must not show it) and no processed output.
            self._lifecycle.discard_outputs(document_id, record.tenant)
            self._lifecycle.finish_failed(record, error.code.value, permanent_failure_message(error, stage))
            return Outcome(document_id, Status.FAILED, tenant=record.tenant, error_code=error.code.value)
        except Exception as error:
            code = "PROVIDER_ERROR" if isinstance(error, TransientError) else "INTERNAL"
            stage = timer.stage_of(error)
            logger.warning(
                "attempt failed",
                extra={"error_code": code, "stage": stage, "attempt": attempt, "detail": f"{error!r}"},
                exc_info=not isinstance(error, TransientError),
            )
            if attempt >= self._settings.max_receive_count:
                try:
                    self._lifecycle.discard_outputs(document_id, record.tenant)
                except Exception:
                    # The index may be what is failing; the FAILED record (and its reason) matters more.
                    logger.exception("could not remove a failed document's chunks and output")
                self._lifecycle.finish_failed(record, code, gave_up_message(error, stage, attempt))
            else:
                self._lifecycle.release(record, code, retry_message(error, stage, attempt))
            raise

    def _worker_died(self, record: DocumentRecord) -> bool:
        """PROCESSING with its lease run out: the claim was never released (a failure releases it)."""
        lease = record.lease_expires_at
        return record.status == Status.PROCESSING and lease is not None and lease <= self._clock()

    def _fail_after_worker_deaths(self, record: DocumentRecord, attempt: int) -> Outcome:
        """The last delivery, after one that killed the worker mid-document (memory or time ran out):
        another try would likely die too, sending the message to the DLQ with the document PROCESSING."""
        logger.error("a worker died processing this document; failing it on its last delivery")
        try:
            self._lifecycle.discard_outputs(record.document_id, record.tenant)
        except Exception:
            logger.exception("could not remove the chunks and output a dead worker left behind")
        message = (
            f"The worker stopped (out of memory or time) on this file; {attempt} deliveries did not get it "
            "through. Split or simplify it, or give the worker more memory or time, then upload it again."
        )
        self._lifecycle.finish_failed(record, ErrorCode.WORKER_DIED.value, message)
        return Outcome(
            record.document_id, Status.FAILED, tenant=record.tenant, error_code=ErrorCode.WORKER_DIED.value
        )

    def _ingest(self, record: DocumentRecord, timer: StageTimer) -> Outcome:
        tenant = record.tenant
        if tenant is None:
            raise DocumentError(
                ErrorCode.NO_TENANT,
                f"{record.key} belongs to no tenant: put it under tenants/<tenant>/ in the bucket (a tenant"
                " name is 1-64 letters, digits, '_', '.' or '-'), or upload it through POST /uploads",
            )
        with timer.stage("fetch"):
            obj = self._store.get(record.bucket, record.key, self._settings.max_object_bytes)
        # Metadata given at upload lives in the catalog; objects dropped straight into the bucket
        # carry theirs as S3 user metadata.
        metadata = {**obj.metadata, **record.metadata}
        declared_type = record.content_type or obj.content_type
        with timer.stage("parse"):
            parsed = self._parser.parse(obj.body, record.key, declared_type)
        with timer.stage("chunk"):
            chunks = chunk_document(
                record.document_id,
                obj.etag,
                parsed,
                chunk_tokens=self._settings.chunk_tokens,
                overlap_tokens=self._settings.chunk_overlap_tokens,
                max_chunks=self._settings.max_chunks,
            )
        extracting = self._start_extraction(record, parsed, timer)
        # Read before embedding: should a re-embed switch models meanwhile, the chunks are labelled
        # with the older model and the index refuses them (retried), never stored under the wrong one.
        model_id, dimensions = self._embedder.model_id, self._embedder.dimensions
        try:
            with timer.stage("embed"):
                vectors = self._embed(chunks)
        finally:
            # Wait even when embedding failed: nothing of this document may still run once it is retried.
            wait([extracting])
        extraction = extracting.result()
        indexed = [
            IndexedChunk(
                chunk=chunk,
                vector=vector,
                version=obj.etag,
                key=record.key,
                content_type=parsed.content_type,
                metadata=metadata,
                tenant=tenant,
                model_id=model_id,
                dimensions=dimensions,
                created_at=record.created_at,
            )
            for chunk, vector in zip(chunks, vectors, strict=True)
        ]
        with timer.stage("index"):
            self._index.replace_document(record.document_id, obj.etag, indexed)
        done = replace(
            record,
            status=Status.INDEXED,
            etag=obj.etag,
            size=obj.size,
            content_type=parsed.content_type,
            metadata=metadata,
            chunk_count=len(chunks),
            extraction=extraction_view(extraction),
            processed_key=processed_key(tenant, record.document_id),
            # The timer's own dict, so the catalog gets the record stage too; the processed JSON,
            # serialised as it is written, has the stages before it.
            timings_ms=timer.timings,
            usage=self._usage_entry(obj.size, len(chunks)) if self._usage_entry else None,
        )
        with timer.stage("record"):
            self._store.put_json(
                self._settings.processed_bucket,
                done.processed_key,
                processed_document(done, obj, parsed, chunks, self._embedder.model_id),
            )
        self._lifecycle.finish_indexed(done)
        logger.info("document indexed", extra={"chunks": len(chunks), "timings_ms": timer.timings})
        return Outcome(
            record.document_id,
            Status.INDEXED,
            len(chunks),
            tenant=tenant,
            timings_ms=timer.timings,
            source_bytes=obj.size,
            usage_recorded=done.usage is not None,
        )

    def _start_extraction(
        self, record: DocumentRecord, parsed: ParsedDocument, timer: StageTimer
    ) -> Future[ExtractionResult]:
        """The document's extraction, checked against its schema as soon as the extractor answers.

        Extraction needs only the text and embedding only the chunks: when extraction is a remote model
        call it runs in the pool beside embedding, so the document waits for the slower of the two, not
        for both in turn. A local extractor runs here, before embedding: beside the model it only
        competes for the same cores (on the 2-core benchmark machine that cost chunks/s instead of
        saving time)."""
        schema = record.extraction_schema or self._default_schema

        def extract() -> ExtractionResult:
            with timer.stage("extract"):
                extraction = self._extractor.extract(
                    parsed.text, title_hint=parsed.title, content_type=parsed.content_type, schema=schema
                )
            return _held_to(schema, extraction)

        if self._extraction_pool is None:
            extracted: Future[ExtractionResult] = Future()
            extracted.set_result(extract())
            return extracted
        # The copied context carries the document's log keys into the extraction thread.
        return self._extraction_pool.submit(contextvars.copy_context().run, extract)

    def _embed(self, chunks: list[Chunk]) -> list[list[float]]:
        size = self._settings.embed_batch_size
        vectors: list[list[float]] = []
        for start in range(0, len(chunks), size):
            vectors.extend(self._embedder.embed_documents([c.text for c in chunks[start : start + size]]))
        return vectors

    def _remove(self, ref: ObjectRef, attempt: int) -> Outcome:
        if self._store.exists(ref.bucket, ref.key):
            # Events can arrive out of order: the key was written again after this delete, and the
            # newer object's own event decides the document's state.
            logger.info("stale delete event: the object exists again")
            return Outcome(ref.document_id, Status.DELETED, skipped=True)
        # A worker writing this document's chunks now would leave them behind if they were deleted
        # under it: this delete is retried until it has finished, and the retry removes what it wrote.
        # The last delivery deletes anyway rather than leave the message in the dead-letter queue.
        self._lifecycle.delete(
            ref.document_id,
            self._catalog.get(ref.document_id),
            wait_for_worker=attempt < self._settings.max_receive_count,
            tenant=self._tenant_of(ref.key),
        )
        return Outcome(ref.document_id, Status.DELETED)


def _held_to(schema: dict[str, Any] | None, extraction: ExtractionResult) -> ExtractionResult:
    """Every extractor promises schema-valid data, but the local one can fill only the fields it
    knows: a miss is recorded as the extraction's error (the document is still indexed), not raised."""
    if schema is None or extraction.error is not None:
        return extraction
    violation = schema_violation(extraction.data, schema)
    if violation is None:
        return extraction
    return replace(extraction, error=f"extraction does not satisfy the schema: {violation}")
