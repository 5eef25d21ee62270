"""The ingest service: one S3 object in, one document indexed (or failed with a reason) out.

Data flows one way: fetch → parse → chunk → extract → embed → index → record. Each step is a plain
function or port call; this module only composes them and keeps the catalog truthful at every step.
"""

from __future__ import annotations

import contextvars
import json
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

from chalicelib import parsing
from chalicelib.chunking import chunk_document
from chalicelib.clock import later, utc_now
from chalicelib.config import Settings
from chalicelib.extraction import check_extraction_schema, schema_violation
from chalicelib.model import (
    Chunk,
    ClaimLost,
    ClaimOutcome,
    DocumentBusy,
    DocumentError,
    DocumentRecord,
    ErrorCode,
    ExtractionResult,
    IndexedChunk,
    ObjectRef,
    ParsedDocument,
    Status,
    StoredObject,
    TransientError,
    processed_key,
)
from chalicelib.observability import logger
from chalicelib.ports import Catalog, Embedder, Extractor, ObjectStore, VectorIndex


@dataclass(frozen=True)
class Outcome:
    document_id: str
    status: Status
    chunk_count: int = 0
    skipped: bool = False


class _Budget:
    """The invocation's remaining time: a stage may start only with the reserve still left."""

    def __init__(self, remaining_ms: Callable[[], int] | None, reserve_ms: int):
        self._remaining_ms = remaining_ms
        self._reserve_ms = reserve_ms

    def check(self, stage: str) -> None:
        if self._remaining_ms is not None and self._remaining_ms() < self._reserve_ms:
            raise TransientError(
                f"the worker's time ran out before the {stage} stage; the document will be retried "
                "(if it keeps happening the file is too big for the worker's timeout: split it)"
            )


