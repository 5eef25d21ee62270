"""Drive the real ingest path until it settles: the SQS poller invoking the Chalice handler (as Lambda's
event source mapping does), with every batch response and handler crash recorded."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from app import app
from chalicelib.adapters.dynamo_catalog import DynamoCatalog
from chalicelib.api.views import document_view
from chalicelib.bootstrap import Container
from devstack.cloud import Resources
from devstack.poller import QueuePoller
from devstack.scheduler import Scheduler
from tests.integration.pipeline import queue_depth
from tests.reliability.faults import WorkerKilled

TERMINAL = {"INDEXED", "FAILED", "DELETED"}


@dataclass
class HandlerLog:
    """What the Chalice SQS handler answered, batch by batch."""

    batches: int = 0
    messages: int = 0
    failures: list[str] = field(default_factory=list)  # message ids reported in batchItemFailures
    failed_bodies: dict[str, str] = field(default_factory=dict)  # their bodies, to say which object
    crashes: list[BaseException] = field(default_factory=list)  # the handler itself raised
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def handler(self, event: dict[str, Any], context: Any) -> Any:
        try:
            response = app.handler_map["ingest"](event, context)
        except BaseException as error:
            with self._lock:
                self.crashes.append(error)
            raise
        with self._lock:
            self.batches += 1
            self.messages += len(event["Records"])
            failed = [f["itemIdentifier"] for f in (response or {}).get("batchItemFailures", [])]
            self.failures.extend(failed)
            bodies = {r["messageId"]: r["body"] for r in event["Records"]}
            self.failed_bodies.update({message_id: bodies.get(message_id, "") for message_id in failed})
        return response


@dataclass
class Run:
    log: HandlerLog
    kills: int
    seconds: float
    views: dict[str, dict[str, Any]]
    reaper: Scheduler | None = None


def make_poller(
    aws: dict[str, Any], resources: Resources, log: HandlerLog, batch_size: int = 10
) -> QueuePoller:
    return QueuePoller(
        aws["sqs"],
        resources.queue_url,
        resources.queue_arn,
        log.handler,
        "us-east-1",
        batch_size=batch_size,
        wait_s=0,
    )


class Observer:
    """Reads the catalog through the test's own DynamoDB client, which no fault is injected into, so
    watching a run never fails because the run's catalog is being throttled."""

    def __init__(self, container: Container, aws: dict[str, Any]):
        self._catalog = DynamoCatalog(aws["dynamodb"], container.settings.documents_table)

    def view(self, document_id: str) -> dict[str, Any]:
        record = self._catalog.get(document_id)
        # An object dropped straight into the bucket has no record until the worker sees its event.
        return document_view(record) if record else {"status": "ABSENT"}


def settle(
    container: Container,
    aws: dict[str, Any],
    resources: Resources,
    document_ids: Iterable[str],
    *,
    timeout_s: float = 50,
    workers: int = 1,
    reap_every_s: float | None = None,
) -> Run:
    """Poll with `workers` concurrent pollers (concurrent Lambda invocations) until every document is
    terminal and the ingest queue is empty (failed messages back, or moved to the DLQ). A poller whose
    handler is killed (WorkerKilled) loses its batch, as a dead Lambda does, and polls on. With
    `reap_every_s`, the reaper's Chalice handler runs on that schedule too, as in AWS."""
    ids = list(document_ids)
    observer = Observer(container, aws)
    log = HandlerLog()
    kills = 0
    kills_lock = threading.Lock()
    stop = threading.Event()
    errors: list[BaseException] = []
    started = time.monotonic()

    def work() -> None:
        nonlocal kills
        poller = make_poller(aws, resources, log)
        while not stop.is_set():
            try:
                received = poller.poll_once()
            except WorkerKilled:
                with kills_lock:
                    kills += 1
                continue
            except BaseException as error:  # anything else is a broken test harness or poller
                errors.append(error)
                stop.set()
                return
            if not received:
                time.sleep(0.05)

    threads = [threading.Thread(target=work, name=f"poller-{n}", daemon=True) for n in range(workers)]
    reaper = None
    if reap_every_s is not None:
        reaper = Scheduler("reap_abandoned", app.handler_map["reap_abandoned"], reap_every_s, "us-east-1")
        threads.append(threading.Thread(target=reaper.run, args=(stop,), name="reaper", daemon=True))
    for thread in threads:
        thread.start()
    try:
        while True:
            time.sleep(0.2)
            if errors:
                raise errors[0]
            if queue_depth(aws, resources.queue_url) == 0:
                views = {d: observer.view(d) for d in ids}
                if (
                    all(v["status"] in TERMINAL for v in views.values())
                    and queue_depth(aws, resources.queue_url) == 0
                ):
                    break
            if time.monotonic() - started > timeout_s:
                statuses = {d: observer.view(d)["status"] for d in ids}
                stuck = {d: s for d, s in statuses.items() if s not in TERMINAL}
                raise TimeoutError(
                    f"not settled after {timeout_s}s: {len(stuck)} documents not terminal "
                    f"({list(stuck.items())[:5]}), "
                    f"{queue_depth(aws, resources.queue_url)} messages in the queue"
                )
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    return Run(log=log, kills=kills, seconds=time.monotonic() - started, views=views, reaper=reaper)
