"""The delayed sweep: minutes after a document's chunks were written or deleted, bring the index in line
with the catalog.

OpenSearch Serverless makes a write visible to searches (and to the lookups that find chunks to
delete) only about a minute later, so a delete or a replacement can miss chunks written just before it
(chalicelib/adapters/opensearch/index.py). Every such write or delete therefore sends a delayed message
naming the document (DocumentLifecycle.schedule_sweep, QUARRY_SWEEP_DELAY_S, 180 s by default), and
this handler, consuming the sweep queue, removes whatever the catalog says should not be there:

- DELETED, FAILED, PENDING or no record at all: no chunk of it may stay;
- INDEXED at version v: only the latest write of v stays;
- PROCESSING: left alone; the worker's own finish (or clean-up) schedules another sweep.

The catalog is read before the index is swept, and nothing locks the two together: a worker that claims
the document in between and writes a new version could, in principle, see those fresh chunks swept.
On OpenSearch Serverless the sweep's own lookup cannot see chunks written in the last minute, so they
are safe. On the embedded index the window is the few milliseconds between the catalog read and the
delete; closing it would need a delete conditional on the catalog, which neither store can express.

Sweep messages have their own queue and dead-letter queue, not the ingest queue: the ingest worker, its
retry backoff and its DLQ (whose every message must be about a FAILED document) all read S3 events,
and a sweep needs none of the ingest worker's memory or time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalicelib.model import Status, document_of_sweep_message
from chalicelib.observability import logger
from chalicelib.ports import Catalog, VectorIndex

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord


class SweepService:
    def __init__(self, catalog: Catalog, index: VectorIndex):
        self._catalog = catalog
        self._index = index

    def sweep(self, document_id: str) -> int:
        """Remove the document's chunks its catalog record does not account for; how many."""
        record = self._catalog.get(document_id)
        if record is not None and record.status == Status.PROCESSING:
            logger.info("document is being processed; its worker schedules the next sweep")
            return 0
        if record is not None and record.status == Status.INDEXED:
            if not record.etag:
                logger.error("INDEXED document with no version; sweep skipped")
                return 0
            keep: str | None = record.etag
        else:
            keep = None
        removed = self._index.sweep(document_id, keep)
        if removed:
            # Worth seeing: each one was a chunk a search could have returned.
            logger.warning(
                "sweep removed stray chunks",
                extra={"removed": removed, "status": record.status.value if record else "ABSENT"},
            )
        return removed


def handle_sweep_batch(event: dict[str, Any], context: Any, sweeps: SweepService) -> dict[str, Any]:
    """Sweep each document the batch names; a sweep that fails (the index unavailable) is reported in
    batchItemFailures and comes back after the queue's visibility timeout, then goes to its DLQ."""
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

    def sweep_record(record: SQSRecord) -> None:
        logger.thread_safe_clear_keys()
        try:
            document_id = document_of_sweep_message(record.body)
        except ValueError as error:
            # Retrying cannot make it name a document.
            logger.error("undecodable sweep message dropped", extra={"reason": str(error)})
            return
        logger.thread_safe_append_keys(document_id=document_id, message_id=record.message_id)
        sweeps.sweep(document_id)

    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    return process_partial_response(
        event=event, record_handler=sweep_record, processor=processor, context=context
    )