class StageTimer:
    """Wall time of each pipeline stage, in ms, recorded in the catalog and the processed JSON."""

    def __init__(self, before_stage: Callable[[str], None] = lambda stage: None) -> None:
        self.timings: dict[str, float] = {}
        self._before_stage = before_stage

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        self._before_stage(name)
        started = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = round((time.perf_counter() - started) * 1000, 2)


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
    ):
        self._settings = settings
        self._store = store
        self._catalog = catalog
        self._extractor = extractor
        self._embedder = embedder
        self._index = index
        self._clock = clock
        self._limits = parsing.ParseLimits.from_settings(settings)
        # Only a remote extractor runs beside embedding (see _extract_and_embed). Threads live as long
        # as the service (a Lambda container's life), one per record in flight.
        self._extraction_pool = (
            ThreadPoolExecutor(max_workers=settings.record_concurrency, thread_name_prefix="extract")
            if extractor.waits_on_network
            else None
        )
        self._default_schema = json.loads(settings.extraction_schema) if settings.extraction_schema else None
        if self._default_schema is not None:
            check_extraction_schema(self._default_schema)

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
        if existing and existing.status == Status.INDEXED and ref.etag and existing.etag == ref.etag:
            logger.info("version already indexed; duplicate delivery skipped")
            return Outcome(document_id, Status.INDEXED, existing.chunk_count, skipped=True)
        if existing and existing.status == Status.DELETED and not self._store.exists(ref.bucket, ref.key):
            logger.info("late event for a deleted document whose object is gone; the tombstone stands")
            return Outcome(document_id, Status.DELETED, skipped=True)
        if attempt >= self._settings.max_receive_count and existing and self._worker_died(existing):
            return self._fail_after_worker_deaths(existing, attempt)
        try:
            record = self._claim(ref, existing, attempt)
        except DocumentBusy:
            if attempt < self._settings.max_receive_count:
                raise
            # The claim holder's own delivery brings the document to a terminal state; parking this
            # one in the DLQ would only leave a message there for a document that is fine.
            logger.warning("document still busy on the last attempt; leaving it to the claim holder")
            return Outcome(document_id, Status.PROCESSING, skipped=True)
        if record is None:
            return Outcome(document_id, Status.INDEXED, existing.chunk_count if existing else 0, skipped=True)
        budget = _Budget(remaining_ms, self._settings.time_reserve_s * 1000)
        try:
            return self._ingest(record, budget)
        except ClaimLost:
            logger.warning("claim lost to another worker; its result stands")
            return Outcome(document_id, Status.PROCESSING, skipped=True)
        except DocumentError as error:
            logger.warning("document failed", extra={"error_code": error.code.value})
            self._discard_outputs(document_id)
            self._finish_failed(record, error.code.value, error.message)
            return Outcome(document_id, Status.FAILED)
        except Exception as error:
            code = "PROVIDER_ERROR" if isinstance(error, TransientError) else "INTERNAL"
            if attempt >= self._settings.max_receive_count:
                try:
                    self._discard_outputs(document_id)
                except Exception:
                    # The index may be what is failing; the FAILED record (and its reason) matters more.
                    logger.exception("could not remove a failed document's chunks and output")
                self._finish_failed(record, code, f"Gave up after {attempt} attempts: {error}")
            else:
                self._release(record, code, f"Attempt {attempt} failed and will be retried: {error}")
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
            self._discard_outputs(record.document_id)
        except Exception:
            logger.exception("could not remove the chunks and output a dead worker left behind")
        message = (
            f"The worker stopped (out of memory or time) on this file; {attempt} deliveries did not get it "
            "through. Split or simplify it, or give the worker more memory or time, then upload it again."
        )
        self._finish_failed(record, ErrorCode.WORKER_DIED.value, message)
        return Outcome(record.document_id, Status.FAILED)

    def _claim(self, ref: ObjectRef, existing: DocumentRecord | None, attempt: int) -> DocumentRecord | None:
        """Take the document for this worker, or None when its version is already indexed.

        Raises DocumentBusy while another worker's lease is live, so this delivery is retried after it.
        """
        now = self._clock()
        base = existing or DocumentRecord(
            document_id=ref.document_id,
            status=Status.PENDING,
            bucket=ref.bucket,
            key=ref.key,
            created_at=now,
            updated_at=now,
        )
        record = replace(
            base,
            status=Status.PROCESSING,
            etag=ref.etag or base.etag,
            size=ref.size if ref.size is not None else base.size,
            updated_at=now,
            error_code=None,
            error_message=None,
            attempts=attempt,
            claim_token=uuid.uuid4().hex,
            lease_expires_at=later(now, self._settings.claim_lease_s),
        )
        outcome = self._catalog.claim(record, now)
        if outcome == ClaimOutcome.ALREADY_INDEXED:
            logger.info("version already indexed by another delivery")
            return None
        if outcome == ClaimOutcome.BUSY:
            raise DocumentBusy(f"document {ref.document_id} is being processed by another worker")
        return record

    def _ingest(self, record: DocumentRecord, budget: _Budget) -> Outcome:
        timer = StageTimer(budget.check)
        with timer.stage("fetch"):
            obj = self._store.get(record.bucket, record.key, self._settings.max_object_bytes)
        # Metadata given at upload lives in the catalog; objects dropped straight into the bucket
        # carry theirs as S3 user metadata.
        metadata = {**obj.metadata, **record.metadata}
        declared_type = record.content_type or obj.content_type
        with timer.stage("parse"):
            parsed = parsing.parse(obj.body, record.key, declared_type, self._limits)
        with timer.stage("chunk"):
            chunks = chunk_document(
                record.document_id,
                obj.etag,
                parsed,
                chunk_tokens=self._settings.chunk_tokens,
                overlap_tokens=self._settings.chunk_overlap_tokens,
                max_chunks=self._settings.max_chunks,
            )
        extraction, vectors = self._extract_and_embed(record, parsed, chunks, timer)
        indexed = [
            IndexedChunk(
                chunk=chunk,
                vector=vector,
                version=obj.etag,
                key=record.key,
                content_type=parsed.content_type,
                metadata=metadata,
            )
            for chunk, vector in zip(chunks, vectors, strict=True)
        ]
        with timer.stage("index"):
            self._index.replace_document(record.document_id, obj.etag, indexed)
        schema = record.extraction_schema or self._default_schema
        if schema is not None and extraction.error is None:
            # Every extractor promises schema-valid data; the local one can fill only fields it knows.
            violation = schema_violation(extraction.data, schema)
            if violation:
                extraction = replace(extraction, error=f"extraction does not satisfy the schema: {violation}")
        extraction_view = {
            "data": extraction.data,
            "model": extraction.model,
            "input_tokens": extraction.input_tokens,
            "output_tokens": extraction.output_tokens,
            "latency_ms": extraction.latency_ms,
            "error": extraction.error,
        }
        done = replace(
            record,
            status=Status.INDEXED,
            etag=obj.etag,
            size=obj.size,
            content_type=parsed.content_type,
            metadata=metadata,
            chunk_count=len(chunks),
            extraction=extraction_view,
            processed_key=processed_key(record.document_id),
            timings_ms=timer.timings,
        )
        with timer.stage("record"):
            self._store.put_json(
                self._settings.processed_bucket,
                done.processed_key,
                processed_document(done, obj, parsed, chunks, self._embedder.model_id),
            )
        done = replace(
            done, timings_ms=timer.timings, updated_at=self._clock(), claim_token=None, lease_expires_at=None
        )
        self._catalog.put(done, claim_token=record.claim_token)
        logger.info("document indexed", extra={"chunks": len(chunks), "timings_ms": timer.timings})
        return Outcome(record.document_id, Status.INDEXED, len(chunks))

    def _extract_and_embed(
        self, record: DocumentRecord, parsed: ParsedDocument, chunks: list[Chunk], timer: StageTimer
    ) -> tuple[ExtractionResult, list[list[float]]]:
        """Extraction and embedding need only the text and the chunks. When extraction is a remote
        model call they run side by side, so the document waits for the slower of the two, not for
        both in turn. A local extractor runs first: beside the model it only competes for the same
        cores (on the 2-core benchmark machine that cost chunks/s instead of saving time)."""

        def extract() -> ExtractionResult:
            with timer.stage("extract"):
                return self._extractor.extract(
                    parsed.text,
                    title_hint=parsed.title,
                    content_type=parsed.content_type,
                    schema=record.extraction_schema or self._default_schema,
                )

        if self._extraction_pool is None:
            extraction = extract()
            with timer.stage("embed"):
                return extraction, self._embed(chunks)
        # The copied context carries the document's log keys into the extraction thread.
        extracting = self._extraction_pool.submit(contextvars.copy_context().run, extract)
        try:
            with timer.stage("embed"):
                vectors = self._embed(chunks)
        finally:
            # Wait even when embedding failed: nothing of this document may still run once it is retried.
            wait([extracting])
        return extracting.result(), vectors

    def _embed(self, chunks: list[Chunk]) -> list[list[float]]:
        size = self._settings.embed_batch_size
        vectors: list[list[float]] = []
        for start in range(0, len(chunks), size):
            vectors.extend(self._embedder.embed_documents([c.text for c in chunks[start : start + size]]))
        return vectors

    def _discard_outputs(self, document_id: str) -> None:
        """A FAILED document keeps no chunks (search must not show it) and no processed output."""
        self._index.delete_document(document_id)
        self._store.delete(self._settings.processed_bucket, processed_key(document_id))

    def _release(self, record: DocumentRecord, code: str, message: str) -> None:
        """Give the document back for the retry, keeping the last error visible while it waits."""
        released = replace(
            record, error_code=code, error_message=message, updated_at=self._clock(), lease_expires_at=None
        )
        try:
            self._catalog.put(released, claim_token=record.claim_token)
        except ClaimLost:
            logger.warning("claim lost to another worker; its result stands")

    def _finish_failed(self, record: DocumentRecord, code: str, message: str) -> None:
        failed = replace(
            record,
            status=Status.FAILED,
            chunk_count=0,
            error_code=code,
            error_message=message,
            updated_at=self._clock(),
            claim_token=None,
            lease_expires_at=None,
        )
        try:
            self._catalog.put(failed, claim_token=record.claim_token)
        except ClaimLost:
            logger.warning("claim lost to another worker; its result stands")

    def _remove(self, ref: ObjectRef, attempt: int) -> Outcome:
        if self._store.exists(ref.bucket, ref.key):
            # Events can arrive out of order: the key was written again after this delete, and the
            # newer object's own event decides the document's state.
            logger.info("stale delete event: the object exists again")
            return Outcome(ref.document_id, Status.DELETED, skipped=True)
        existing = self._catalog.get(ref.document_id)
        if (
            existing
            and existing.status == Status.PROCESSING
            and existing.lease_expires_at
            and existing.lease_expires_at > self._clock()
            and attempt < self._settings.max_receive_count
        ):
            # A worker is writing this document's chunks now; deleting under it would leave them behind
            # when it finishes. Once it has, this retried delete removes what it wrote.
            raise DocumentBusy(f"document {ref.document_id} is being processed; the delete will be retried")
        self._discard_outputs(ref.document_id)
        if existing:
            self._catalog.put(
                replace(existing, status=Status.DELETED, chunk_count=0, updated_at=self._clock())
            )
        return Outcome(ref.document_id, Status.DELETED)


def processed_document(
    record: DocumentRecord,
    obj: StoredObject,
    parsed: ParsedDocument,
    chunks: list[Chunk],
    embedding_model: str,
) -> dict[str, Any]:
    """The JSON written to the processed-output bucket: everything ingestion learned, in one file."""
    return {
        "document_id": record.document_id,
        "source": {
            "bucket": obj.bucket,
            "key": obj.key,
            "etag": obj.etag,
            "size": obj.size,
            "content_type": parsed.content_type,
        },
        "metadata": record.metadata,
        "title": parsed.title,
        "text": parsed.text,
        "pages": len(parsed.pages),
        "chunks": [
            {
                "chunk_id": c.chunk_id,
                "ordinal": c.ordinal,
                "page": c.page,
                "start": c.start,
                "end": c.end,
                "text": c.text,
            }
            for c in chunks
        ],
        "extraction": record.extraction,
        "embedding_model": embedding_model,
        "timings_ms": record.timings_ms,
    }
