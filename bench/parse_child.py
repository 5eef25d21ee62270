"""What parsing in a child process (chalicelib/parsing/isolation.py) costs, beside parsing inline.

Three measurements, each mode beside the other in the same run:

1. start-up: a fresh ProcessParser's first document (the child's interpreter and parser imports) against
   its next one, `runs` times.
2. per document: every file of tests/fixtures/corpus and `--abstracts` SciFact abstracts (as .txt)
   parsed inline and in one warm child, taken in turns file by file, the fastest of `--repeats` each;
   the overhead is the child's time minus the inline time for the same file (the socket round trip
   and the JSON of the text).
3. ingest throughput: the real worker path (S3 → EventBridge → SQS on a moto server → the SQS poller →
   worker.handle_batch → IngestService → SQLite) over `--docs` SciFact abstracts, with
   QUARRY_PARSE_ISOLATION=inline and =process in turns (`--rounds` each), with the hashing embedder
   (where parsing weighs most) and MiniLM (the local stage's model).
And, for scale, what the memory bomb of tests/bombs.py costs the worker's own resident memory in each
mode (each in a fresh process).

python -m bench.parse_child [--abstracts 300] [--docs 150] [--rounds 3] [--runs 5] [--repeats 3] [--out FILE]
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import logging
import os
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from bench.common import (
    PYTHON,
    RESULTS,
    ROOT,
    SEED,
    document_text,
    free_port,
    log,
    median,
    percentile,
    publish,
    r,
    scifact,
)

DEFAULT_OUT = RESULTS / "parse.json"
CORPUS = ROOT / "tests" / "fixtures" / "corpus"


def child_parser(size: int = 1):
    from chalicelib.config import Settings
    from chalicelib.parsing.isolation import parser_for

    return parser_for(Settings(parse_isolation="process", record_concurrency=size))


def start_up(runs: int) -> dict[str, Any]:
    first, second = [], []
    for _ in range(runs):
        parser = child_parser()
        try:
            for times in (first, second):
                started = time.perf_counter()
                parser.parse(b"A short note about a heron.", "note.txt")
                times.append((time.perf_counter() - started) * 1000)
        finally:
            parser.close()
    return {"runs": runs, "first_document_ms": r(median(first), 1), "next_document_ms": r(median(second), 2)}


def files(abstracts: int) -> dict[str, list[tuple[str, bytes]]]:
    corpus = [(p.name, p.read_bytes()) for p in sorted(CORPUS.rglob("*")) if p.is_file()]
    docs = scifact(max_docs=abstracts, max_queries=0).corpus[:abstracts]
    return {"corpus": corpus, "scifact": [(f"{d['_id']}.txt", document_text(d).encode()) for d in docs]}


def per_document(sets: dict[str, list[tuple[str, bytes]]], repeats: int) -> dict[str, Any]:
    from chalicelib.config import Settings
    from chalicelib.model import DocumentError
    from chalicelib.parsing.isolation import parser_for

    inline = parser_for(Settings(parse_isolation="inline"))
    child = child_parser()
    child.parse(b"warm up", "warm.txt")
    rows = {}
    try:
        for name, documents in sets.items():
            inline_ms, child_ms, every_overhead = [], [], []
            for filename, data in documents:
                taken: dict[str, list[float]] = {"inline": [], "child": []}
                for _ in range(repeats):
                    for mode, parser in (("inline", inline), ("child", child)):
                        started = time.perf_counter()
                        # A refusal is an answer too, and costs the same round trip.
                        with contextlib.suppress(DocumentError):
                            parser.parse(data, filename)
                        taken[mode].append((time.perf_counter() - started) * 1000)
                # The fastest of the repeats: other work on the machine only ever adds time.
                inline_ms.append(min(taken["inline"]))
                child_ms.append(min(taken["child"]))
                # Each repeat's own difference: on a busy machine, waking the child waits for a core.
                every_overhead += [c - i for c, i in zip(taken["child"], taken["inline"], strict=True)]
            overhead = [c - i for c, i in zip(child_ms, inline_ms, strict=True)]
            worst = max(range(len(documents)), key=overhead.__getitem__)
            rows[name] = {
                "documents": len(documents),
                "bytes": sum(len(data) for _, data in documents),
                "inline_median_ms": r(median(inline_ms), 2),
                "child_median_ms": r(median(child_ms), 2),
                "overhead_median_ms": r(median(overhead), 2),
                "overhead_every_parse_median_ms": r(median(every_overhead), 2),
                "overhead_every_parse_p90_ms": r(percentile(every_overhead, 90), 2),
                "inline_total_s": r(sum(inline_ms) / 1000, 2),
                "child_total_s": r(sum(child_ms) / 1000, 2),
                "repeats": repeats,
                "largest_overhead": {
                    "file": documents[worst][0],
                    "bytes": len(documents[worst][1]),
                    "overhead_ms": r(overhead[worst], 1),
                    "inline_ms": r(inline_ms[worst], 1),
                },
            }
            log(f"per document, {name}: {rows[name]}")
    finally:
        child.close()
    return rows


def ingest_runs(docs: list[dict[str, Any]], rounds: int, embedders: list[str]) -> list[dict[str, Any]]:
    from chalicelib.observability import logger
    from devstack.cloud import start_moto
    from devstack.stage import LOCAL_CREDENTIALS

    for name, value in LOCAL_CREDENTIALS.items():
        os.environ.setdefault(name, value)
    logger.setLevel("WARNING")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    endpoint = f"http://127.0.0.1:{free_port()}"
    server = start_moto(endpoint)
    rows = []
    try:
        for embedder in embedders:
            # Unmeasured: the first run loads the model, the extractor's data and the import caches.
            _reset(endpoint)
            ingest_run(endpoint, embedder, "inline", docs[:20])
            for round_number in range(rounds):
                # Each round swaps which mode goes first, so a drift in the machine's load cancels out.
                order = ("inline", "process") if round_number % 2 == 0 else ("process", "inline")
                for isolation in order:
                    _reset(endpoint)
                    row = ingest_run(endpoint, embedder, isolation, docs)
                    row["round"] = round_number + 1
                    rows.append(row)
                    log(f"ingest {embedder} {isolation} round {round_number + 1}: {row}")
                    gc.collect()  # the run's parser children end with its container
    finally:
        server.stop()
    return rows


def _reset(endpoint: str) -> None:
    """Empty moto's state, or the worker would skip every document as an already-indexed duplicate."""
    reset = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
    urllib.request.urlopen(reset, timeout=30).close()


