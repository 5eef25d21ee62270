import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.events import EventDecodeError, decode_body
from chalicelib.model import document_id_for

EVENTBRIDGE_CREATED = {
    "version": "0",
    "id": "17793124-05d4-b198-2fde-7ededc63b103",
    "detail-type": "Object Created",
    "source": "aws.s3",
    "account": "123456789012",
    "time": "2026-11-24T21:05:49Z",
    "region": "us-east-1",
    "resources": ["arn:aws:s3:::quarry-raw"],
    "detail": {
        "version": "0",
        "bucket": {"name": "quarry-raw"},
        "object": {
            "key": "uploads/x/my file+ü.txt",
            "size": 11,
            "etag": "5eb63bbbe01eeed093cb22bb8f5acdc3",
            "version-id": "50ca356d",
            "sequencer": "617f08299329d189",
        },
        "request-id": "N4N7GDK58NMKJ12R",
        "requester": "123456789012",
        "reason": "PutObject",
    },
}

CLASSIC_NOTIFICATION = {
    "Records": [
        {
            "eventVersion": "2.1",
            "eventSource": "aws:s3",
            "eventTime": "2026-11-24T21:05:49.000Z",
            "eventName": "ObjectCreated:Put",
            "s3": {
                "bucket": {"name": "quarry-raw", "arn": "arn:aws:s3:::quarry-raw"},
                "object": {
                    "key": "reports/q3+summary%C3%BC.pdf",
                    "size": 1024,
                    "eTag": "abc",
                    "sequencer": "0A1B",
                },
            },
        }
    ]
}


def test_eventbridge_object_created_names_the_object_as_written():
    [ref] = decode_body(json.dumps(EVENTBRIDGE_CREATED))
    assert (ref.bucket, ref.key, ref.etag, ref.size) == (
        "quarry-raw",
        "uploads/x/my file+ü.txt",
        "5eb63bbbe01eeed093cb22bb8f5acdc3",
        11,
    )
    assert ref.version_id == "50ca356d" and ref.sequencer == "617f08299329d189"
    assert not ref.deleted
    assert ref.document_id == document_id_for("quarry-raw", "uploads/x/my file+ü.txt")


def test_eventbridge_etag_spelled_as_moto_and_aws_samples_do():
    event = json.loads(json.dumps(EVENTBRIDGE_CREATED))
    event["detail"]["object"]["eTag"] = event["detail"]["object"].pop("etag")
    assert decode_body(json.dumps(event))[0].etag == "5eb63bbbe01eeed093cb22bb8f5acdc3"


def test_eventbridge_object_deleted():
    event = json.loads(json.dumps(EVENTBRIDGE_CREATED))
    event["detail-type"] = "Object Deleted"
    assert decode_body(json.dumps(event))[0].deleted


def test_classic_notification_keys_are_url_decoded():
    [ref] = decode_body(json.dumps(CLASSIC_NOTIFICATION))
    assert ref.key == "reports/q3 summaryü.pdf"
    assert ref.etag == "abc" and not ref.deleted


def test_classic_removed_event_is_a_delete():
    event = json.loads(json.dumps(CLASSIC_NOTIFICATION))
    event["Records"][0]["eventName"] = "ObjectRemoved:Delete"
    assert decode_body(json.dumps(event))[0].deleted


def test_s3_test_event_needs_no_work():
    assert decode_body(json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent"})) == []


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        "[]",
        "{}",
        json.dumps({"source": "aws.s3", "detail-type": "Object Restore Completed", "detail": {}}),
        json.dumps({"source": "aws.s3", "detail-type": "Object Created", "detail": {"bucket": {}}}),
        json.dumps({"Records": "nope"}),
        json.dumps({"Records": [{"eventName": "ObjectCreated:Put"}]}),
        "[" * 100_000,
    ],
)
def test_undecodable_bodies_raise_a_decode_error(body):
    with pytest.raises(EventDecodeError):
        decode_body(body)


@given(st.text(max_size=300))
def test_any_text_decodes_or_raises_decode_error(body):
    try:
        refs = decode_body(body)
    except EventDecodeError:
        return
    assert all(ref.bucket and ref.key for ref in refs)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)


@given(
    detail=st.dictionaries(st.sampled_from(["bucket", "object", "x"]), json_values, max_size=3),
    detail_type=st.sampled_from(["Object Created", "Object Deleted", "Other"]),
)
def test_any_eventbridge_shaped_message_decodes_or_raises_decode_error(detail, detail_type):
    body = json.dumps({"source": "aws.s3", "detail-type": detail_type, "detail": detail})
    try:
        refs = decode_body(body)
    except EventDecodeError:
        return
    assert len(refs) == 1 and isinstance(refs[0].key, str) and refs[0].key
