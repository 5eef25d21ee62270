"""The SQS batch: each message decoded and ingested on its own, failures reported per message.

Powertools' AsyncBatchProcessor returns {"batchItemFailures": [...]} so only the failed messages come back
(the event source mapping needs ReportBatchItemFailures, which infra/ sets).

The records of a batch run concurrently, `concurrency` at a time (QUARRY_RECORD_CONCURRENCY): with
Bedrock a document spends nearly all its time waiting on the extraction call and the embedding calls,
so one document at a time leaves the worker idle, and a document's few chunks cannot fill the Titan
embedder's pool. Two records about the same document cannot both work on it: the catalog claim makes
the second one wait for a retry (see IngestService.handle).

A failed record would come back only after the queue's visibility timeout (six times the worker's
timeout: half an hour in AWS). Before returning, the handler sets each failed message's visibility to
a full-jitter exponential backoff instead (RetryBackoff): the first retry comes within seconds, later
ones wait longer, up to a cap. The event source mapping leaves that visibility alone.
"""

from __future__ import annotations

import math
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from chalicelib.accounting import UsageDays
from chalicelib.events import EventDecodeError, decode_body
from chalicelib.metrics import MetricsBatch
from chalicelib.observability import logger
from chalicelib.usage import metering

if TYPE_CHECKING:
    from concurrent.futures import Future, ThreadPoolExecutor

    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

    from chalicelib.accounting import DocumentAccounting
    from chalicelib.ingest import IngestService
    from chalicelib.ports import QueueVisibility

# SQS refuses a visibility timeout above 12 hours.
SQS_MAX_VISIBILITY_S = 12 * 60 * 60


def queue_url_from_arn(queue_arn: str) -> str:
    """The queue URL SQS expects for `arn:<partition>:sqs:<region>:<account>:<name>` (the event's
    eventSourceARN; Lambda's SQS records carry no URL)."""
    parts = queue_arn.split(":")
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "sqs":
        raise ValueError(f"not an SQS queue ARN: {queue_arn!r}")
    _, partition, _, region, account, name = parts
    domain = "amazonaws.com.cn" if partition == "aws-cn" else "amazonaws.com"
    return f"https://sqs.{region}.{domain}/{account}/{name}"


@dataclass(frozen=True)
class RetryBackoff:
    """When a failed delivery comes back: a random wait of up to base_s * 2**(deliveries - 1) seconds,
    never more than max_s ("full jitter": workers that failed together do not retry together)."""

    visibility: QueueVisibility
    base_s: int
    max_s: int
    jitter: Callable[[], float] = field(default=random.random)

    def delay_s(self, receive_count: int) -> int:
        # The exponent is capped so a large receive count cannot overflow; ceil keeps a retry from
        # being immediate unless the jitter is exactly 0.
        ceiling = min(self.max_s, self.base_s * 2 ** min(max(receive_count, 1) - 1, 30))
        return min(SQS_MAX_VISIBILITY_S, max(0, math.ceil(self.jitter() * ceiling)))

    def delay_failed(self, records: list[dict[str, Any]], failed_ids: set[str]) -> None:
        """Set the visibility of every failed record. A record whose visibility cannot be set is still a
        failure (it stays in batchItemFailures): it only comes back after the queue's timeout instead."""
        for record in records:
            if record.get("messageId") not in failed_ids:
                continue
            attributes = record.get("attributes") or {}
            delay = self.delay_s(int(attributes.get("ApproximateReceiveCount") or 1))
            try:
                self.visibility.change_visibility(
                    queue_url_from_arn(record["eventSourceARN"]), record["receiptHandle"], delay
                )
            except Exception:
                logger.warning(
                    "could not set the retry delay; the message comes back after the queue's visibility "
                    "timeout",
                    extra={"message_id": record.get("messageId"), "retry_delay_s": delay},
                    exc_info=True,
                )
            else:
                logger.info(
                    "retry scheduled", extra={"message_id": record.get("messageId"), "retry_delay_s": delay}
                )


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


def _accounted(account: Callable[..., None], *args: Any) -> None:
    """Record a document's metrics and usage; a failure to do so is logged, never the message's failure:
    the document's own state is already recorded, and a re-delivery would only be skipped."""
    try:
        account(*args)
    except Exception:
        logger.exception("could not account for the document's metrics and usage")


def handle_batch(
    event: dict[str, Any],
    context: Any,
    ingest: IngestService,
    concurrency: int = 1,
    retries: RetryBackoff | None = None,
    accounting: DocumentAccounting | None = None,
    stage: str = "local",
) -> dict[str, Any]:
    """Process an SQS batch; with `accounting`, each document's metrics and ledger entry are
    recorded, and the batch's metrics and its additions to its tenants' days written once, when the
    batch ends."""
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
            if accounting is None:
                ingest.handle(ref, attempt=attempt, remaining_ms=remaining_ms)
                continue
            with metering() as meter:
                try:
                    outcome = ingest.handle(ref, attempt=attempt, remaining_ms=remaining_ms)
                except Exception as error:
                    _accounted(
                        accounting.attempt_failed, metrics, days, ref, attempt, error, meter.snapshot()
                    )
                    raise
            _accounted(accounting.document_handled, metrics, days, ref, outcome, meter.snapshot())

    pool = record_pool(concurrency)
    started: list[Future] = []
    metrics = MetricsBatch(stage)
    days = UsageDays()

    async def handle_record_in_pool(record: SQSRecord) -> None:
        future = pool.submit(handle_record, record)
        started.append(future)
        await asyncio.wrap_future(future)

    # With the default (raise when every record failed) Lambda would retry the whole batch; reporting
    # each failure instead keeps one code path for partial and total failure.
    processor = AsyncBatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    try:
        response = async_process_partial_response(
            event=event, record_handler=handle_record_in_pool, processor=processor, context=context
        )
    finally:
        # If the batch ends abnormally the event loop stops waiting, but the threads go on. No record
        # may outlive its invocation: Lambda would freeze it mid-write and thaw it in the next one.
        wait(started)
        # Once per invocation, whatever happened to its records.
        metrics.flush()
        if accounting is not None:
            _accounted(accounting.charge_days, days)
    if retries is not None:
        failed = {failure["itemIdentifier"] for failure in response.get("batchItemFailures", [])}
        retries.delay_failed(event.get("Records", []), failed)
    return response