_EMBEDDERS: dict[str, Any] = {}


def ingest_run(endpoint: str, embedder: str, isolation: str, docs: list[dict[str, Any]]) -> dict[str, Any]:
    from chalicelib import bootstrap
    from chalicelib.config import Settings
    from chalicelib.worker import handle_batch
    from devstack.cloud import clients, provision
    from devstack.poller import QueuePoller

    with tempfile.TemporaryDirectory(prefix="quarry-bench-parse-") as home:
        settings = Settings(
            aws_endpoint_url=endpoint,
            home=home,
            embedder=embedder,
            extractor="local",
            vector_index="sqlite",
            record_concurrency=1,  # the local stage's
            parse_isolation=isolation,
        )
        resources = provision(settings, visibility_timeout_s=300)
        container = bootstrap.Container(settings)
        # One model for every run: its loading is not what is measured.
        if embedder in _EMBEDDERS:
            container.__dict__["embedder"] = _EMBEDDERS[embedder]
        _EMBEDDERS[embedder] = container.embedder
        container.embedder.embed_documents(["warm up the model"])
        aws = clients(settings)
        for doc in docs:
            aws["s3"].put_object(
                Bucket=settings.raw_bucket,
                Key=f"tenants/bench/scifact/{doc['_id']}.txt",
                Body=document_text(doc).encode(),
                ContentType="text/plain",
            )
        poller = QueuePoller(
            aws["sqs"],
            resources.queue_url,
            resources.queue_arn,
            lambda event, context: handle_batch(event, context, container.ingest, 1),
            settings.region,
        )
        started = time.perf_counter()
        received, idle = 0, 0
        while received < len(docs) and idle < 5:
            got = poller.poll_once()
            received += got
            idle = 0 if got else idle + 1
        elapsed = time.perf_counter() - started
        chunks = container.index.count()
        container.index.close()
    if received != len(docs) or not chunks:
        raise RuntimeError(f"ingest run: {received} of {len(docs)} messages, {chunks} chunks indexed")
    return {
        "embedder": embedder,
        "isolation": isolation,
        "documents": len(docs),
        "chunks": chunks,
        "seconds": r(elapsed, 2),
        "documents_per_s": r(len(docs) / elapsed, 2),
        "chunks_per_s": r(chunks / elapsed, 2),
    }


