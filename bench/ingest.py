"""Ingest throughput: SciFact through the whole local pipeline, against the raw model on the same texts.

1. The pipeline: the local stack (`python -m devstack up`: moto, API, SQS poller + worker, MiniLM,
   local extractor, SQLite index) in a child process; every abstract uploaded as a file through the API
   (POST /uploads + pre-signed POST form, a few at a time), timed from the first upload to the last document's
   INDEXED time. Chunks/s, documents/s, the worker's time per stage (from each document's timings_ms)
   and the stack process's peak resident memory (sampled every 0.25 s).
2. The raw model in this process, on exactly the chunk texts the pipeline indexed (read back from the
   store): SentenceTransformer.encode with the pipeline's embed batch size (QUARRY_EMBED_BATCH_SIZE,
   32), after a warm-up. Efficiency = pipeline chunks/s / raw chunks/s.
3. The same raw model on a sample of the documents, one encode call per document (how the worker
   batches: each document's chunks together), to show what per-document batching costs by itself.

python -m bench.ingest [--docs N] [--sample-docs 500] [--out FILE]
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import time
from pathlib import Path
from typing import Any

from bench.common import (
    RESULTS,
    SEED,
    StackProcess,
    add_stack_env_argument,
    log,
    package_versions,
    publish,
    r,
    scifact,
    scratch_dir,
    stack_env,
)
from bench.pipeline import ingest, warm_up

DEFAULT_OUT = RESULTS / "ingest.json"
GOAL_EFFICIENCY = 0.9


def chunks_by_document(home: Path) -> list[list[str]]:
    """The indexed chunk texts, grouped by document, in insertion order."""
    grouped: dict[str, list[str]] = {}
    with sqlite3.connect(f"file:{home / 'index.sqlite3'}?mode=ro", uri=True) as db:
        for document_id, text in db.execute("SELECT document_id, text FROM chunks ORDER BY rowid"):
            grouped.setdefault(document_id, []).append(text)
    return list(grouped.values())


def load_model() -> Any:
    from sentence_transformers import SentenceTransformer

    from chalicelib.adapters.local_embedders import bundled_minilm_path

    return SentenceTransformer(str(bundled_minilm_path()), device="cpu")


def encode_seconds(model: Any, batches: list[list[str]], batch_size: int) -> float:
    started = time.perf_counter()
    for texts in batches:
        model.encode(
            texts,
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
    return time.perf_counter() - started


def raw_model(groups: list[list[str]], batch_size: int, sample_docs: int) -> dict[str, Any]:
    import torch

    model = load_model()
    texts = [text for group in groups for text in group]
    encode_seconds(model, [texts[:64]], batch_size)  # warm-up
    seconds = encode_seconds(model, [texts], batch_size)
    result: dict[str, Any] = {
        "chunks": len(texts),
        "batch_size": batch_size,
        "seconds": r(seconds, 1),
        "chunks_per_s": r(len(texts) / seconds, 2),
        "torch_threads": torch.get_num_threads(),
    }
    sample = groups[:sample_docs]
    if sample:
        sample_texts = [text for group in sample for text in group]
        batched = encode_seconds(model, [sample_texts], batch_size)
        per_document = encode_seconds(model, sample, batch_size)
        result["per_document_sample"] = {
            "documents": len(sample),
            "chunks": len(sample_texts),
            "batched_chunks_per_s": r(len(sample_texts) / batched, 2),
            "per_document_chunks_per_s": r(len(sample_texts) / per_document, 2),
            "per_document_over_batched": r(batched / per_document, 3),
        }
    return result


def ingest_results(
    summary: dict[str, Any], home: Path, batch_size: int, sample_docs: int, raw_docs: int | None, command: str
) -> dict[str, Any]:
    """The pipeline's figures beside the raw model on the chunk texts it indexed (all of them, or those
    of the first `raw_docs` documents in indexing order when given)."""
    groups = chunks_by_document(home)
    measured = groups if raw_docs is None else groups[:raw_docs]
    raw = raw_model(measured, batch_size, sample_docs)
    if raw_docs is not None:
        raw["documents_measured"] = len(measured)
        raw["note"] = f"raw model measured on the chunks of the first {len(measured)} indexed documents"
    log(f"raw encode: {raw['chunks']} chunks in {raw['seconds']}s = {raw['chunks_per_s']} chunks/s")
    efficiency = summary["chunks_per_s"] / raw["chunks_per_s"]
    log(f"efficiency (pipeline / raw): {efficiency:.3f} (goal >= {GOAL_EFFICIENCY})")
    return {
        "command": command,
        "pipeline": summary,
        "raw_model": raw,
        "efficiency": r(efficiency, 3),
        "goal_efficiency": GOAL_EFFICIENCY,
        "goal_met": efficiency >= GOAL_EFFICIENCY,
        "seed": SEED,
        "packages": package_versions("sentence-transformers", "torch", "transformers"),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    from chalicelib.config import Settings

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--docs", type=int, default=None, help="a seeded subset of the corpus")
    parser.add_argument("--sample-docs", type=int, default=500, help="documents for the per-document encode")
    parser.add_argument("--upload-threads", type=int, default=2)
    parser.add_argument(
        "--raw-docs",
        type=int,
        default=None,
        help="measure the raw model on the chunks of this many documents",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    add_stack_env_argument(parser)
    args = parser.parse_args(argv)
    env = stack_env(args)
    batch_size = Settings.from_env().embed_batch_size
    data = scifact(args.docs, max_queries=0 if args.docs else None)
    started = time.perf_counter()
    work = scratch_dir("ingest-")
    log(f"SciFact: {len(data.corpus)} documents; scratch {work}")
    with StackProcess(work / "home", env=env, log_path=work / "stack.log") as stack:
        rss_ready = warm_up(stack)
        run = ingest(stack, data.corpus, work / "files", args.upload_threads)
    pipeline = run.summary()
    pipeline["rss_before_ingest_mb"] = r(rss_ready / 2**20, 0)
    log(
        f"pipeline: {pipeline['indexed']} documents, {pipeline['chunks']} chunks"
        f" in {pipeline['pipeline_seconds']}s"
        f" = {pipeline['chunks_per_s']} chunks/s, {pipeline['documents_per_s']} documents/s;"
        f" peak RSS {pipeline['peak_rss_mb']} MB"
    )
    results = ingest_results(
        pipeline,
        work / "home",
        batch_size,
        args.sample_docs,
        args.raw_docs,
        "make bench-ingest (python -m bench.ingest)",
    )
    shutil.rmtree(work)
    results["stack_environment"] = env
    return publish(results, args.out, started)


if __name__ == "__main__":
    main()
