"""Fault injection on the local stack (moto server + SQS poller + the Chalice handler): throttled
providers, an index that rejects part of a bulk write, DynamoDB throttling, a worker killed in the middle
of a document, then all of them at once. After every run the invariants of tests/reliability/invariants.py
hold, and every document ends where it would have ended without the faults."""

from __future__ import annotations

import json
import time

import pytest

from chalicelib.model import Status, document_id_for
from tests.reliability.faults import (
    FlakyIndex,
    KillingIndex,
    ThrottlingEmbedder,
    ThrottlingExtractor,
    WorkerKilled,
    replace_adapter,
    throttle_catalog,
)
from tests.reliability.harness import Run, settle
from tests.reliability.invariants import Report, check_invariants
from tests.reliability.workload import Item, long_text, mixed_documents, small_text, submit

SHARE = 0.3
POISON = "XYZZY-POISON-MARKER"

pytestmark = pytest.mark.timeout(120)


def assert_expected_outcomes(run: Run, sent: dict[str, Item], report: Report) -> None:
    """Every document ends as it would with no faults: the good ones INDEXED, the bad ones FAILED with
    their own reason (not a provider error the faults caused)."""
    for document_id, item in sent.items():
        record = report.records[document_id]
        if item.expected == "INDEXED":
            assert record.status == Status.INDEXED, (item.name, record.status, record.error_message)
        else:
            assert (record.status, record.error_code) == (Status.FAILED, item.expected), (item.name, record)
    # The only way a batch may fail as a whole is a killed worker; otherwise failures are per message.
    assert all(isinstance(crash, WorkerKilled) for crash in run.log.crashes), run.log.crashes


def run_faulty(container, aws, resources, poison: str | None = None, start=None) -> tuple[dict, Run]:
    """Upload the mixed documents, call `start()` (to switch on faults that must not hit the uploads),
    then run the worker until everything settles."""
    sent = submit(container, aws, mixed_documents(poison))
    if start:
        start()
    return sent, settle(container, aws, resources, sent, timeout_s=55)


def test_throttled_embedding_provider_retries_to_completion(container, aws, resources):
    embedder = replace_adapter(container, "embedder", lambda inner: ThrottlingEmbedder(inner, SHARE))
    sent, run = run_faulty(container, aws, resources)
    embedder.dice.enabled = False
    report = check_invariants(container, aws, resources, sent)
    assert_expected_outcomes(run, sent, report)
    assert embedder.dice.stats.failures >= 3, embedder.dice.stats
    # Each throttled call came back as that message's failure, and the retries succeeded before the DLQ.
    assert len(run.log.failures) >= embedder.dice.stats.failures
    assert not run.log.crashes and report.dlq_documents == []


def test_throttled_extraction_provider_fails_like_bedrock_and_is_retried(container, aws, resources):
    extractor = replace_adapter(container, "extractor", lambda inner: ThrottlingExtractor(inner, SHARE))
    sent, run = run_faulty(container, aws, resources)
    extractor.dice.enabled = False
    report = check_invariants(container, aws, resources, sent)
    assert_expected_outcomes(run, sent, report)
    throttled = extractor.dice.stats.failures
    assert throttled >= 3
    # The adapter's own backoff retried each throttled call several times before giving up.
    assert extractor.provider_attempts >= extractor.dice.stats.calls + throttled
    assert len(run.log.failures) >= throttled
    # Documents that went through a throttled extraction still carry a complete, valid extraction.
    for document_id in report.ids_with(Status.INDEXED):
        extraction = report.records[document_id].extraction
        assert extraction["error"] is None and extraction["model"] and "keywords" in extraction["data"]
    assert report.dlq_documents == []


def test_index_rejecting_part_of_a_bulk_write_never_leaves_partial_documents(container, aws, resources):
    index = replace_adapter(
        container, "index", lambda inner: FlakyIndex(inner, SHARE, partial=True, first_write_partial=True)
    )
    sent, run = run_faulty(container, aws, resources)
    index.dice.enabled = False
    report = check_invariants(container, aws, resources, sent)
    assert_expected_outcomes(run, sent, report)
    assert index.dice.stats.failures >= 3
    # The first write of each multi-chunk document (3 logbooks, the 2-page PDF) stored only half its
    # chunks before failing; the invariants show every retry replaced that half with the whole.
    multi_chunk = [d for d in sent if report.records[d].chunk_count > 1]
    assert len(multi_chunk) == 4 and index.partial_writes >= 4, (multi_chunk, index.partial_writes)
    assert report.dlq_documents == []


