"""Provider concurrency: the Titan embedder against a latency-injected fake Bedrock runtime.

Titan Text Embeddings V2 takes one text per InvokeModel call, so the embedder's thread pool is all that
stands between chunks and the provider's latency. The ideal is pool_size / latency chunks a second.

Two measurements, both with a fake bedrock-runtime client whose invoke_model sleeps `latency_ms` and
returns a valid Titan body:

1. embedder: TitanEmbedder.embed_documents over SciFact chunk texts in batches of embed_batch_size, the
   way IngestService._embed calls it. Median of `runs` runs per pool size.
2. worker: the real worker path (S3 raw bucket -> EventBridge -> SQS on a moto server -> the SQS poller
   -> worker.handle_batch -> IngestService -> SQLite index) with that embedder and a no-op extractor
   (so only embedding is measured; in AWS the Bedrock extractor adds its own latency per document).
   This shows what the pool achieves on real documents, whose chunk counts may be below the pool size.

python -m bench.concurrency [--latency-ms 80] [--pools 4 8 16] [--records 1 4 10] [--texts 512] [--docs 150]
    [--out FILE]
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import math
import os
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from bench.common import (
    RESULTS,
    SEED,
    document_text,
    free_port,
    log,
    median,
    publish,
    r,
    scifact,
)
from chalicelib.ports import Extractor

DEFAULT_OUT = RESULTS / "concurrency.json"


class FakeBedrockRuntime:
    """invoke_model as boto3's bedrock-runtime client answers it for Titan V2, after `latency_s`."""

    def __init__(self, latency_s: float, dimensions: int = 1024):
        self.latency_s = latency_s
        self.dimensions = dimensions
        value = 1.0 / math.sqrt(dimensions)
        self._body = json.dumps({"embedding": [value] * dimensions, "inputTextTokenCount": 50}).encode()
        self.calls = 0

    def invoke_model(self, *, modelId: str, contentType: str, accept: str, body: str) -> dict[str, Any]:
        request = json.loads(body)
        if not request.get("inputText") or request.get("dimensions") != self.dimensions:
            raise ValueError(f"unexpected request {request}")
        time.sleep(self.latency_s)
        self.calls += 1  # not exact under threads; only a sanity check
        return {"body": io.BytesIO(self._body), "contentType": "application/json"}


def chunk_texts(count: int) -> list[str]:
    """Abstract-sized texts: SciFact abstracts cut to about 1,000 characters (a 200-token chunk)."""
    texts = [doc["text"][:1000] for doc in scifact().corpus if doc["text"].strip()]
    return [texts[i % len(texts)] for i in range(count)]


def embedder_throughput(pool: int, latency_s: float, texts: list[str], batch_size: int) -> float:
    from chalicelib.adapters.bedrock_embedder import TitanEmbedder

    embedder = TitanEmbedder(FakeBedrockRuntime(latency_s), concurrency=pool)
    started = time.perf_counter()
    embedded = 0
    for start in range(0, len(texts), batch_size):
        embedded += len(embedder.embed_documents(texts[start : start + batch_size]))
    elapsed = time.perf_counter() - started
    assert embedded == len(texts)
    return embedded / elapsed


class NoExtraction(Extractor):
    """An extractor that does nothing, so the worker measurement is about embedding alone."""

    name = "none"

    def extract(self, text, title_hint=None, content_type=None, schema=None):
        from chalicelib.model import ExtractionResult

        return ExtractionResult(data={}, model=self.name)


