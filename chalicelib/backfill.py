"""Backfill: ask the worker to ingest every object already in the raw bucket, or under a prefix of it
(one tenant's `tenants/acme/`), through the ingest queue, as an upload's event would.

Idempotent by the worker's own rule rather than by state kept here: each request names the object's
current ETag, and the worker skips a version the catalog already has INDEXED without writing anything
(IngestService.handle), so running the backfill again indexes nothing twice; a FAILED document is tried
again, which is what a backfill after a fix is for. The requests are not forced (that is reindex's).

Run by `make backfill [PREFIX=...]` on the local stack and by `python -m devstack backfill --stage prod`
against a deployment (docs/DEPLOY.md): the same function, over the deployment's bucket and queue.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from chalicelib.model import ObjectRef
from chalicelib.ports import IngestRequests, ObjectStore

# SQS's SendMessageBatch takes 10 messages: one call per 10 objects.
BATCH = 10


@dataclass(frozen=True)
class BackfillReport:
    bucket: str
    prefix: str
    requested: int


def backfill(
    store: ObjectStore,
    requests: IngestRequests,
    bucket: str,
    prefix: str = "",
    progress: Callable[[int], None] = lambda requested: None,
) -> BackfillReport:
    """Queue an ingest request for every object of `bucket` under `prefix`; `progress` hears the count
    after each batch. Objects are listed and sent a page at a time: memory stays flat for any bucket."""
    requested = 0
    batch: list[ObjectRef] = []
    for listed in store.list_objects(bucket, prefix):
        batch.append(ObjectRef(bucket=listed.bucket, key=listed.key, etag=listed.etag, size=listed.size))
        if len(batch) == BATCH:
            requests.send(batch, "backfill")
            requested += len(batch)
            batch = []
            progress(requested)
    if batch:
        requests.send(batch, "backfill")
        requested += len(batch)
        progress(requested)
    return BackfillReport(bucket, prefix, requested)
