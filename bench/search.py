"""Search latency over HTTP with 1k to 100k chunks in the embedded store.

Filling 100k chunks through the pipeline would take hours of MiniLM time, so the store is written
directly, through the real adapter (SqliteVectorIndex.replace_document, four chunks a document):
texts are windows of consecutive SciFact sentences (about the size of the pipeline's chunks), vectors
are seeded random unit vectors (exact search costs the same whatever the vectors hold).

Then the local stack starts (`python -m devstack up`) with a fresh QUARRY_HOME. Its start deletes
index.sqlite3* under QUARRY_HOME (devstack/runner.py reset_local_state) and nothing opens the index until
the first request, so the prepared file is moved in after /health answers and before any search: the
API then opens it as it would any store. Every SciFact test query is sent to POST /search (k=10) in
each mode, `passes` times; the client times each request (HTTP included) and the API's timings_ms gives
the query-embedding time, reported separately and subtracted for the "excluding embedding" figures.
Percentiles are computed per pass; the median over passes is reported.

python -m bench.search [--sizes 1000 10000 30000 100000] [--passes 3] [--queries N] [--out FILE]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import time
from pathlib import Path
from typing import Any

from bench.catalog_seed import record_indexed
from bench.common import (
    RESULTS,
    ROOT,
    SEED,
    WORK,
    StackProcess,
    add_stack_env_argument,
    load_corpus,
    log,
    median,
    percentile,
    publish,
    r,
    scifact,
    scratch_dir,
    stack_env,
)

DEFAULT_OUT = RESULTS / "search.json"
DEFAULT_PLOT = ROOT / "docs" / "bench-search-latency.png"
MODES = ("vector", "keyword", "hybrid")
CHUNKS_PER_DOCUMENT = 4
WINDOW_CHARS = 600  # about 120 word pieces: the size of the pipeline's chunks of SciFact
DIMENSIONS = 384  # all-MiniLM-L6-v2, the model the local stack embeds queries with
K = 10
GOAL_P95_MS = 50
# What the stack runs with unless --env says otherwise: search without its two DynamoDB calls, each
# measured on its own (bench-catalog-check, bench-auth), since on moto each measures moto. The catalog
# check (one BatchGetItem of the hits' documents) costs 1 ms an item in moto's response serializer:
# 30 ms at k=10, 250 ms for hybrid's 175 documents; the per-tenant limit (one UpdateItem) 14 ms. On
# DynamoDB each is one round trip. --env QUARRY_SEARCH_CATALOG_CHECK=true puts the check back (and
# records the store's documents in the catalog first: 5 minutes at 100k chunks), and
# --env QUARRY_SEARCHES_PER_MINUTE=1200 the limit.
DEFAULT_STACK_ENV = {"QUARRY_SEARCH_CATALOG_CHECK": "false", "QUARRY_SEARCHES_PER_MINUTE": "0"}
# Part of the prepared stores' cache key, with the adapter's source: change it when the generator changes.
STORE_FORMAT = f"windows-{WINDOW_CHARS}-docs-of-{CHUNKS_PER_DOCUMENT}-dims-{DIMENSIONS}-v2-typed"
# Each document's typed metadata: a year (1990-2024) and a topic, for the filtered runs.
TOPICS = ("a", "b", "c", "d")
# Besides the plain search, each mode runs with a two-clause typed filter (about a third of the
# documents pass: years 2000-2024 of 1990-2024, topics a and b of four) and grouped by document.
VARIANTS: dict[str, dict[str, Any]] = {
    "filtered": {
        "filter": {
            "andAll": [
                {"greaterThanOrEquals": {"key": "year", "value": 2000}},
                {"in": {"key": "topic", "value": ["a", "b"]}},
            ]
        }
    },
    "grouped": {"group_by": "document"},
}

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(])")


def sentence_windows(count: int) -> list[str]:
    """`count` chunk texts: windows of consecutive sentences of SciFact abstracts, each starting at a
    different sentence, cycling through the corpus (so 100k windows repeat sentences, not whole chunks)."""
    abstracts = [_SENTENCE_END.split(doc["text"]) for doc in load_corpus() if doc["text"].strip()]
    texts: list[str] = []
    offset = 0
    while len(texts) < count:
        for sentences in abstracts:
            start = offset % len(sentences)
            window: list[str] = []
            for sentence in sentences[start:]:
                window.append(sentence)
                if sum(len(s) + 1 for s in window) >= WINDOW_CHARS:
                    break
            texts.append(" ".join(window))
            if len(texts) == count:
                break
        offset += 1
    return texts


def bench_tenant() -> str:
    """The tenant the benchmark signs in as (devstack.client.demo_client), whose chunks it writes."""
    from devstack.identity import DEFAULT_USERS, parse_users

    return parse_users(DEFAULT_USERS)[0].tenant


def store_documents(chunks: int) -> list[tuple[str, str, str]]:
    """(document_id, key, tenant) of each document of the store of `chunks`, in the order written."""
    tenant = bench_tenant()
    documents = []
    for first in range(0, chunks, CHUNKS_PER_DOCUMENT):
        document_id = hashlib.sha256(f"bench-{first}".encode()).hexdigest()[:32]
        key = f"tenants/{tenant}/uploads/{document_id}/bench-{first // CHUNKS_PER_DOCUMENT}.txt"
        documents.append((document_id, key, tenant))
    return documents


def build_index(path: Path, chunks: int, seed: int = SEED) -> float:
    """Write `chunks` chunks to a new SqliteVectorIndex at `path`; returns the seconds it took."""
    import numpy as np

    from chalicelib.adapters.local_embedders import MINILM_MODEL_ID
    from chalicelib.adapters.sqlite import SqliteVectorIndex
    from chalicelib.model import Chunk, IndexedChunk

    started = time.perf_counter()
    texts = sentence_windows(chunks)
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((chunks, DIMENSIONS), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index = SqliteVectorIndex(path, DIMENSIONS, model_id=MINILM_MODEL_ID)
    for first, (document_id, key, tenant) in zip(
        range(0, chunks, CHUNKS_PER_DOCUMENT), store_documents(chunks), strict=True
    ):
        version = "v1"
        batch = []
        for ordinal, i in enumerate(range(first, min(first + CHUNKS_PER_DOCUMENT, chunks))):
            chunk = Chunk(
                chunk_id=hashlib.sha256(f"{document_id}:{ordinal}".encode()).hexdigest()[:32],
                document_id=document_id,
                ordinal=ordinal,
                text=texts[i],
                start=0,
                end=len(texts[i]),
            )
            batch.append(
                IndexedChunk(
                    chunk=chunk,
                    vector=vectors[i].tolist(),
                    version=version,
                    key=key,
                    content_type="text/plain",
                    metadata={
                        "corpus": "scifact-windows",
                        "year": 1990 + (first // CHUNKS_PER_DOCUMENT) % 35,
                        "topic": TOPICS[(first // CHUNKS_PER_DOCUMENT) % len(TOPICS)],
                    },
                    tenant=tenant,
                    # Random vectors stand in for the model the benchmark's API embeds queries with.
                    model_id=MINILM_MODEL_ID,
                    dimensions=DIMENSIONS,
                )
            )
        index.replace_document(document_id, version, batch)
    index.checkpoint()
    index.close()
    for leftover in path.parent.glob(path.name + "-*"):
        leftover.unlink()
    return time.perf_counter() - started


def cached_index(chunks: int, seed: int = SEED) -> Path:
    """The prepared store for `chunks`, built once per generator, adapter and chunking version."""
    adapter_sources = sorted((ROOT / "chalicelib" / "adapters" / "sqlite").glob("*.py"))
    adapter = b"".join(source.name.encode() + source.read_bytes() for source in adapter_sources)
    tag = hashlib.sha256(adapter + STORE_FORMAT.encode()).hexdigest()[:12]
    path = WORK / "search-stores" / f"chunks-{chunks}-seed-{seed}-{tag}.sqlite3"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        building = path.with_name(path.name + ".building")
        for old in path.parent.glob(path.name + ".building*"):
            old.unlink()
        seconds = build_index(building, chunks, seed)
        building.replace(path)
        log(f"built a store of {chunks} chunks in {seconds:.0f}s: {path}")
    return path


def install_store(store: Path, home: Path) -> None:
    """Put the prepared store where the running stack will open it: only while nothing has it open."""
    index = home / "index.sqlite3"
    present = sorted(p.name for p in home.glob("index.sqlite3*"))
    if present:
        raise RuntimeError(f"the stack opened its index before the benchmark could install one: {present}")
    staged = home / "index.sqlite3.staging"
    shutil.copyfile(store, staged)
    os.replace(staged, index)


def record_stack_documents(stack: StackProcess, chunks: int) -> None:
    """INDEXED catalog records, in the stack's moto DynamoDB, for the documents of the store: search
    shows only chunks of documents the catalog holds INDEXED at their version."""
    from chalicelib.config import Settings
    from devstack.stage import LOCAL_CREDENTIALS

    for name, value in LOCAL_CREDENTIALS.items():
        os.environ.setdefault(name, value)
    settings = Settings(aws_endpoint_url=f"http://127.0.0.1:{stack.moto_port}")
    started = time.perf_counter()
    written = record_indexed(settings, store_documents(chunks))
    log(f"recorded {written} documents in the catalog in {time.perf_counter() - started:.0f}s")


def measure(api_url: str, queries: list[str], passes: int, **options: Any) -> dict[str, Any]:
    """Latency per mode of every query, `passes` times, with the request `options` (VARIANTS)."""
    from devstack.client import demo_client

    api = demo_client(api_url, timeout_s=120)
    for mode in MODES:  # the first search loads the model and the vector matrix
        for query in queries[:3]:
            api.search(query, mode=mode, k=K, **options)
    per_mode: dict[str, Any] = {}
    for mode in MODES:
        pass_stats = []
        for _ in range(passes):
            total, excluding, embed, server = [], [], [], []
            for query in queries:
                started = time.perf_counter()
                answer = api.search(query, mode=mode, k=K, **options)
                elapsed_ms = (time.perf_counter() - started) * 1000
                if mode == "vector" and len(answer["results"]) < K:
                    # Every chunk is a candidate: fewer means the store's documents are not in the
                    # catalog (search shows only INDEXED ones), and the figures would time empty answers.
                    raise RuntimeError(f"a vector search returned {len(answer['results'])} of {K} results")
                embed_ms = answer["timings_ms"].get("embed_query", 0.0)
                total.append(elapsed_ms)
                excluding.append(elapsed_ms - embed_ms)
                embed.append(embed_ms)
                server.append(answer["timings_ms"])
            pass_stats.append(
                {
                    **{f"p{q}_ms": percentile(total, q) for q in (50, 95, 99)},
                    **{f"p{q}_excluding_embedding_ms": percentile(excluding, q) for q in (50, 95, 99)},
                    "embed_query_p50_ms": percentile(embed, 50),
                    "embed_query_p95_ms": percentile(embed, 95),
                    **{
                        f"server_{part}_p50_ms": percentile([t[part] for t in server], 50)
                        for part in ("vector", "keyword")
                        if all(part in t for t in server)
                    },
                }
            )
        per_mode[mode] = {name: r(median(p[name] for p in pass_stats), 2) for name in pass_stats[0]}
        per_mode[mode]["requests"] = passes * len(queries)
    return per_mode


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = [row["chunks"] for row in results["sizes"]]
    figure, axes = plt.subplots(figsize=(7, 4.2))
    for mode, color in zip(MODES, ("tab:blue", "tab:orange", "tab:green"), strict=True):
        p50 = [row["modes"][mode]["p50_excluding_embedding_ms"] for row in results["sizes"]]
        p95 = [row["modes"][mode]["p95_excluding_embedding_ms"] for row in results["sizes"]]
        axes.plot(sizes, p95, marker="o", color=color, label=f"{mode} p95")
        axes.plot(sizes, p50, marker=".", linestyle="--", color=color, label=f"{mode} p50")
    axes.axhline(GOAL_P95_MS, color="grey", linestyle=":", label=f"goal: p95 < {GOAL_P95_MS} ms")
    axes.set_xscale("log")
    axes.set_xlabel("chunks in the embedded store")
    axes.set_ylabel("POST /search over HTTP, ms\n(excluding query embedding)")
    axes.set_title(f"Search latency, k={K}, SciFact test queries ({results['machine']['nproc']} cores)")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=8, ncol=2)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 30000, 100000])
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--queries", type=int, default=None, help="a seeded subset of the 300 test queries")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--variants", nargs="*", choices=sorted(VARIANTS), default=sorted(VARIANTS))
    parser.add_argument(
        "--plot", type=lambda value: Path(value) if value else None, default=DEFAULT_PLOT, help="'' for none"
    )
    add_stack_env_argument(parser)
    args = parser.parse_args(argv)
    env = DEFAULT_STACK_ENV | stack_env(args)
    checked = env["QUARRY_SEARCH_CATALOG_CHECK"].lower() not in ("false", "0", "no", "off")
    started = time.perf_counter()
    queries = list(scifact(max_queries=args.queries).queries.values())
    rows = []
    for size in args.sizes:
        store = cached_index(size)
        work = scratch_dir(f"search-{size}-")
        home = work / "home"
        with StackProcess(home, env=env, log_path=work / "stack.log") as stack:
            install_store(store, home)
            if checked:
                record_stack_documents(stack, size)
            modes = measure(stack.api_url, queries, args.passes)
            variants = {
                name: measure(stack.api_url, queries, args.passes, **VARIANTS[name]) for name in args.variants
            }
            rss = stack.rss_bytes()
        shutil.rmtree(work)
        rows.append({"chunks": size, "stack_rss_mb": r(rss / 2**20, 0), "modes": modes, "variants": variants})
        for name, stats in variants.items():
            log(
                f"{size} chunks, {name}: p95 excluding embedding "
                + ", ".join(f"{m} {stats[m]['p95_excluding_embedding_ms']} ms" for m in MODES)
            )
        log(
            f"{size} chunks: p95 excluding embedding "
            + ", ".join(f"{m} {modes[m]['p95_excluding_embedding_ms']} ms" for m in MODES)
            + f"; embed_query p50 {modes['vector']['embed_query_p50_ms']} ms"
        )
    results: dict[str, Any] = {
        "command": "make bench-search (python -m bench.search)",
        "k": K,
        "queries": len(queries),
        "passes": args.passes,
        "stack_environment": env,
        "goal_p95_excluding_embedding_ms": GOAL_P95_MS,
        "store": {
            "texts": f"windows of consecutive SciFact sentences, about {WINDOW_CHARS} characters",
            "vectors": f"seeded random unit vectors, {DIMENSIONS}-d",
            "chunks_per_document": CHUNKS_PER_DOCUMENT,
            "seed": SEED,
        },
        "variants": VARIANTS,
        "sizes": rows,
    }
    largest = rows[-1]
    results["goal_met_at_largest"] = {
        mode: largest["modes"][mode]["p95_excluding_embedding_ms"] < GOAL_P95_MS for mode in MODES
    }
    publish(results, args.out, started)
    if args.plot:
        plot(results, args.plot)
        log(f"plot: {args.plot}")
    return results


if __name__ == "__main__":
    main()
