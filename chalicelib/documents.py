"""The documents service: hand out upload URLs, report status, list, delete and reindex documents."""

from __future__ import annotations

import mimetypes
import re
import time
import uuid
from dataclasses import replace
from typing import Any

from chalicelib.api.requests import UploadRequest
from chalicelib.api.views import document_view
from chalicelib.clock import utc_now
from chalicelib.config import Settings
from chalicelib.keys import upload_key
from chalicelib.lifecycle import DocumentLifecycle
from chalicelib.model import (
    DocumentRecord,
    InvalidRequest,
    ListedObject,
    NotFound,
    ObjectRef,
    Status,
    document_id_for,
)
from chalicelib.observability import logger
from chalicelib.ports import Catalog, IngestRequests, ObjectStore, SweepScheduler, VectorIndex

_UNSAFE_KEY_CHARACTERS = re.compile(r"[\x00-\x1f\x7f\\/]+")


def safe_object_name(filename: str) -> str:
    """The last path component, without control characters: a client cannot pick another prefix."""
    name = filename.replace("\\", "/").rsplit("/", 1)[-1]
    name = _UNSAFE_KEY_CHARACTERS.sub("_", name).strip() or "upload"
    return name[:255]


class DocumentsService:
    def __init__(
        self,
        settings: Settings,
        store: ObjectStore,
        catalog: Catalog,
        index: VectorIndex,
        sweeps: SweepScheduler | None = None,
        ingest_requests: IngestRequests | None = None,
    ):
        self._settings = settings
        self._store = store
        self._catalog = catalog
        self._ingest_requests = ingest_requests
        self._lifecycle = DocumentLifecycle(
            catalog,
            store,
            index,
            processed_bucket=settings.processed_bucket,
            claim_lease_s=settings.claim_lease_s,
            sweeps=sweeps,
        )

    def create_upload(self, tenant: str, request: UploadRequest) -> dict[str, Any]:
        # Imported here: the parsing package loads every parser (pypdf, python-docx: ~0.5 s), which
        # the API's other routes should not pay for on a cold start.
        from chalicelib.parsing.content_types import upload_refusal

        name = safe_object_name(request.filename)
        refusal = upload_refusal(name, request.content_type)
        if refusal:
            raise InvalidRequest("unsupported_type", refusal)
        content_type = request.content_type or mimetypes.guess_type(name)[0] or "application/octet-stream"
        key = upload_key(tenant, uuid.uuid4().hex, name)
        now = utc_now()
        record = DocumentRecord(
            document_id=document_id_for(self._settings.raw_bucket, key),
            status=Status.PENDING,
            bucket=self._settings.raw_bucket,
            key=key,
            created_at=now,
            updated_at=now,
            tenant=tenant,
            content_type=content_type,
            metadata=dict(request.metadata),
            extraction_schema=request.extraction_schema,
            expires_at=int(time.time()) + self._settings.pending_expiry_s,
        )
        self._catalog.put(record)
        expires_in = self._settings.upload_url_expires_s
        upload = self._store.presign_upload(
            record.bucket, key, content_type, expires_in, self._settings.max_object_bytes
        )
        return {"document_id": record.document_id, "key": key, "upload": upload, "expires_in": expires_in}

    def get(self, tenant: str, document_id: str) -> dict[str, Any]:
        return document_view(self._record(tenant, document_id))

    def list(self, tenant: str, status: str | None, limit: int, cursor: str | None) -> dict[str, Any]:
        try:
            wanted = Status(status.upper()) if status else None
        except ValueError as error:
            allowed = ", ".join(s.value for s in Status)
            raise InvalidRequest("invalid_status", f"status must be one of {allowed}") from error
        if not 1 <= limit <= 100:
            raise InvalidRequest("invalid_limit", "limit must be between 1 and 100")
        # EXPIRED is never stored: it is a PENDING record past its expiry (DocumentRecord.status_at).
        stored = Status.PENDING if wanted == Status.EXPIRED else wanted
        records, next_cursor = self._catalog.list(tenant, stored, limit, cursor)
        now_s = time.time()
        shown = [r for r in records if wanted is None or r.status_at(now_s) == wanted]
        return {"documents": [document_view(r, now_s) for r in shown], "next_cursor": next_cursor}

    def delete(self, tenant: str, document_id: str) -> dict[str, Any]:
        """Remove the document's chunks, processed output and source object; keep a DELETED tombstone
        (see DocumentLifecycle.delete)."""
        record = self._record(tenant, document_id)
        # The client is answered at once: unlike the worker's delete event, this does not wait for a
        # worker that holds the document.
        removed = self._lifecycle.delete(document_id, record, wait_for_worker=False, remove_source=True)
        return {"document_id": document_id, "status": Status.DELETED.value, "chunks_removed": removed}

    def reindex(self, tenant: str, document_id: str) -> dict[str, Any]:
        """Ingest the document again from its source object, through the ingest queue and the worker,
        even a version already INDEXED (the request is forced). A FAILED document reads PENDING until
        a worker takes it; an INDEXED one stays searchable as it is until the new result replaces it.
        A deleted document, or one whose source object is gone, cannot be: 409."""
        record = self._record(tenant, document_id)
        if record.status == Status.DELETED:
            raise InvalidRequest(
                "document_deleted",
                "this document was deleted, with its source object: upload the file again",
                status=409,
            )
        source = self._source(record)
        if source is None:
            raise InvalidRequest(
                "source_missing",
                f"the source object {record.key} no longer exists, so there is nothing to ingest again: "
                "upload the file again",
                status=409,
            )
        if self._ingest_requests is None:
            raise RuntimeError("DocumentsService was built without an ingest queue: reindex is unavailable")
        queued = record
        if record.status == Status.FAILED:
            # A claim token of its own, so that the reaper can fail it (conditionally on that token)
            # if no delivery of the request ever claims it; a worker's claim replaces it.
            queued = replace(
                record,
                status=Status.PENDING,
                error_code=None,
                error_message=None,
                updated_at=utc_now(),
                claim_token=f"reindex-{uuid.uuid4().hex}",
                lease_expires_at=None,
                expires_at=None,
            )
            self._catalog.put(queued)
        ref = ObjectRef(bucket=source.bucket, key=source.key, etag=source.etag, size=source.size, force=True)
        try:
            self._ingest_requests.send([ref], "reindex")
        except Exception:
            if queued is not record:
                self._catalog.put(record)  # no request went out: show the failure it still has
            raise
        logger.info("reindex requested", extra={"document_id": document_id, "status": queued.status.value})
        return {"document_id": document_id, "status": queued.status.value}

    def _source(self, record: DocumentRecord) -> ListedObject | None:
        """The document's source object as the bucket lists it now, or None when it is gone. A listing
        under the key (not HeadObject) lets the API role list keys without reading any object."""
        first = next(iter(self._store.list_objects(record.bucket, record.key)), None)
        return first if first is not None and first.key == record.key else None

    def _record(self, tenant: str, document_id: str) -> DocumentRecord:
        """The caller's document. Another tenant's is NotFound exactly like a missing one: the answer
        must not tell a caller that an id exists elsewhere."""
        if not re.fullmatch(r"[0-9a-f]{32}", document_id):
            raise NotFound(document_id)
        record = self._catalog.get(document_id)
        if record is None or record.tenant != tenant:
            raise NotFound(document_id)
        return record
