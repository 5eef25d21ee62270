"""Quarry's own "Ingest Requested" message (reindex, backfill): written and read by chalicelib/events.py."""

from __future__ import annotations

import json

import pytest

from chalicelib.events import EventDecodeError, decode_body, ingest_request_body
from chalicelib.model import ObjectRef


@pytest.mark.parametrize("force", [True, False])
def test_a_request_reads_back_as_the_object_it_names(force):
    ref = ObjectRef("quarry-raw", "tenants/acme/a b+c.pdf", etag="abc", size=12, force=force)

    (decoded,) = decode_body(ingest_request_body(ref, "reindex"))

    assert (decoded.bucket, decoded.key, decoded.etag, decoded.size, decoded.force) == (
        ref.bucket,
        ref.key,  # written as is, never URL-encoded
        "abc",
        12,
        force,
    )
    assert not decoded.deleted and decoded.event_time


def test_an_s3_event_is_never_forced():
    body = {
        "source": "aws.s3",
        "detail-type": "Object Created",
        "detail": {"bucket": {"name": "b"}, "object": {"key": "k", "etag": "e"}, "force": True},
    }
    (decoded,) = decode_body(json.dumps(body))
    assert decoded.force is False


@pytest.mark.parametrize(
    "detail, error",
    [
        ({"bucket": {"name": "b"}, "object": {}}, "detail.object.key is missing"),
        ({"bucket": {}, "object": {"key": "k"}}, "detail.bucket.name is missing"),
        ({"bucket": {"name": "b"}, "object": {"key": "k"}, "force": "yes"}, "force must be true or false"),
        ("text", "detail is not an object"),
    ],
)
def test_a_malformed_request_is_undecodable(detail, error):
    body = json.dumps({"source": "quarry", "detail-type": "Ingest Requested", "detail": detail})
    with pytest.raises(EventDecodeError, match=error):
        decode_body(body)


def test_another_quarry_message_type_is_undecodable():
    body = json.dumps({"source": "quarry", "detail-type": "Something Else", "detail": {}})
    with pytest.raises(EventDecodeError, match="unexpected Quarry message type"):
        decode_body(body)