def test_dynamodb_throttling_goes_through_botocore_retries(container, aws, resources):
    throttles = []
    try:
        sent, run = run_faulty(
            container,
            aws,
            resources,
            start=lambda: throttles.append(
                throttle_catalog(container, share=SHARE, episode=12, storm_at=20, storms=2)
            ),
        )
    finally:
        throttles[0].uninstall()
    throttle = throttles[0]
    report = check_invariants(container, aws, resources, sent)
    assert_expected_outcomes(run, sent, report)
    # The whole throttling episode was injected, and botocore's retries absorbed it...
    assert throttle.dice.stats.failures == 12, throttle.dice.stats
    # ...but the two storms exhausted botocore's five attempts: the ClientError reached the ingest
    # service, which let the message be retried, and the retry finished the document.
    assert len(throttle.storm_calls) == 2 and throttle.by_operation["PutItem"] >= 10, throttle.by_operation
    assert len(run.log.failures) >= 2, "no DynamoDB call ran out of retries"
    assert report.dlq_documents == []


def test_worker_killed_mid_document_is_finished_by_the_redelivery(container, aws, resources):
    index = replace_adapter(container, "index", lambda inner: KillingIndex(inner, 0.3, max_kills=3))
    sent, run = run_faulty(container, aws, resources)
    report = check_invariants(container, aws, resources, sent)
    assert_expected_outcomes(run, sent, report)
    # Records of a batch run concurrently, so one dead invocation may take several documents with it.
    assert len(index.killed) == 3 and 1 <= run.kills <= 3, (run.kills, index.killed)
    for document_id in index.killed:
        record = report.records[document_id]
        # Killed with half its chunks written and a live claim; a later delivery, after the lease, did it.
        assert record.status == Status.INDEXED and record.attempts >= 2, record
        assert record.claim_token is None and record.lease_expires_at is None, record
    assert report.dlq_documents == []


@pytest.mark.slow
def test_all_faults_together(container, aws, resources):
    """Every fault at once, plus one document whose embedding provider never recovers. Each provider fault
    is at 15% here, not 30%: three at 30% fail 66% of attempts, and 1.6% of documents would then exhaust
    their ten deliveries and (correctly) end FAILED, making the expected outcomes a matter of luck."""
    share = 0.15
    embedder = replace_adapter(
        container, "embedder", lambda inner: ThrottlingEmbedder(inner, share, poison=POISON)
    )
    extractor = replace_adapter(container, "extractor", lambda inner: ThrottlingExtractor(inner, share))
    flaky = replace_adapter(container, "index", lambda inner: FlakyIndex(inner, share, partial=True))
    killer = replace_adapter(container, "index", lambda inner: KillingIndex(inner, 0.2, max_kills=2))
    throttles = []
    try:
        sent, run = run_faulty(
            container,
            aws,
            resources,
            poison=POISON,
            start=lambda: throttles.append(
                throttle_catalog(container, share=SHARE, episode=8, storm_at=20, storms=1)
            ),
        )
    finally:
        throttles[0].uninstall()
    throttle = throttles[0]
    for dice in (embedder.dice, extractor.dice, flaky.dice):
        dice.enabled = False
    report = check_invariants(container, aws, resources, sent)

    poisoned = next(d for d, item in sent.items() if item.name == "poisoned.txt")
    others = {d: item for d, item in sent.items() if d != poisoned}
    assert_expected_outcomes(run, others, report)
    # The document whose provider never recovers: FAILED with the provider's reason, its message in the DLQ.
    record = report.records[poisoned]
    assert record.status == Status.FAILED and record.error_code == "PROVIDER_ERROR", record
    assert "Gave up after 10 attempts" in record.error_message, record.error_message
    assert report.dlq_documents == [poisoned]
    assert 1 <= embedder.poisoned_calls <= container.settings.max_receive_count
    fired = {
        "embedder": embedder.dice.stats.failures,
        "extractor": extractor.dice.stats.failures,
        "index": flaky.dice.stats.failures,
        "kills": len(killer.killed),
        "dynamodb": throttle.throttled,
    }
    assert all(fired.values()), f"a fault never fired: {fired}"
    assert 1 <= run.kills <= len(killer.killed)  # a dead invocation may take several records with it


