"""app.py's worker entrypoint takes its settings from the container it runs with, so a stage's (or a
test's) settings reach the record pool, not only the environment's."""

from __future__ import annotations

import time

import app as entrypoints
from chalicelib import bootstrap
from chalicelib.config import Settings
from devstack.poller import LambdaContext


def test_the_ingest_entrypoint_uses_the_containers_concurrency_and_stage(monkeypatch):
    seen = {}

    def handle_batch(event, context, ingest, concurrency, backoff, accounting, stage):
        seen.update(concurrency=concurrency, stage=stage, records=len(event["Records"]))
        return {"batchItemFailures": []}

    monkeypatch.setattr(entrypoints, "handle_batch", handle_batch)
    built = bootstrap.Container(Settings(record_concurrency=3, stage="dev"))
    # The services are the container's business, not this test's: nothing is built or called.
    built.__dict__.update(ingest=None, retry_backoff=None, accounting=None)
    bootstrap.use_container(built)
    try:
        answer = entrypoints.app.handler_map["ingest"](
            {"Records": []}, LambdaContext("quarry-ingest", 60, time.monotonic)
        )
    finally:
        bootstrap.use_container(None)
    assert answer == {"batchItemFailures": []}
    assert seen == {"concurrency": 3, "stage": "dev", "records": 0}
