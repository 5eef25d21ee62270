"""Ingest throughput: SciFact through the whole local pipeline, beside LlamaIndex's in-process
IngestionPipeline on the same documents, each against its own raw encoder on the chunks it made.

1. Quarry, once per upload window (`--windows 48 0`: at most 48 documents uploaded and not yet indexed,
   then no window at all, every file uploaded as fast as the API takes it), each on a fresh local stack
   (`python -m devstack up`: moto, API, SQS poller + worker, MiniLM, local extractor, SQLite index) in a
   child process; every abstract uploaded as a file through the API (POST /uploads + pre-signed POST
   form), timed from the first upload to the last document's INDEXED time. Documents/s, chunks/s, the
   worker's time per stage (from each document's timings_ms) and the stack's peak resident memory.
2. After each run, the raw model in this process on exactly the chunk texts that run indexed (read back
   from the store): SentenceTransformer.encode with the pipeline's embed batch size
   (QUARRY_EMBED_BATCH_SIZE, 32), after a warm-up. Efficiency = pipeline chunks/s ÷ raw chunks/s.
   `--sample-docs N` also times one encode call per document on N of them (the worker's batching).
3. The peer, after Quarry: bench/peer/llamaindex_ingest.py in .venv-peer (`make peer-venv`) on the same
   documents and texts (handed over as JSON lines), the same bundled weights and batch size,
   SentenceSplitter 200/40 in the model's word pieces; its own raw encoder on its own chunks.

Goals, for every window: Quarry's documents/s ≥ 1.3 × the peer's, and Quarry's efficiency ≥ 0.9.

python -m bench.ingest [--docs 1500] [--windows 48 0] [--sample-docs 0] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import (
    BENCH,
    RESULTS,
    ROOT,
    SEED,
    StackProcess,
    add_stack_env_argument,
    bench_environment,
    document_text,
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
DEFAULT_DOCS = 1500  # the subset issue 16 measures: bench.common.scifact(1500)
DEFAULT_WINDOWS = (48, 0)  # 0: no window
GOAL_EFFICIENCY = 0.9
GOAL_OVER_PEER = 1.3
PEER_PYTHON = ROOT / ".venv-peer" / "bin" / "python"
PEER_SCRIPT = BENCH / "peer" / "llamaindex_ingest.py"


def chunks_by_document(home: Path) -> list[list[str]]:
    """The indexed chunk texts, grouped by document, in insertion order."""
    grouped: dict[str, list[str]] = {}
    with sqlite3.connect(f"file:{home / 'index.sqlite3'}?mode=ro", uri=True) as db:
        for document_id, text in db.execute("SELECT document_id, text FROM chunks ORDER BY rowid"):
            grouped.setdefault(document_id, []).append(text)
    return list(grouped.values())


def load_model(precision: str = "float32") -> Any:
    """The bundled weights, prepared for `precision` as the stack's model is (prepare_for_precision)."""
    from sentence_transformers import SentenceTransformer

    from chalicelib.adapters.local_embedders import bundled_minilm_path, prepare_for_precision

    return prepare_for_precision(SentenceTransformer(str(bundled_minilm_path()), device="cpu"), precision)


def stack_precision(env: dict[str, str]) -> str:
    """The arithmetic the stack's model runs in ("bfloat16" or "float32"): its local stage's setting,
    overridden by `env` as the stack's is, resolved on this CPU as the stack resolves it."""
    from chalicelib.adapters.local_embedders import resolve_precision
    from chalicelib.config import Settings
    from devstack.stage import stage_environment

    return resolve_precision(Settings.from_env({**stage_environment("local"), **env}).local_encoder_precision)


