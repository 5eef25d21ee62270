"""The SQS batch: each message decoded and ingested on its own, failures reported per message.

Powertools' BatchProcessor returns {"batchItemFailures": [...]} so only the failed messages come back
(the event source mapping needs ReportBatchItemFailures, which infra/ sets).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalicelib.events import EventDecodeError, decode_body
from chalicelib.observability import logger

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

    from chalicelib.ingest import IngestService


def handle_batch(event: dict[str, Any], context: Any, ingest: IngestService) -> dict[str, Any]:
    # Imported here: the batch utility costs ~100 ms to import, which the API function never needs.
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

    def handle_record(record: SQSRecord) -> None:
        logger.remove_keys(["document_id", "key"])
        logger.append_keys(message_id=record.message_id)
        attempt = int(record.attributes.approximate_receive_count or 1)
        try:
            refs = decode_body(record.body)
        except EventDecodeError as error:
            # No document is named, so nothing can be marked FAILED and a retry decodes no better:
            # log it loudly and let the message go.
            logger.error("undecodable message dropped", extra={"reason": str(error)})
            return
        remaining_ms = getattr(context, "get_remaining_time_in_millis", None)
        for ref in refs:
            ingest.handle(ref, attempt=attempt, remaining_ms=remaining_ms)

    # With the default (raise when every record failed) Lambda would retry the whole batch; reporting
    # each failure instead keeps one code path for partial and total failure.
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    return process_partial_response(
        event=event, record_handler=handle_record, processor=processor, context=context
    )