_BOMB_PROBE = """
import json, resource, sys
from chalicelib.config import Settings
from chalicelib.model import DocumentError
from chalicelib.parsing.isolation import parser_for
from tests.bombs import tree_bomb_docx
bomb = tree_bomb_docx()
parser = parser_for(Settings(parse_isolation=sys.argv[1], record_concurrency=1))
parser.parse(b"warm up", "warm.txt")
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    outcome = "parsed: " + repr(parser.parse(bomb, "tree.docx").text[:40])
except DocumentError as error:
    outcome = error.code.value
growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
print(json.dumps({"bytes": len(bomb), "outcome": outcome, "worker_peak_rss_growth_mb": round(growth / 1024)}))
"""


def bomb_memory() -> dict[str, Any]:
    found = {}
    for isolation in ("inline", "process"):
        done = subprocess.run(
            [PYTHON, "-c", _BOMB_PROBE, isolation], cwd=ROOT, capture_output=True, text=True, check=True
        )
        found[isolation] = json.loads(done.stdout.strip().splitlines()[-1])
        log(f"tree bomb, {isolation}: {found[isolation]}")
    return found


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    summary = {}
    for embedder in dict.fromkeys(row["embedder"] for row in rows):
        rates = {
            isolation: [
                row["documents_per_s"]
                for row in rows
                if (row["embedder"], row["isolation"]) == (embedder, isolation)
            ]
            for isolation in ("inline", "process")
        }
        inline, process = median(rates["inline"]), median(rates["process"])
        summary[embedder] = {
            "inline_documents_per_s": r(inline, 2),
            "process_documents_per_s": r(process, 2),
            "change": r(process / inline - 1, 3),
        }
    return summary


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--abstracts", type=int, default=300, help="SciFact abstracts parsed per mode")
    parser.add_argument("--docs", type=int, default=150, help="SciFact documents per ingest run (0: skip)")
    parser.add_argument("--rounds", type=int, default=3, help="ingest runs per mode and embedder")
    parser.add_argument("--embedders", nargs="+", default=["hashing", "minilm"])
    parser.add_argument("--runs", type=int, default=5, help="fresh children for the start-up figure")
    parser.add_argument(
        "--repeats", type=int, default=3, help="parses per file and mode (the fastest counts)"
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    results: dict[str, Any] = {"seed": SEED, "start_up": start_up(args.runs)}
    log(f"start-up: {results['start_up']}")
    results["per_document"] = per_document(files(args.abstracts), args.repeats)
    results["bomb"] = bomb_memory()
    if args.docs:
        docs = scifact(max_docs=args.docs, max_queries=0).corpus[: args.docs]
        results["ingest"] = ingest_runs(docs, args.rounds, args.embedders)
        results["ingest_summary"] = summarise(results["ingest"])
        log(f"ingest: {results['ingest_summary']}")
    results["command"] = "make bench-parse (python -m bench.parse_child)"
    return publish(results, args.out, started)


if __name__ == "__main__":
    main()