def encode_seconds(model: Any, batches: list[list[str]], batch_size: int, precision: str) -> float:
    from chalicelib.adapters.local_embedders import precision_context

    started = time.perf_counter()
    for texts in batches:
        with precision_context(precision):
            model.encode(
                texts,
                batch_size=batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
    return time.perf_counter() - started


def raw_model(groups: list[list[str]], batch_size: int, sample_docs: int, precision: str) -> dict[str, Any]:
    """SentenceTransformer.encode on `groups`' texts in one call, in the stack's precision."""
    import torch

    model = load_model(precision)
    texts = [text for group in groups for text in group]
    encode_seconds(model, [texts[:64]], batch_size, precision)  # warm-up
    seconds = encode_seconds(model, [texts], batch_size, precision)
    result: dict[str, Any] = {
        "chunks": len(texts),
        "batch_size": batch_size,
        "seconds": r(seconds, 1),
        "chunks_per_s": r(len(texts) / seconds, 2),
        "torch_threads": torch.get_num_threads(),
        "precision": precision,
    }
    sample = groups[:sample_docs]
    if sample:
        sample_texts = [text for group in sample for text in group]
        batched = encode_seconds(model, [sample_texts], batch_size, precision)
        per_document = encode_seconds(model, sample, batch_size, precision)
        result["per_document_sample"] = {
            "documents": len(sample),
            "chunks": len(sample_texts),
            "batched_chunks_per_s": r(len(sample_texts) / batched, 2),
            "per_document_chunks_per_s": r(len(sample_texts) / per_document, 2),
            "per_document_over_batched": r(batched / per_document, 3),
        }
    return result


def measure_against_raw(
    summary: dict[str, Any],
    home: Path,
    batch_size: int,
    sample_docs: int,
    raw_docs: int | None,
    precision: str,
) -> dict[str, Any]:
    """The pipeline's figures beside the raw model on the chunk texts it indexed (all of them, or those
    of the first `raw_docs` documents in indexing order when given)."""
    groups = chunks_by_document(home)
    texts = [text for group in groups for text in group]
    summary["chunk_characters_mean"] = r(sum(map(len, texts)) / max(len(texts), 1), 1)
    measured = groups if raw_docs is None else groups[:raw_docs]
    raw = raw_model(measured, batch_size, sample_docs, precision)
    if raw_docs is not None:
        raw["documents_measured"] = len(measured)
        raw["note"] = f"raw model measured on the chunks of the first {len(measured)} indexed documents"
    log(f"raw encode: {raw['chunks']} chunks in {raw['seconds']}s = {raw['chunks_per_s']} chunks/s")
    efficiency = summary["chunks_per_s"] / raw["chunks_per_s"]
    log(f"efficiency (pipeline / raw): {efficiency:.3f} (goal >= {GOAL_EFFICIENCY})")
    return {"pipeline": summary, "raw_model": raw, "efficiency": r(efficiency, 3)}


def ingest_results(
    summary: dict[str, Any],
    home: Path,
    batch_size: int,
    sample_docs: int,
    raw_docs: int | None,
    command: str,
    precision: str,
) -> dict[str, Any]:
    """One pipeline run against its raw model, as a results file of its own (bench.quality --ingest-out)."""
    measured = measure_against_raw(summary, home, batch_size, sample_docs, raw_docs, precision)
    return {
        "command": command,
        **measured,
        "goal_efficiency": GOAL_EFFICIENCY,
        "goal_met": measured["efficiency"] >= GOAL_EFFICIENCY,
        "seed": SEED,
        "packages": package_versions("sentence-transformers", "torch", "transformers"),
    }


def quarry_run(
    corpus: list[dict[str, Any]],
    window: int | None,
    args: argparse.Namespace,
    env: dict[str, str],
    batch_size: int,
) -> dict[str, Any]:
    """One upload window on a fresh stack, then the raw model on the chunks it indexed."""
    label = f"window {window}" if window else "no window"
    work = scratch_dir("ingest-")
    log(f"Quarry, {label}: {len(corpus)} documents; scratch {work}")
    with StackProcess(work / "home", env=env, log_path=work / "stack.log") as stack:
        rss_ready = warm_up(stack)
        run = ingest(stack, corpus, work / "files", args.upload_threads, window=window)
    pipeline = run.summary()
    pipeline["rss_before_ingest_mb"] = r(rss_ready / 2**20, 0)
    log(
        f"Quarry, {label}: {pipeline['indexed']} documents, {pipeline['chunks']} chunks"
        f" in {pipeline['pipeline_seconds']}s = {pipeline['documents_per_s']} documents/s,"
        f" {pipeline['chunks_per_s']} chunks/s; peak RSS {pipeline['peak_rss_mb']} MB"
    )
    measured = measure_against_raw(
        pipeline, work / "home", batch_size, args.sample_docs, args.raw_docs, stack_precision(env)
    )
    shutil.rmtree(work)
    return {"window": window, "label": label, **measured}


def peer_run(corpus: list[dict[str, Any]], batch_size: int, peer_python: Path) -> dict[str, Any]:
    """bench/peer/llamaindex_ingest.py in its own venv, on exactly the texts Quarry was sent."""
    if not peer_python.exists():
        raise SystemExit(f"{peer_python} is missing: run `make peer-venv` first")
    work = scratch_dir("ingest-peer-")
    documents = work / "documents.jsonl"
    with documents.open("w", encoding="utf-8") as out:
        for doc in corpus:
            out.write(json.dumps({"id": doc["_id"], "text": document_text(doc)}) + "\n")
    log(f"LlamaIndex peer: {len(corpus)} documents with {peer_python}")
    command = [str(peer_python), str(PEER_SCRIPT), "--documents", str(documents)]
    command += ["--batch-size", str(batch_size), "--out", str(work / "peer.json")]
    with (work / "peer.log").open("w", encoding="utf-8") as peer_log:
        done = subprocess.run(
            command, cwd=ROOT, env=bench_environment(), stdout=peer_log, stderr=subprocess.STDOUT
        )
    if done.returncode != 0:
        tail = (work / "peer.log").read_text(encoding="utf-8")[-3000:]
        raise RuntimeError(f"the peer exited with {done.returncode}:\n{tail}")
    peer = json.loads((work / "peer.json").read_text(encoding="utf-8"))
    shutil.rmtree(work)
    log(
        f"peer: {peer['documents']} documents, {peer['chunks']} chunks in {peer['pipeline_seconds']}s"
        f" = {peer['documents_per_s']} documents/s; raw {peer['raw_encoder']['chunks_per_s']} chunks/s,"
        f" pipeline / raw {peer['pipeline_over_raw']}"
    )
    return peer


def compare(runs: list[dict[str, Any]], peer: dict[str, Any]) -> None:
    """Each Quarry run against the peer and the goals, in place."""
    for run in runs:
        over_peer = run["pipeline"]["documents_per_s"] / peer["documents_per_s"]
        run["documents_per_s_over_peer"] = r(over_peer, 3)
        run["goal_met"] = {
            "documents_per_s_over_peer": over_peer >= GOAL_OVER_PEER,
            "efficiency": run["efficiency"] >= GOAL_EFFICIENCY,
        }
        log(
            f"Quarry, {run['label']}: {over_peer:.2f}x the peer's documents/s (goal >= {GOAL_OVER_PEER}),"
            f" efficiency {run['efficiency']} (goal >= {GOAL_EFFICIENCY})"
        )


def main(argv: list[str] | None = None) -> dict[str, Any]:
    from chalicelib.config import Settings

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--docs", type=int, default=DEFAULT_DOCS, help="a seeded subset of the corpus (0: all of it)"
    )
    parser.add_argument(
        "--windows",
        type=int,
        nargs="+",
        default=list(DEFAULT_WINDOWS),
        help="one Quarry run per upload window, each on a fresh stack; 0 = no window",
    )
    parser.add_argument("--sample-docs", type=int, default=0, help="documents for the per-document encode")
    parser.add_argument("--upload-threads", type=int, default=2)
    parser.add_argument(
        "--raw-docs",
        type=int,
        default=None,
        help="measure the raw model on the chunks of this many documents",
    )
    parser.add_argument("--peer-python", type=Path, default=PEER_PYTHON, help="the peer venv's python")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    add_stack_env_argument(parser)
    args = parser.parse_args(argv)
    if any(window < 0 for window in args.windows):
        parser.error("--windows takes sizes >= 0 (0: no window)")
    env = stack_env(args)
    batch_size = Settings.from_env().embed_batch_size
    # A seeded random subset, without the judged documents a quality run would add (as bench.ingest
    # always took it); --docs 0 takes the whole corpus.
    data = scifact(args.docs or None, max_queries=0 if args.docs else None)
    started = time.perf_counter()
    runs = [quarry_run(data.corpus, window or None, args, env, batch_size) for window in args.windows]
    peer = peer_run(data.corpus, batch_size, args.peer_python)
    compare(runs, peer)
    flags = " ".join(sys.argv[1:] if argv is None else argv)
    results = {
        "command": f"python -m bench.ingest {flags}".strip(),
        "documents": len(data.corpus),
        "embed_batch_size": batch_size,
        "runs": runs,
        "peer": peer,
        "goals": {"documents_per_s_over_peer": GOAL_OVER_PEER, "efficiency": GOAL_EFFICIENCY},
        "goal_met": all(all(run["goal_met"].values()) for run in runs),
        "seed": SEED,
        "packages": package_versions("sentence-transformers", "torch", "transformers"),
        "stack_environment": env,
    }
    return publish(results, args.out, started)


if __name__ == "__main__":
    main()