def worker_throughput(
    pools: list[int], record_concurrencies: list[int], latency_s: float, docs: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """For each pool size and record concurrency: the documents into the raw bucket, then the poller
    drains the queue through the real worker. One moto server; its state (process-wide in moto) is
    reset before each run, or the worker would skip every document as an already-indexed duplicate."""
    from chalicelib.observability import logger
    from devstack.cloud import start_moto
    from devstack.stage import LOCAL_CREDENTIALS

    for name, value in LOCAL_CREDENTIALS.items():
        os.environ.setdefault(name, value)
    # One JSON log line per document and one per moto request would drown the figures.
    logger.setLevel("WARNING")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    endpoint = f"http://127.0.0.1:{free_port()}"
    server = start_moto(endpoint)
    try:
        rows = []
        for records in record_concurrencies:
            for pool in pools:
                reset = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
                urllib.request.urlopen(reset, timeout=30).close()
                rows.append(worker_run(endpoint, pool, records, latency_s, docs))
        return rows
    finally:
        server.stop()


def worker_run(
    endpoint: str, pool: int, records: int, latency_s: float, docs: list[dict[str, Any]]
) -> dict[str, Any]:
    from chalicelib import bootstrap
    from chalicelib.adapters.bedrock_embedder import TitanEmbedder
    from chalicelib.config import Settings
    from chalicelib.worker import handle_batch
    from devstack.cloud import clients, provision
    from devstack.poller import QueuePoller

    with tempfile.TemporaryDirectory(prefix="quarry-bench-concurrency-") as home:
        settings = Settings(
            aws_endpoint_url=endpoint,
            home=home,
            embedder="titan",
            extractor="local",
            vector_index="sqlite",
            embedding_concurrency=pool,
            record_concurrency=records,
        )
        resources = provision(settings, visibility_timeout_s=300)
        container = bootstrap.Container(settings)
        # cached_property slots: the fake provider and the no-op extractor instead of AWS's.
        container.__dict__["embedder"] = TitanEmbedder(FakeBedrockRuntime(latency_s), concurrency=pool)
        container.__dict__["extractor"] = NoExtraction()
        aws = clients(settings)
        for doc in docs:
            aws["s3"].put_object(
                Bucket=settings.raw_bucket,
                Key=f"tenants/bench/scifact/{doc['_id']}.txt",  # dropped straight in: under a tenant
                Body=document_text(doc).encode(),
                ContentType="text/plain",
            )
        poller = QueuePoller(
            aws["sqs"],
            resources.queue_url,
            resources.queue_arn,
            lambda event, context: handle_batch(event, context, container.ingest, records),
            settings.region,
        )
        started = time.perf_counter()
        received = 0
        idle = 0
        while received < len(docs) and idle < 5:
            got = poller.poll_once()
            received += got
            idle = 0 if got else idle + 1
        elapsed = time.perf_counter() - started
        chunks = container.index.count()
        container.index.close()
    if received != len(docs) or not chunks:
        raise RuntimeError(f"worker run: {received} of {len(docs)} messages, {chunks} chunks indexed")
    return {
        "pool_size": pool,
        "record_concurrency": records,
        "documents": len(docs),
        "chunks": chunks,
        "seconds": r(elapsed, 2),
        "chunks_per_s": r(chunks / elapsed, 1),
        "documents_per_s": r(len(docs) / elapsed, 1),
        "chunks_per_document": r(chunks / len(docs), 2),
    }


def run(
    latency_ms: float,
    pools: list[int],
    record_concurrencies: list[int],
    n_texts: int,
    n_docs: int,
    runs: int,
    batch_size: int,
) -> dict[str, Any]:
    latency_s = latency_ms / 1000
    texts = chunk_texts(n_texts)
    embedder_rows = []
    for pool in pools:
        rates = [embedder_throughput(pool, latency_s, texts, batch_size) for _ in range(runs)]
        ideal = pool / latency_s
        row = {
            "pool_size": pool,
            "ideal_chunks_per_s": r(ideal, 1),
            "chunks_per_s": r(median(rates), 1),
            "runs_chunks_per_s": [r(x, 1) for x in rates],
            "fraction_of_ideal": r(median(rates) / ideal, 3),
        }
        embedder_rows.append(row)
        log(
            f"embedder pool={pool}: {row['chunks_per_s']} chunks/s of ideal {row['ideal_chunks_per_s']}"
            f" ({row['fraction_of_ideal']:.0%})"
        )
    worker_rows = []
    if n_docs:
        docs = scifact(max_docs=n_docs, max_queries=0).corpus[:n_docs]
        for measured in worker_throughput(pools, record_concurrencies, latency_s, docs):
            ideal = measured["pool_size"] / latency_s
            row = {
                **measured,
                "ideal_chunks_per_s": r(ideal, 1),
                "fraction_of_ideal": r(measured["chunks_per_s"] / ideal, 3),
            }
            worker_rows.append(row)
            log(
                f"worker pool={row['pool_size']} records={row['record_concurrency']}:"
                f" {row['chunks_per_s']} chunks/s"
                f" over {row['documents']} documents"
                f" ({row['chunks_per_document']} chunks each) = {row['fraction_of_ideal']:.0%} of ideal"
            )
        # The same worker with a provider that answers at once: what it can do on this machine at all.
        [ceiling] = worker_throughput([max(pools)], [max(record_concurrencies)], 0.0, docs)
        log(f"worker ceiling (no provider latency): {ceiling['chunks_per_s']} chunks/s")
    return {
        "latency_ms": latency_ms,
        "texts": n_texts,
        "embed_batch_size": batch_size,
        "runs": runs,
        "seed": SEED,
        "goal_fraction_of_ideal": 0.8,
        "embedder": embedder_rows,
        "worker": worker_rows,
        "worker_ceiling": ceiling if n_docs else None,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    from chalicelib.config import Settings

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--latency-ms", type=float, default=80)
    parser.add_argument("--pools", type=int, nargs="+", default=[4, 8, 16])
    parser.add_argument(
        "--records",
        type=int,
        nargs="+",
        default=[1, 4, 10],
        help="worker record concurrencies (QUARRY_RECORD_CONCURRENCY; 10 = a whole SQS batch at once)",
    )
    parser.add_argument("--texts", type=int, default=512, help="chunk texts per embedder run")
    parser.add_argument("--docs", type=int, default=150, help="SciFact documents per worker run (0: skip)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    results = run(
        args.latency_ms,
        args.pools,
        args.records,
        args.texts,
        args.docs,
        args.runs,
        Settings().embed_batch_size,
    )
    results["command"] = "make bench-ingest (python -m bench.concurrency)"
    return publish(results, args.out, started)


if __name__ == "__main__":
    main()