def test_the_invariants_catch_each_kind_of_damage(container, aws, resources, aws_settings):
    """The checker is not vacuous: after a clean run it passes, and each kind of damage it exists to
    catch makes it fail."""
    from dataclasses import replace as copy

    from chalicelib.model import Chunk, IndexedChunk

    sent, _ = run_faulty(container, aws, resources)
    check_invariants(container, aws, resources, sent)
    indexed = next(d for d, item in sent.items() if item.name == "lighthouse.txt")
    record = container.catalog.get(indexed)
    s3, bucket = aws["s3"], aws_settings.processed_bucket
    output = s3.get_object(Bucket=bucket, Key=record.processed_key)["Body"].read()

    def damaged(damage, repair) -> str:
        damage()
        try:
            with pytest.raises(AssertionError) as caught:
                check_invariants(container, aws, resources, sent)
        finally:
            repair()
        check_invariants(container, aws, resources, sent)
        return str(caught.value)

    # 1. a document left non-terminal
    assert "still PROCESSING" in damaged(
        lambda: container.catalog.put(copy(record, status=Status.PROCESSING)),
        lambda: container.catalog.put(record),
    )
    # 2. a chunk of a document nobody knows
    stray = Chunk("stray-0", "f" * 32, 0, "stray text")
    vector = container.embedder.embed_documents(["stray text"])[0]
    assert "documents the catalog does not know" in damaged(
        lambda: container.index.replace_document(
            "f" * 32,
            "v1",
            [
                IndexedChunk(
                    stray,
                    vector,
                    "v1",
                    "k",
                    "text/plain",
                    tenant="acme",
                    model_id=container.embedder.model_id,
                    dimensions=container.embedder.dimensions,
                )
            ],
        ),
        lambda: container.index.delete_document("f" * 32),
    )
    # 3. processed output missing for an INDEXED document
    assert "INDEXED documents with no output" in damaged(
        lambda: s3.delete_object(Bucket=bucket, Key=record.processed_key),
        lambda: s3.put_object(Bucket=bucket, Key=record.processed_key, Body=output),
    )
    # 4. a DLQ message about a document that is not FAILED
    event = {
        "version": "0",
        "source": "aws.s3",
        "detail-type": "Object Created",
        "detail": {"bucket": {"name": record.bucket}, "object": {"key": record.key}},
    }

    def purge_dlq() -> None:
        for message in (
            aws["sqs"]
            .receive_message(QueueUrl=resources.dlq_url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
            .get("Messages", [])
        ):
            aws["sqs"].delete_message(QueueUrl=resources.dlq_url, ReceiptHandle=message["ReceiptHandle"])

    assert "DLQ message about" in damaged(
        lambda: aws["sqs"].send_message(QueueUrl=resources.dlq_url, MessageBody=json.dumps(event)), purge_dlq
    )


def test_document_given_up_after_a_partial_index_write_keeps_no_chunks(container, aws, resources):
    replace_adapter(container, "index", lambda inner: FlakyIndex(inner, share=1.0, partial=True))
    sent = submit(container, aws, [Item("logbook.txt", long_text(7))])
    (document_id,) = sent
    settle(container, aws, resources, sent, timeout_s=55)
    record = container.catalog.get(document_id)
    assert record.status == Status.FAILED and record.error_code == "PROVIDER_ERROR", record
    check_invariants(container, aws, resources, sent)  # fails: the index still holds half the chunks


def test_a_new_version_that_fails_leaves_no_stale_processed_output(container, aws, resources, aws_settings):
    key = "tenants/acme/notes/versioned.txt"
    aws["s3"].put_object(Bucket=aws_settings.raw_bucket, Key=key, Body=small_text(1))
    sent = {document_id_for(aws_settings.raw_bucket, key): Item("versioned.txt", b"")}
    settle(container, aws, resources, sent)
    aws["s3"].put_object(Bucket=aws_settings.raw_bucket, Key=key, Body=b"%PDF-1.4\n1 0 obj garbage")
    (document_id,) = sent
    deadline = time.monotonic() + 30
    while container.catalog.get(document_id).status != Status.FAILED:
        assert time.monotonic() < deadline, "the new version never failed"
        settle(container, aws, resources, sent)
    assert container.index.count(document_id) == 0
    check_invariants(container, aws, resources, sent)  # fails: processed/{id}.json of version 1 remains
