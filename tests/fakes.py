"""Typed in-memory fakes of the ports for unit tests: they subclass the real interfaces, so a
signature change breaks them as it would break an adapter."""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterator
from dataclasses import replace
from typing import Any

from chalicelib.model import (
    ClaimLost,
    ClaimOutcome,
    DocumentError,
    DocumentRecord,
    DocumentState,
    ErrorCode,
    InvalidRequest,
    ListedObject,
    Status,
    StoredObject,
)
from chalicelib.ports import Catalog, ObjectStore, SweepScheduler


class MemoryObjectStore(ObjectStore):
    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], StoredObject] = {}
        self.json: dict[tuple[str, str], dict[str, Any]] = {}

    def add(
        self,
        bucket: str,
        key: str,
        body: bytes,
        content_type: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> StoredObject:
        obj = StoredObject(
            bucket, key, body, hashlib.md5(body).hexdigest(), len(body), content_type, metadata or {}
        )
        self.objects[(bucket, key)] = obj
        return obj

    def get(self, bucket: str, key: str, max_bytes: int) -> StoredObject:
        if (bucket, key) not in self.objects:
            raise DocumentError(ErrorCode.OBJECT_MISSING, f"{key} no longer exists")
        obj = self.objects[(bucket, key)]
        if obj.size > max_bytes:
            raise DocumentError(ErrorCode.TOO_LARGE, "too large")
        return obj

    def exists(self, bucket: str, key: str) -> bool:
        return (bucket, key) in self.objects

    def put_json(self, bucket: str, key: str, document: dict[str, Any]) -> None:
        self.json[(bucket, key)] = document

    def delete(self, bucket: str, key: str) -> None:
        self.objects.pop((bucket, key), None)
        self.json.pop((bucket, key), None)

    def list_objects(self, bucket: str, prefix: str = "") -> Iterator[ListedObject]:
        for (held, key), obj in sorted(self.objects.items()):
            if held == bucket and key.startswith(prefix):
                yield ListedObject(bucket, key, obj.etag, obj.size)

    def presign_upload(
        self, bucket: str, key: str, content_type: str, expires_in: int, max_bytes: int
    ) -> dict[str, Any]:
        return {
            "method": "POST",
            "url": f"memory://{bucket}",
            "fields": {"key": key, "Content-Type": content_type},
        }


class MemoryCatalog(Catalog):
    def __init__(self) -> None:
        self.records: dict[str, DocumentRecord] = {}
        self.history: list[tuple[str, Status]] = []
        # The id lists get_many was called with, in order: tests count the catalog's round trips.
        self.get_many_calls: list[list[str]] = []
        self.usage_days: dict[tuple[str, str], dict[str, Any]] = {}
        self.day_writes = 0  # add_day_usage calls: one per batch and day, not per document
        self.usage_writes = 0  # record_usage calls: none for a document whose entry came with its record

    def get(self, document_id: str) -> DocumentRecord | None:
        record = self.records.get(document_id)
        return replace(record) if record else None

    def get_many(self, document_ids: Collection[str]) -> dict[str, DocumentState]:
        self.get_many_calls.append(list(document_ids))
        return {
            r.document_id: DocumentState(r.document_id, r.tenant, r.status, r.etag, r.indexed_etag)
            for r in (self.records.get(i) for i in document_ids)
            if r is not None
        }

    def put(self, record: DocumentRecord, claim_token: str | None = None) -> None:
        current = self.records.get(record.document_id)
        if claim_token is not None and (current is None or current.claim_token != claim_token):
            raise ClaimLost(record.document_id)
        self.records[record.document_id] = replace(record)
        self.history.append((record.document_id, record.status))

    def claim(self, record: DocumentRecord, now: str, force: bool = False) -> ClaimOutcome:
        current = self.records.get(record.document_id)
        if not force and current and current.status == Status.INDEXED and current.etag == record.etag:
            return ClaimOutcome.ALREADY_INDEXED
        if current and current.status == Status.PROCESSING and (current.lease_expires_at or "") > now:
            return ClaimOutcome.BUSY
        self.put(record)
        return ClaimOutcome.CLAIMED

    def list(self, tenant: str, status: Status | None, limit: int, cursor: str | None):
        rows = sorted(
            (r for r in self.records.values() if r.tenant == tenant and status in (None, r.status)),
            key=lambda r: r.document_id,
        )
        # Like DynamoDB's, a cursor names its listing: one from another tenant's or status's is refused.
        listing = f"{tenant}#{status.value if status else ''}#"
        start = 0
        if cursor:
            offset = cursor.removeprefix(listing)
            if offset == cursor or not offset.isdigit():
                raise InvalidRequest("invalid_cursor", "cursor is not one this API returned")
            start = int(offset)
        page = rows[start : start + limit]
        more = start + limit < len(rows)
        return [replace(r) for r in page], f"{listing}{start + limit}" if more else None

    def list_by_status(self, status: Status, limit: int, cursor: str | None):
        # Like DynamoDB's ExclusiveStartKey, the cursor is the last key read, so records that leave the
        # status between pages (the reaper fails them) move no other record past it.
        def position(r: DocumentRecord) -> str:
            return f"{r.updated_at}#{r.document_id}"

        rows = sorted((r for r in self.records.values() if r.status == status), key=position)
        rows = [r for r in rows if cursor is None or position(r) > cursor]
        page = rows[:limit]
        return [replace(r) for r in page], position(page[-1]) if len(rows) > limit else None

    def delete(self, document_id: str) -> None:
        self.records.pop(document_id, None)

    def record_usage(self, document_id: str, usage: dict[str, Any]) -> None:
        self.usage_writes += 1
        if document_id not in self.records:
            raise ClaimLost(document_id)  # like DynamoDB's failed condition: nothing written
        self.records[document_id] = replace(self.records[document_id], usage=usage)

    def add_day_usage(self, tenant: str, day: str, documents: dict[str, int], usage: dict[str, Any]) -> None:
        from tests.ledger_totals import add_to_day

        self.day_writes += 1
        add_to_day(self.usage_days.setdefault((tenant, day), {}), documents, usage)

    def usage_by_day(self, tenant: str, days) -> dict[str, dict[str, Any]]:
        return {day: self.usage_days[(tenant, day)] for day in days if (tenant, day) in self.usage_days}


class RecordingSweeps(SweepScheduler):
    """Keeps the documents whose sweep was asked for, in order; `fail` makes scheduling raise."""

    def __init__(self, fail: bool = False) -> None:
        self.scheduled: list[str] = []
        self.fail = fail

    def schedule_sweep(self, document_id: str) -> None:
        if self.fail:
            raise ConnectionError("SQS is unreachable (injected)")
        self.scheduled.append(document_id)
