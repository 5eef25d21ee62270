"""The local stack, never deployed: the moto server provisioned like infra/ (buckets, EventBridge rule,
queues, table, user pool), Chalice's own local server for the API, the SQS poller that invokes the
worker as Lambda would, the schedule that invokes the reaper as EventBridge would, and a small API
client (`python -m devstack up | ingest | redrive | backfill`)."""
