"""Drive the real path: pre-signed POST form or direct put → S3 → EventBridge → SQS → poller → handler."""

from __future__ import annotations

import time
from typing import Any

from app import app
from chalicelib.api.requests import UploadRequest
from chalicelib.bootstrap import Container
from chalicelib.model import NotFound
from devstack.client import put_presigned
from devstack.cloud import Resources
from devstack.poller import QueuePoller

TERMINAL = {"INDEXED", "FAILED", "DELETED"}


def upload(container: Container, filename: str, data: bytes, metadata: dict[str, str] | None = None) -> str:
    answer = container.documents.create_upload(UploadRequest(filename=filename, metadata=metadata or {}))
    put_presigned(answer["upload"], data, filename)
    return answer["document_id"]


def poller(aws: dict[str, Any], resources: Resources, handler=None) -> QueuePoller:
    return QueuePoller(
        aws["sqs"],
        resources.queue_url,
        resources.queue_arn,
        handler or app.handler_map["ingest"],
        "us-east-1",
        wait_s=0,
    )


def drain(worker: QueuePoller, container: Container, document_ids: list[str], timeout_s: float = 60) -> dict:
    """Poll until every document is terminal; returns their views."""
    deadline = time.monotonic() + timeout_s
    while True:
        views = {d: _view(container, d) for d in document_ids}
        if all(v["status"] in TERMINAL for v in views.values()):
            return views
        if time.monotonic() > deadline:
            raise TimeoutError({d: v["status"] for d, v in views.items()})
        if not worker.poll_once():
            time.sleep(0.2)


def _view(container: Container, document_id: str) -> dict[str, Any]:
    try:
        return container.documents.get(document_id)
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
