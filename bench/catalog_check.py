"""What the catalog check costs a search: bench/results/catalog_check.json.

    python -m bench.catalog_check [--documents 2500] [--queries 100] [--passes 1] [--out PATH]

The search service (chalicelib/search.py) over a moto server's DynamoDB table, as the local stack
runs it, and an embedded index of `documents` x 4 chunks (SciFact sentence windows, as bench/search.py
writes them; the hashing embedder, so the model's time does not drown the difference), every document
INDEXED in the catalog. Two services share the index and differ in `search_catalog_check` only; for
each mode and k (10 and 100) every query goes to both, in alternating order, so load on the machine
falls on both alike. Timed in the process around SearchService.search (HTTP to the API adds the same
to both); the check's own part is its `timings_ms.catalog_check`, and BatchGetItem calls and keys are
counted on the catalog's client.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench.catalog_seed import record_indexed
from bench.common import RESULTS, SEED, free_port, log, percentile, publish, r, scifact, scratch_dir

MODES = ("vector", "keyword", "hybrid")
KS = (10, 100)
CHUNKS_PER_DOCUMENT = 4
TENANT = "bench"


def fill(settings: Any, documents: int) -> None:
    """The index and the catalog: `documents` INDEXED documents of CHUNKS_PER_DOCUMENT chunks each."""
    from bench.search import sentence_windows
    from chalicelib.adapters.local_embedders import HashingEmbedder
    from chalicelib.adapters.sqlite import SqliteVectorIndex
    from chalicelib.model import Chunk, IndexedChunk

    embedder = HashingEmbedder()
    Path(settings.home).mkdir(parents=True, exist_ok=True)
    index = SqliteVectorIndex(
        Path(settings.home) / "index.sqlite3", embedder.dimensions, model_id=embedder.model_id
    )
    texts = sentence_windows(documents * CHUNKS_PER_DOCUMENT)
    vectors = embedder.embed_documents(texts)
    documents_written = []
    for number in range(documents):
        document_id = hashlib.sha256(f"bench-check-{number}".encode()).hexdigest()[:32]
        key = f"tenants/{TENANT}/uploads/{document_id}/doc-{number}.txt"
        first = number * CHUNKS_PER_DOCUMENT
        chunks = [
            IndexedChunk(
                chunk=Chunk(
                    f"{document_id}:{n}", document_id, n, texts[first + n], None, 0, len(texts[first + n])
                ),
                vector=vectors[first + n],
                version="v1",
                key=key,
                content_type="text/plain",
                tenant=TENANT,
                model_id=embedder.model_id,
                dimensions=embedder.dimensions,
            )
            for n in range(CHUNKS_PER_DOCUMENT)
        ]
        index.replace_document(document_id, "v1", chunks)
        documents_written.append((document_id, key, TENANT))
    index.close()
    record_indexed(settings, documents_written)


def measure(settings: Any, queries: list[str], passes: int) -> dict[str, Any]:
    import boto3

    from chalicelib.adapters.dynamo_catalog import DynamoCatalog
    from chalicelib.api.requests import SearchRequest
    from chalicelib.bootstrap import Container

    client = boto3.client("dynamodb", region_name=settings.region, endpoint_url=settings.aws_endpoint_url)
    batch_keys: list[int] = []
    client.meta.events.register(
        "provide-client-params.dynamodb.BatchGetItem",
        lambda params, **_: batch_keys.append(sum(len(t["Keys"]) for t in params["RequestItems"].values())),
    )
    on = Container(settings)
    off = Container(replace(settings, search_catalog_check=False))
    on.__dict__["catalog"] = DynamoCatalog(client, settings.documents_table)
    off.__dict__["index"], off.__dict__["embedder"] = on.index, on.embedder
    services = {"with_check": on.search, "without_check": off.search}

    def timed(name: str, query: str, mode: str, k: int) -> tuple[float, dict[str, Any]]:
        started = time.perf_counter()
        answer = services[name].search(TENANT, SearchRequest(query=query, mode=mode, k=k))
        return (time.perf_counter() - started) * 1000, answer

    for mode in MODES:  # warm: the vector matrix, the clients, the connection pool
        for name in services:
            for query in queries[:5]:
                timed(name, query, mode, 10)
    rows = []
    for mode in MODES:
        for k in KS:
            samples: dict[str, list[float]] = {name: [] for name in services}
            check_ms: list[float] = []
            results: list[int] = []
            batch_keys.clear()
            order = list(services)
            for _ in range(passes):
                for query in queries:
                    order.reverse()
                    for name in order:
                        elapsed, answer = timed(name, query, mode, k)
                        samples[name].append(elapsed)
                        if name == "with_check":
                            check_ms.append(answer["timings_ms"]["catalog_check"])
                            results.append(len(answer["results"]))
            row: dict[str, Any] = {"mode": mode, "k": k, "searches": len(check_ms)}
            for name, values in samples.items():
                row[name] = {f"p{q}_ms": r(percentile(values, q), 2) for q in (50, 95, 99)}
            row["added_p50_ms"] = r(row["with_check"]["p50_ms"] - row["without_check"]["p50_ms"], 2)
            row["added_p95_ms"] = r(row["with_check"]["p95_ms"] - row["without_check"]["p95_ms"], 2)
            row["catalog_check_p50_ms"] = r(percentile(check_ms, 50), 2)
            row["catalog_check_p95_ms"] = r(percentile(check_ms, 95), 2)
            row["batch_get_calls_per_search"] = r(len(batch_keys) / len(check_ms), 2)
            row["documents_checked_per_search"] = r(sum(batch_keys) / len(check_ms), 1)
            row["results_per_search"] = r(sum(results) / len(results), 1)
            rows.append(row)
            log(
                f"{mode} k={k}: p50 {row['without_check']['p50_ms']} -> {row['with_check']['p50_ms']} ms,"
                f" p95 {row['without_check']['p95_ms']} -> {row['with_check']['p95_ms']} ms;"
                f" check p50 {row['catalog_check_p50_ms']} ms, {row['documents_checked_per_search']} docs"
            )
    return {"rows": rows}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=2500)
    parser.add_argument("--queries", type=int, default=100, help="a seeded subset of the 300 test queries")
    parser.add_argument("--passes", type=int, default=1)
    parser.add_argument("--out", type=Path, default=RESULTS / "catalog_check.json")
    args = parser.parse_args(argv)
    started = time.perf_counter()

    from chalicelib.config import Settings
    from devstack.cloud import provision, start_moto
    from devstack.stage import LOCAL_CREDENTIALS

    for name, value in LOCAL_CREDENTIALS.items():
        os.environ.setdefault(name, value)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's line per request
    endpoint = f"http://127.0.0.1:{free_port()}"
    moto = start_moto(endpoint)
    try:
        settings = Settings(
            aws_endpoint_url=endpoint,
            home=str(scratch_dir("quarry-bench-catalog-check")),
            embedder="hashing",
            extractor="local",
            vector_index="sqlite",
        )
        provision(settings)
        log(f"filling {args.documents} documents x {CHUNKS_PER_DOCUMENT} chunks")
        fill(settings, args.documents)
        queries = list(scifact(max_queries=args.queries, seed=SEED).queries.values())
        log(f"{len(queries)} queries x {args.passes} passes per mode and k, with and without the check")
        measured = measure(settings, queries, args.passes)
    finally:
        moto.stop()
    results = {
        "command": "make bench-catalog-check (python -m bench.catalog_check)",
        "documents": args.documents,
        "chunks": args.documents * CHUNKS_PER_DOCUMENT,
        "queries": len(queries),
        "passes": args.passes,
        **measured,
    }
    return publish(results, args.out, started)


if __name__ == "__main__":
    main()
