"""A document's lifecycle: every catalog write that moves it between states, and the removal of what
ingestion produced for it.

    PENDING (upload) ─claim→ PROCESSING (leased) ─→ INDEXED | FAILED
                       release: PROCESSING without a lease, the last error kept, until the retry
    any state ─delete→ DELETED (the tombstone), chunks and processed output removed

The tombstone always wins. It carries no claim token, so a worker still processing the document loses
its claim: its final write (finish_indexed, finish_failed, release) fails with ClaimLost, and that
worker then finds the tombstone and removes the chunks and processed output it wrote. A claim lost to
another live worker leaves that worker's result alone.

Every write or delete of a document's chunks schedules a delayed sweep (chalicelib/sweeps.py): an index
whose lookups lag its writes (OpenSearch Serverless) can miss chunks written a moment before a delete,
and the sweep, minutes later, removes whatever the catalog says should not be there. On an index whose
lookups see every write (the embedded one) a finished replacement has already removed every older
chunk, so only deletes and lost claims schedule one there: a worker that lost its claim may have
written its chunks over the claim holder's.

The ingest pipeline (chalicelib/ingest.py) and the API's delete (chalicelib/documents.py) both write
through here, so a rule about which write wins over which is a change in this module alone.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import replace

from chalicelib.clock import later, utc_now
from chalicelib.keys import processed_key
from chalicelib.model import ClaimLost, ClaimOutcome, DocumentBusy, DocumentRecord, ObjectRef, Status
from chalicelib.observability import logger
from chalicelib.ports import Catalog, ObjectStore, SweepScheduler, VectorIndex


class DocumentLifecycle:
    def __init__(
        self,
        catalog: Catalog,
        store: ObjectStore,
        index: VectorIndex,
        *,
        processed_bucket: str,
        claim_lease_s: int,
        clock: Callable[[], str] = utc_now,
        sweeps: SweepScheduler | None = None,
    ):
        self._catalog = catalog
        self._sweeps = sweeps
        self._store = store
        self._index = index
        self._processed_bucket = processed_bucket
        self._claim_lease_s = claim_lease_s
        self._clock = clock

    def claim(
        self, ref: ObjectRef, existing: DocumentRecord | None, attempt: int, tenant: str | None
    ) -> DocumentRecord | None:
        """Take the document for this worker, or None when its version is already indexed. A document
        new to the catalog (dropped straight into the bucket) is recorded for `tenant`, the one its key
        names (None: no tenant, which the ingest fails with NO_TENANT).

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
            tenant=tenant,
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
            lease_expires_at=later(now, self._claim_lease_s),
            # A document being processed never expires; its upload's deadline no longer applies.
            expires_at=None,
            # The ledger entry of an earlier version is not this one's.
            usage=None,
        )
        outcome = self._catalog.claim(record, now, force=ref.force)
        if outcome == ClaimOutcome.ALREADY_INDEXED:
            logger.info("version already indexed by another delivery")
            return None
        if outcome == ClaimOutcome.BUSY:
            raise DocumentBusy(f"document {ref.document_id} is being processed by another worker")
        return record

    def release(self, record: DocumentRecord, code: str, message: str) -> None:
        """Give the document back for the retry, keeping the last error visible while it waits."""
        released = replace(
            record, error_code=code, error_message=message, updated_at=self._clock(), lease_expires_at=None
        )
        self._put_while_claimed(released, record.claim_token)

    def finish_indexed(self, done: DocumentRecord) -> None:
        """Record the worker's result and end its claim. Raises ClaimLost when another worker took the
        document over meanwhile: its result stands, and the caller must not report this one."""
        finished = replace(
            done, indexed_etag=done.etag, updated_at=self._clock(), claim_token=None, lease_expires_at=None
        )
        try:
            self._catalog.put(finished, claim_token=done.claim_token)
        except ClaimLost:
            self._clean_up_after_lost_claim(done)
            raise
        if not self._index.lookups_see_writes:
            # The replacement deleted the older chunks it could see; the sweep removes those it could not.
            self.schedule_sweep(done.document_id)

    def finish_failed(self, record: DocumentRecord, code: str, message: str) -> None:
        """End the claim with the document FAILED and the reason recorded."""
        failed = self._failed(record, code, message)
        self._put_while_claimed(failed, record.claim_token)

    def fail_abandoned(self, record: DocumentRecord, code: str, message: str) -> bool:
        """FAILED for a document no delivery will bring to an end (chalicelib/reaper.py), written only
        while `record`'s claim still stands: False when a delivery claimed it meanwhile (that delivery
        decides). Its outputs are removed after the write, so they cannot be a new claim holder's."""
        failed = self._failed(record, code, message)
        try:
            self._catalog.put(failed, claim_token=record.claim_token)
        except ClaimLost:
            return False
        self.discard_outputs(record.document_id, record.tenant)
        return True

    def discard_outputs(self, document_id: str, tenant: str | None) -> int:
        """Remove the document's chunks (search must not show it) and its processed output; returns how
        many chunks were removed. A document of no tenant never had processed output."""
        # Scheduled first: if the delete below fails, or misses chunks a lagging index hides, the
        # sweep still comes.
        self.schedule_sweep(document_id)
        removed = self._index.delete_document(document_id)
        if tenant is not None:
            self._store.delete(self._processed_bucket, processed_key(tenant, document_id))
        return removed

    def delete(
        self,
        document_id: str,
        record: DocumentRecord | None,
        *,
        wait_for_worker: bool,
        remove_source: bool = False,
        tenant: str | None = None,
    ) -> int:
        """Discard the document's outputs (and with `remove_source` its source object) and leave
        `record`, when there is one, as a DELETED tombstone: a late event for the old object cannot
        bring it back unnoticed, and clients can see why it is gone. Returns the chunks removed.

        With `wait_for_worker`, raises DocumentBusy instead while a worker's lease on the document is
        live: deleting under it would leave behind the chunks it is writing. `tenant` says whose
        processed output to remove when there is no record to tell.
        """
        if wait_for_worker and self._worker_holds(record):
            raise DocumentBusy(f"document {document_id} is being processed; the delete will be retried")
        if record is not None:
            # The tombstone goes first and drops the claim: a worker that finishes after it loses its
            # claim and cleans up; one that finished before it is overwritten, and what it wrote is
            # removed below.
            self._catalog.put(
                replace(
                    record,
                    status=Status.DELETED,
                    chunk_count=0,
                    indexed_etag=None,
                    updated_at=self._clock(),
                    claim_token=None,
                    lease_expires_at=None,
                )
            )
        removed = self.discard_outputs(document_id, record.tenant if record else tenant)
        if remove_source and record is not None:
            self._store.delete(record.bucket, record.key)
        return removed

    def schedule_sweep(self, document_id: str) -> None:
        if self._sweeps is None:
            return
        try:
            self._sweeps.schedule_sweep(document_id)
        except Exception:
            # The write it follows has happened and must be reported as it went; only the clean-up of
            # what a lagging index hid is lost, and the next write or delete schedules another.
            logger.exception("could not schedule the document's sweep", extra={"document_id": document_id})

    def _failed(self, record: DocumentRecord, code: str, message: str) -> DocumentRecord:
        """`record` FAILED with the reason, its claim ended and nothing of it searchable."""
        return replace(
            record,
            status=Status.FAILED,
            chunk_count=0,
            indexed_etag=None,
            error_code=code,
            error_message=message,
            updated_at=self._clock(),
            claim_token=None,
            lease_expires_at=None,
        )

    def _worker_holds(self, record: DocumentRecord | None) -> bool:
        return bool(
            record
            and record.status == Status.PROCESSING
            and record.lease_expires_at
            and record.lease_expires_at > self._clock()
        )

    def _put_while_claimed(self, record: DocumentRecord, claim_token: str | None) -> None:
        try:
            self._catalog.put(record, claim_token=claim_token)
        except ClaimLost:
            self._clean_up_after_lost_claim(record)

    def _clean_up_after_lost_claim(self, mine: DocumentRecord) -> None:
        """After a claim was lost: a tombstone (or no record at all) means the document was deleted
        while this worker wrote, so what it wrote goes too. Otherwise another worker holds or finished
        the document, and its chunks and output, not this worker's, are what the index now holds."""
        current = self._catalog.get(mine.document_id)
        if current is not None and current.status != Status.DELETED:
            logger.warning("claim lost to another worker; its result stands")
            # This worker's chunks may have replaced the claim holder's after it finished: the sweep
            # keeps only the latest write of the version the catalog records.
            self.schedule_sweep(mine.document_id)
            return
        logger.warning("the document was deleted while it was processed; removing what this worker wrote")
        self.discard_outputs(mine.document_id, mine.tenant)
