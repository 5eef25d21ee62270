"""`python -m devstack backfill`: chalicelib/backfill.py over a stage's raw bucket and ingest queue.

The local stage (`make backfill`) talks to the running `make local` stack's moto server. Any other
stage talks to AWS with the caller's own credentials (never the local placeholders), and the bucket
and queue come from the process environment (QUARRY_RAW_BUCKET, QUARRY_INGEST_QUEUE) or the options:
the deployment's Terraform outputs, as docs/DEPLOY.md shows.
"""

from __future__ import annotations

import os

from chalicelib.backfill import BackfillReport, backfill


def run(stage: str, prefix: str = "", bucket: str | None = None, queue: str | None = None) -> BackfillReport:
    from chalicelib import bootstrap
    from chalicelib.config import settings
    from devstack.stage import apply_stage

    if stage == "local":
        apply_stage(stage)
    os.environ.update(
        {
            name: value
            for name, value in {"QUARRY_RAW_BUCKET": bucket, "QUARRY_INGEST_QUEUE": queue}.items()
            if value
        }
    )
    settings.cache_clear()
    bootstrap.reset()
    services = bootstrap.container()
    conf = services.settings
    print(
        f"backfill: every object of s3://{conf.raw_bucket}/{prefix} to queue {conf.ingest_queue}", flush=True
    )
    report = backfill(
        services.object_store,
        services.ingest_requests,
        conf.raw_bucket,
        prefix,
        progress=lambda requested: (
            print(f"  {requested} requested", flush=True) if requested % 1000 == 0 else None
        ),
    )
    print(f"backfill: {report.requested} object(s) queued for ingestion", flush=True)
    return report
