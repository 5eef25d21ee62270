"""Decode an SQS message body into the S3 objects it is about.

Three shapes reach the queue: EventBridge's "Object Created"/"Object Deleted" (the path Quarry
deploys), the classic S3 notification ({"Records": [...]}) for users who wire the bucket to the queue
directly, and Quarry's own "Ingest Requested" (source "quarry"), which the reindex route and the
backfill send (ingest_request_body): shaped like EventBridge's event so it reads the same in a queue or
the DLQ, with a `force` flag no S3 event has. Anything else is a message we cannot act on:
EventDecodeError, which the worker treats as permanent (retrying cannot make it decodable).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote_plus

from chalicelib.clock import utc_now
from chalicelib.model import ObjectRef

INGEST_REQUEST_SOURCE = "quarry"
INGEST_REQUEST_TYPE = "Ingest Requested"


class EventDecodeError(ValueError):
    pass


def decode_body(body: str) -> list[ObjectRef]:
    """The objects a message body names; [] for messages that need no work (S3's test event)."""
    try:
        message = json.loads(body)
    except (ValueError, RecursionError) as error:
        raise EventDecodeError(f"message body is not JSON: {error}") from error
    if not isinstance(message, dict):
        raise EventDecodeError("message body is not a JSON object")
    if message.get("source") == "aws.s3" and "detail" in message:
        return [_from_eventbridge(message)]
    if message.get("source") == INGEST_REQUEST_SOURCE and "detail" in message:
        return [_from_ingest_request(message)]
    if "Records" in message:
        return [_from_notification_record(r) for r in _records(message)]
    if message.get("Event") == "s3:TestEvent":
        return []
    raise EventDecodeError("message is neither an EventBridge S3 event nor an S3 notification")


def _records(message: dict[str, Any]) -> list[dict[str, Any]]:
    records = message["Records"]
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise EventDecodeError("Records must be a list of objects")
    return records


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise EventDecodeError(f"{what} is missing")
    return value


def _optional_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _optional_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _from_eventbridge(message: dict[str, Any]) -> ObjectRef:
    detail_type = message.get("detail-type")
    if detail_type not in {"Object Created", "Object Deleted"}:
        raise EventDecodeError(f"unexpected S3 event type {detail_type!r}")
    detail = message["detail"]
    if not isinstance(detail, dict):
        raise EventDecodeError("detail is not an object")
    bucket = detail.get("bucket") or {}
    obj = detail.get("object") or {}
    if not isinstance(bucket, dict) or not isinstance(obj, dict):
        raise EventDecodeError("detail.bucket and detail.object must be objects")
    return ObjectRef(
        bucket=_text(bucket.get("name"), "detail.bucket.name"),
        # EventBridge delivers keys as written, not URL-encoded (unlike classic notifications).
        key=_text(obj.get("key"), "detail.object.key"),
        etag=_optional_str(obj.get("etag")) or _optional_str(obj.get("eTag")),
        size=_optional_int(obj.get("size")),
        version_id=_optional_str(obj.get("version-id")),
        sequencer=_optional_str(obj.get("sequencer")),
        event_time=_optional_str(message.get("time")),
        deleted=detail_type == "Object Deleted",
    )


def _from_notification_record(record: dict[str, Any]) -> ObjectRef:
    name = _text(record.get("eventName"), "eventName")
    s3 = record.get("s3")
    if not isinstance(s3, dict):
        raise EventDecodeError("record has no s3 section")
    bucket = s3.get("bucket") or {}
    obj = s3.get("object") or {}
    if not isinstance(bucket, dict) or not isinstance(obj, dict):
        raise EventDecodeError("s3.bucket and s3.object must be objects")
    if not (name.startswith("ObjectCreated:") or name.startswith("ObjectRemoved:")):
        raise EventDecodeError(f"unexpected S3 event {name!r}")
    return ObjectRef(
        bucket=_text(bucket.get("name"), "s3.bucket.name"),
        # Classic notifications URL-encode keys with '+' for spaces.
        key=unquote_plus(_text(obj.get("key"), "s3.object.key")),
        etag=_optional_str(obj.get("eTag")),
        size=_optional_int(obj.get("size")),
        version_id=_optional_str(obj.get("versionId")),
        sequencer=_optional_str(obj.get("sequencer")),
        event_time=_optional_str(record.get("eventTime")),
        deleted=name.startswith("ObjectRemoved:"),
    )


def ingest_request_body(ref: ObjectRef, reason: str) -> str:
    """The message that asks the worker to ingest `ref`'s object (decode_body reads it back)."""
    obj: dict[str, Any] = {"key": ref.key}
    if ref.etag:
        obj["etag"] = ref.etag
    if ref.size is not None:
        obj["size"] = ref.size
    return json.dumps(
        {
            "source": INGEST_REQUEST_SOURCE,
            "detail-type": INGEST_REQUEST_TYPE,
            "time": utc_now(),
            "detail": {"bucket": {"name": ref.bucket}, "object": obj, "force": ref.force, "reason": reason},
        }
    )


def _from_ingest_request(message: dict[str, Any]) -> ObjectRef:
    if message.get("detail-type") != INGEST_REQUEST_TYPE:
        raise EventDecodeError(f"unexpected Quarry message type {message.get('detail-type')!r}")
    detail = message["detail"]
    if not isinstance(detail, dict):
        raise EventDecodeError("detail is not an object")
    bucket = detail.get("bucket") or {}
    obj = detail.get("object") or {}
    if not isinstance(bucket, dict) or not isinstance(obj, dict):
        raise EventDecodeError("detail.bucket and detail.object must be objects")
    force = detail.get("force", False)
    if not isinstance(force, bool):
        raise EventDecodeError("detail.force must be true or false")
    return ObjectRef(
        bucket=_text(bucket.get("name"), "detail.bucket.name"),
        key=_text(obj.get("key"), "detail.object.key"),
        etag=_optional_str(obj.get("etag")),
        size=_optional_int(obj.get("size")),
        event_time=_optional_str(message.get("time")),
        force=force,
    )
