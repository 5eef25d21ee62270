"""Load: 500 small documents through the local stack (S3 → EventBridge → SQS → four concurrent
pollers invoking the Chalice handler, as four concurrent Lambda invocations would), all INDEXED, none
duplicated, every invariant holding. The elapsed time and throughput are printed and recorded as test
properties (a benchmark, not an assertion). Five hundred keep four pollers contending for a batch
after batch (about 50 batches) within a minute; the rate at scale is bench.ingest's to measure (its
no-window run uploads 1,500 documents at once).

The moto server runs in a process of its own here: in-process (the session fixture) it shares the GIL
with the worker and the run takes about twice as long on a two-core machine.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from chalicelib.config import Settings
from chalicelib.model import SearchFilters, document_id_for
from devstack.cloud import Resources, provision
from tests.conftest import free_port
from tests.integration.pipeline import TENANT, queue_depth
from tests.reliability.harness import settle
from tests.reliability.invariants import check_invariants
from tests.reliability.workload import small_text

DOCUMENTS = 500
WORKERS = 4
WAVE = 100

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def moto_process() -> Iterator[str]:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1)
                break
            except OSError:
                assert server.poll() is None, "moto server exited"
                assert time.monotonic() < deadline, "moto server did not start"
                time.sleep(0.1)
        yield endpoint
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.fixture
def aws_settings(moto_process: str, tmp_path: Path) -> Settings:
    return Settings(
        aws_endpoint_url=moto_process,
        home=str(tmp_path / "quarry"),
        embedder="hashing",
        extractor="local",
        vector_index="sqlite",
    )


@pytest.fixture
def resources(aws_settings: Settings) -> Resources:
    # The visibility timeout a deployed queue would have relative to one batch's work: no redelivery of
    # a batch that is merely slow, so every delivery after the first would be a duplicate to catch.
    return provision(aws_settings, visibility_timeout_s=60)


def test_five_hundred_documents_all_indexed_once(container, aws, resources, aws_settings, record_property):
    bucket = aws_settings.raw_bucket
    keys = [f"tenants/{TENANT}/load/{number:05d}.txt" for number in range(DOCUMENTS)]
    ids = [document_id_for(bucket, key) for key in keys]
    uploaded: list[float] = []

    def put_all() -> None:
        # Files arrive while the workers run, in waves, as a client would send them. The backlog is kept
        # under a few hundred messages because moto's SQS walks the whole queue on every send and receive:
        # thousands of messages queued up front would make the run measure moto (about 3x slower), not Quarry.
        with ThreadPoolExecutor(8) as pool:
            for start in range(0, DOCUMENTS, WAVE):
                while queue_depth(aws, resources.queue_url) > WAVE // 2:
                    time.sleep(0.2)
                wave = range(start, min(start + WAVE, DOCUMENTS))
                list(
                    pool.map(
                        lambda n: aws["s3"].put_object(Bucket=bucket, Key=keys[n], Body=small_text(n)), wave
                    )
                )
        uploaded.append(time.monotonic() - started)

    started = time.monotonic()
    uploader = threading.Thread(target=put_all, name="uploader")
    uploader.start()
    try:
        run = settle(container, aws, resources, ids, timeout_s=480, workers=WORKERS)
    finally:
        uploader.join()
    elapsed = time.monotonic() - started
    rate = DOCUMENTS / elapsed
    print(
        f"\nload: {DOCUMENTS} documents put (in {uploaded[0]:.1f} s) and ingested in {elapsed:.1f} s "
        f"({rate:.1f} docs/s, {WORKERS} pollers, {run.log.batches} batches)"
    )
    record_property("documents", DOCUMENTS)
    record_property("seconds", round(elapsed, 1))
    record_property("docs_per_second", round(rate, 1))

    checked = time.monotonic()
    report = check_invariants(container, aws, resources, ids)
    print(f"load: invariants checked in {time.monotonic() - checked:.1f} s")
    assert dict(report.statuses) == {"INDEXED": DOCUMENTS}
    assert report.chunks == DOCUMENTS  # each small text is one chunk, indexed once
    assert not run.log.failures and not run.log.crashes
    # Every event was delivered at least once; moto, like SQS, may deliver one twice to two pollers,
    # and the invariants above show a second delivery changed nothing.
    assert run.log.messages >= DOCUMENTS
    print(f"load: {run.log.messages - DOCUMENTS} duplicate deliveries")
    # Each document's serial number finds exactly that document.
    for number in range(0, DOCUMENTS, 97):
        hits = container.index.search_keyword(f"QX{number:06d}", 5, SearchFilters(tenant=TENANT))
        assert [hit.document_id for hit in hits] == [ids[number]], number
