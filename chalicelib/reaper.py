"""The reaper: every document whose message can no longer bring it to an end is ended FAILED.

A message goes to the dead-letter queue once SQS has delivered it `max_receive_count` times. The worker
marks the document FAILED itself on its last delivery when it can (ingest.py: the last attempt's error,
or `_fail_after_worker_deaths`), but a worker killed on that last delivery (out of memory, timeout)
writes nothing: the message moves to the DLQ and the document would stay PROCESSING for ever. The
reaper runs on a schedule (app.py `@app.schedule`; devstack's runner in `make local`) over the
catalog's `by-status` GSI and fails, with WORKER_DIED and a message saying what to do:

- a PROCESSING document whose claim lease has run out and whose claiming delivery was the last one
  (attempts >= max_receive_count): no delivery of that message is left;
- a PROCESSING document nothing has touched for `abandoned_after_s` (its lease run out): no delivery
  reached it for far longer than any retry waits, e.g. the last deliveries died before they could
  claim it, or died in `_fail_after_worker_deaths` (which does not record the attempt);
- a document a reindex queued (PENDING under the reindex's claim token) that no delivery claimed for
  `abandoned_after_s`: every delivery of its request died before claiming it.

Why a reaper rather than a consumer of the DLQ. A DLQ consumer (an event source mapping on the DLQ)
would see every dead-lettered message, also those of a handler that crashed before claiming, but it
deletes what it consumes: the DLQ would always be empty, so `devstack redrive`, `aws sqs
start-message-move-task` and the dead-letters alarm would have nothing to act on. A consumer that
left the messages would receive them again and again for the DLQ's 14 days. The reaper reads only the
catalog, so the DLQ stays as operators know it: inspect, fix, redrive (or POST
/documents/{id}/reindex). What it misses: an uploaded document whose every delivery died before its
first claim stays PENDING (shown EXPIRED after QUARRY_PENDING_EXPIRY_S: nothing tells it from an
upload whose bytes never came without reading the bucket); its message is in the DLQ, which alarms,
and a redrive or a reindex ingests it.

Each write is conditional on the claim the reaper read (Catalog.put with its claim_token): a delivery
that claims the document meanwhile (a redrive, a reindex, a duplicate event) wins, and a redriven
message finds a FAILED document it may claim again like any other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from chalicelib.clock import later, utc_now
from chalicelib.lifecycle import DocumentLifecycle
from chalicelib.model import DocumentRecord, ErrorCode, Status
from chalicelib.observability import logger
from chalicelib.ports import Catalog

PAGE = 100


@dataclass(frozen=True)
class ReapReport:
    examined: int
    failed: list[str]


class Reaper:
    def __init__(
        self,
        catalog: Catalog,
        lifecycle: DocumentLifecycle,
        *,
        max_receive_count: int,
        abandoned_after_s: int,
        max_pages: int = 50,
        clock: Callable[[], str] = utc_now,
    ):
        self._catalog = catalog
        self._lifecycle = lifecycle
        self._max_receive_count = max_receive_count
        self._abandoned_after_s = abandoned_after_s
        # One run reads at most this many pages; the next run goes on with whatever is left.
        self._max_pages = max_pages
        self._clock = clock

    def reap(self) -> ReapReport:
        now = self._clock()
        examined = 0
        failed: list[str] = []
        for status in (Status.PROCESSING, Status.PENDING):
            cursor: str | None = None
            for _ in range(self._max_pages):
                records, cursor = self._catalog.list_by_status(status, PAGE, cursor)
                examined += len(records)
                for listed in records:
                    if self._abandonment(listed, now) is None:
                        continue
                    # The GSI is eventually consistent: decide on the record as it is now.
                    record = self._catalog.get(listed.document_id)
                    message = record and self._abandonment(record, now)
                    if record and message and self._fail(record, message):
                        failed.append(record.document_id)
                # Oldest first: past the first PENDING record too young to be abandoned, none is.
                young = status == Status.PENDING and records and not self._untouched(records[-1], now)
                if cursor is None or young:
                    break
        if failed:
            logger.warning(
                "abandoned documents failed",
                extra={"failed": len(failed), "documents": failed[:20], "examined": examined},
            )
        return ReapReport(examined, failed)

    def _untouched(self, record: DocumentRecord, now: str) -> bool:
        return later(record.updated_at, self._abandoned_after_s) <= now

    def _abandonment(self, record: DocumentRecord, now: str) -> str | None:
        """Why no delivery will end `record`, as its owner reads it; None while one still may."""
        if record.claim_token is None:
            return None  # an upload waiting for its bytes (shown EXPIRED in time), or a finished one
        if record.status == Status.PENDING:
            # Queued by a reindex (DocumentsService.reindex) and never claimed since.
            if not self._untouched(record, now):
                return None
            return (
                f"Queued for ingestion again {self._abandoned_after_s / 3600:g} h ago, but no worker has "
                f"reached this file since. Try again: reindex it (POST /documents/{record.document_id}"
                "/reindex); if it ends this way again, split or simplify the file."
            )
        if record.status != Status.PROCESSING:
            return None
        lease = record.lease_expires_at
        if lease is not None and lease > now:
            return None  # a worker may still be on it
        reindex = f"reindex it (POST /documents/{record.document_id}/reindex)"
        if lease is not None and record.attempts >= self._max_receive_count:
            return (
                "The worker stopped (out of memory or time) on this file on its last delivery "
                f"(attempt {record.attempts} of {self._max_receive_count}). Split or simplify it, or give "
                f"the worker more memory or time, then {reindex}."
            )
        if self._untouched(record, now):
            return (
                "Ingestion stopped without an outcome: no worker has reached this file for "
                f"{self._abandoned_after_s / 3600:g} h (last attempt {record.attempts}). Try again: "
                f"{reindex}; if it ends this way again, split or simplify the file."
            )
        return None

    def _fail(self, record: DocumentRecord, message: str) -> bool:
        logger.append_keys(document_id=record.document_id)
        try:
            done = self._lifecycle.fail_abandoned(record, ErrorCode.WORKER_DIED.value, message)
        except Exception:
            # One document's trouble (its index cleanup) must not stop the rest of the run.
            logger.exception("could not fail an abandoned document")
            return False
        finally:
            logger.remove_keys(["document_id"])
        if not done:
            logger.info("abandoned document claimed meanwhile; that delivery decides")
        return done
