"""Drive the real path: pre-signed POST form or direct put → S3 → EventBridge → SQS → poller → handler."""

from __future__ import annotations

import time
import uuid
from typing import Any

from app import app
from chalicelib.api.requests import UploadRequest
from chalicelib.bootstrap import Container
from chalicelib.documents import safe_object_name
from chalicelib.model import InvalidRequest, NotFound, document_id_for
from devstack.client import put_presigned
from devstack.cloud import Resources
from devstack.poller import QueuePoller

TERMINAL = {"INDEXED", "FAILED", "DELETED"}
# The tenant the pipeline tests work as (tests.conftest.ALICE's).
TENANT = "acme"


def upload(
    container: Container,
    filename: str,
    data: bytes,
    metadata: dict[str, str] | None = None,
    tenant: str = TENANT,
) -> str:
    request = UploadRequest(filename=filename, metadata=metadata or {})
    answer = container.documents.create_upload(tenant, request)
    put_presigned(answer["upload"], data, filename)
    return answer["document_id"]


def upload_or_drop(
    container: Container,
    aws: dict[str, Any],
    filename: str,
    data: bytes,
    metadata: dict[str, str] | None = None,
) -> str:
    """`upload`, or for a name /uploads refuses (unsupported_type) an object put straight into the raw
    bucket: the worker must still end such a file FAILED with its reason."""
    try:
        return upload(container, filename, data, metadata)
    except InvalidRequest as refused:
        if refused.code != "unsupported_type":
            raise
    key = f"tenants/{TENANT}/uploads/direct/{uuid.uuid4().hex}/{safe_object_name(filename)}"
    aws["s3"].put_object(Bucket=container.settings.raw_bucket, Key=key, Body=data, Metadata=metadata or {})
    return document_id_for(container.settings.raw_bucket, key)


def poller(aws: dict[str, Any], resources: Resources, handler=None) -> QueuePoller:
    return QueuePoller(
        aws["sqs"],
        resources.queue_url,
        resources.queue_arn,
        handler or app.handler_map["ingest"],
        "us-east-1",
        wait_s=0,
    )


def drain(
    worker: QueuePoller,
    container: Container,
    document_ids: list[str],
    timeout_s: float = 60,
    tenant: str = TENANT,
) -> dict:
    """Poll until every document is terminal; returns their views (as `tenant` sees them)."""
    deadline = time.monotonic() + timeout_s
    while True:
        views = {d: _view(container, d, tenant) for d in document_ids}
        if all(v["status"] in TERMINAL for v in views.values()):
            return views
        if time.monotonic() > deadline:
            raise TimeoutError({d: v["status"] for d, v in views.items()})
        if not worker.poll_once():
            time.sleep(0.2)


def _view(container: Container, document_id: str, tenant: str) -> dict[str, Any]:
    try:
        return container.documents.get(tenant, document_id)
    except NotFound:
        # An object dropped straight into the bucket has no record until the worker sees its event.
        return {"status": "ABSENT"}


def queue_depth(aws: dict[str, Any], url: str) -> int:
    attributes = aws["sqs"].get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )
