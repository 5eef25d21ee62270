"""The SQS batch: each message decoded and ingested on its own, failures reported per message.

Powertools' AsyncBatchProcessor returns {"batchItemFailures": [...]} so only the failed messages come back
(the event source mapping needs ReportBatchItemFailures, which infra/ sets).

The records of a batch run concurrently, `concurrency` at a time (QUARRY_RECORD_CONCURRENCY): with
Bedrock a document spends nearly all its time waiting on the extraction call and the embedding calls,
so one document at a time leaves the worker idle, and a document's few chunks cannot fill the Titan
embedder's pool. Two records about the same document cannot both work on it: the catalog claim makes
the second one wait for a retry (see IngestService.handle).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from chalicelib.events import EventDecodeError, decode_body
from chalicelib.observability import logger

if TYPE_CHECKING:
    from concurrent.futures import Future, ThreadPoolExecutor

    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

    from chalicelib.ingest import IngestService

_pools: dict[int, ThreadPoolExecutor] = {}
_pools_lock = threading.Lock()


def record_pool(concurrency: int) -> ThreadPoolExecutor:
    """One pool per size for the life of the process: a Lambda container serves many batches, and
    threads that live on keep their boto3 clients (aws_clients caches them per thread)."""
    from concurrent.futures import ThreadPoolExecutor

    if concurrency < 1:
        raise ValueError("record concurrency must be at least 1")
    with _pools_lock:
        if concurrency not in _pools:
            _pools[concurrency] = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="record")
        return _pools[concurrency]


def handle_batch(
    event: dict[str, Any], context: Any, ingest: IngestService, concurrency: int = 1
) -> dict[str, Any]:
    # Imported here: the batch utility (and asyncio) cost ~100 ms to import, which the API never needs.
    import asyncio
    from concurrent.futures import wait

    from aws_lambda_powertools.utilities.batch import (
        AsyncBatchProcessor,
        EventType,
        async_process_partial_response,
    )

    remaining_ms = getattr(context, "get_remaining_time_in_millis", None)

    def handle_record(record: SQSRecord) -> None:
        # Pool threads are reused: keys from the record this thread handled before must not leak.
        logger.thread_safe_clear_keys()
        logger.thread_safe_append_keys(message_id=record.message_id)
        attempt = int(record.attributes.approximate_receive_count or 1)
        try:
            refs = decode_body(record.body)
        except EventDecodeError as error:
            # No document is named, so nothing can be marked FAILED and a retry decodes no better:
            # log it loudly and let the message go.
            logger.error("undecodable message dropped", extra={"reason": str(error)})
            return
        for ref in refs:
            ingest.handle(ref, attempt=attempt, remaining_ms=remaining_ms)

    pool = record_pool(concurrency)
    started: list[Future] = []

    async def handle_record_in_pool(record: SQSRecord) -> None:
        future = pool.submit(handle_record, record)
        started.append(future)
        await asyncio.wrap_future(future)

    # With the default (raise when every record failed) Lambda would retry the whole batch; reporting
    # each failure instead keeps one code path for partial and total failure.
    processor = AsyncBatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    try:
        return async_process_partial_response(
            event=event, record_handler=handle_record_in_pool, processor=processor, context=context
        )
    finally:
        # If the batch ends abnormally the event loop stops waiting, but the threads go on. No record
        # may outlive its invocation: Lambda would freeze it mid-write and thaw it in the next one.
        wait(started)
