"""Retrieval quality on SciFact through the whole local pipeline.

Starts the local stack (`python -m devstack up`: moto, the Chalice local server, the SQS poller and
worker; MiniLM embedder, local extractor, SQLite index) on free ports with a fresh QUARRY_HOME, uploads
every abstract as `{_id}.txt` (title, blank line, abstract) with metadata {"corpus_id": _id} through
POST /uploads and the pre-signed POST form, waits until every document is INDEXED, then sends each test query
to POST /search in each mode with k=100. A document's score is its best chunk's (its first appearance
in the ranked chunks); trec_eval (pytrec_eval) scores nDCG@10, Recall@100 and MRR@10.

Writes bench/results/scifact.json ({"ndcg@10": {"vector": ..., "keyword": ..., "hybrid": ...}, ...})
and the per-query runs under build/bench/ for analysis (python -m bench.analyze_quality).

python -m bench.quality [--docs N] [--queries N] [--out FILE] [--env NAME=VALUE ...]
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path
from typing import Any

from bench.common import (
    RESULTS,
    SEED,
    WORK,
    StackProcess,
    add_stack_env_argument,
    log,
    machine,
    package_versions,
    r,
    scifact,
    scratch_dir,
    stack_env,
    write_json,
)
from bench.pipeline import ingest, warm_up

MODES = ("vector", "keyword", "hybrid")
METRICS = ("ndcg@10", "recall@100", "mrr@10")
K = 100
DEFAULT_OUT = RESULTS / "scifact.json"
GOALS = {"vector": 0.645, "keyword": 0.665, "hybrid": 0.70}
# Runs beside the plain one: results grouped by document (k documents rather than the documents among
# k chunks), and a two-clause typed filter every SciFact document passes, which must not move a score.
VARIANTS: dict[str, dict[str, Any]] = {
    "group_by_document": {"group_by": "document", "chunks_per_document": 1},
    "filtered_all_pass": {
        "filter": {
            "andAll": [
                {"startsWith": {"key": "key", "value": "tenants/"}},
                {"notEquals": {"key": "corpus_id", "value": ""}},
            ]
        }
    },
}

# nDCG@10 on SciFact test as published (bench/data/scifact/README.md).
REFERENCES = [
    ("BM25 (BEIR paper, Table 2)", 0.665),
    ("BM25 (bm25s, stemmed, MTEB baseline)", 0.687),
    ("all-MiniLM-L6-v2 (MTEB)", 0.645),
    ("Amazon Titan Text Embeddings V2, 1024-d (vendor-reported)", 0.705),
    ("Cohere embed-english-v3.0 (vendor-reported)", 0.718),
]


def corpus_id_of(hit: dict[str, Any]) -> str:
    corpus_id = (hit.get("metadata") or {}).get("corpus_id")
    if corpus_id:
        return corpus_id
    return Path(hit["source"]["key"]).stem  # uploads/{document_id}/{_id}.txt


def document_ranking(hits: list[dict[str, Any]]) -> list[tuple[str, float]]:
    """Ranked chunks to ranked documents: each document scored by its best (first-ranked) chunk."""
    seen: dict[str, float] = {}
    for hit in hits:
        seen.setdefault(corpus_id_of(hit), hit["score"])
    return list(seen.items())


def run_queries(
    api_url: str, queries: dict[str, str], mode: str, **options: Any
) -> tuple[dict[str, Any], dict[str, float]]:
    from devstack.client import demo_client

    api = demo_client(api_url, timeout_s=120)
    runs: dict[str, Any] = {}
    started = time.perf_counter()
    took = []
    for query_id, text in queries.items():
        answer = api.search(text, mode=mode, k=K, **options)
        took.append(answer["took_ms"])
        # Grouped results are documents, each with its chunks: rank by the documents' best chunks.
        hits = [r["chunks"][0] if "chunks" in r else r for r in answer["results"]]
        runs[query_id] = {
            "documents": document_ranking(hits),
            "chunks": [(h["chunk_id"], corpus_id_of(h), h["score"]) for h in hits],
        }
    elapsed = time.perf_counter() - started
    return runs, {"seconds": r(elapsed, 1), "mean_took_ms": r(sum(took) / max(len(took), 1), 1)}


def score(qrels: dict[str, dict[str, int]], runs: dict[str, Any]) -> dict[str, float]:
    """trec_eval (through pytrec_eval) over the document rankings, averaged over every judged query: a
    query with no results counts as zero. Scores handed to trec_eval are rank-derived (n, n-1, ...),
    so its order is exactly the API's, ties included. trec_eval's reciprocal rank has no cut-off, so
    MRR@10 is scored on each ranking's first ten documents."""
    import pytrec_eval

    ranked_by_rank = {}
    for query_id in qrels:
        ranked = runs.get(query_id, {}).get("documents", [])
        ranked_by_rank[query_id] = {doc: float(len(ranked) - i) for i, (doc, _) in enumerate(ranked)}
    first_ten = {
        q: {d: s for d, s in docs.items() if s > len(docs) - 10} for q, docs in ranked_by_rank.items()
    }
    judged = list(qrels)
    deep = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10", "recall.100"}).evaluate(ranked_by_rank)
    top = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}).evaluate(first_ten)

    def mean(values: dict[str, dict[str, float]], measure: str) -> float:
        return sum(values.get(q, {}).get(measure, 0.0) for q in judged) / len(judged)

    return {
        "ndcg@10": mean(deep, "ndcg_cut_10"),
        "recall@100": mean(deep, "recall_100"),
        "mrr@10": mean(top, "recip_rank"),
    }


def table(results: dict[str, Any]) -> str:
    lines = ["", "SciFact test (nDCG@10 / Recall@100 / MRR@10), Quarry through POST /search:"]
    lines.append(f"  {'mode':<10}{'nDCG@10':>10}{'R@100':>10}{'MRR@10':>10}{'goal':>8}  met")
    for mode in MODES:
        ndcg = results["ndcg@10"][mode]
        goal = GOALS[mode]
        lines.append(
            f"  {mode:<10}{ndcg:>10.4f}{results['recall@100'][mode]:>10.4f}{results['mrr@10'][mode]:>10.4f}"
            f"{goal:>8.3f}  {'yes' if ndcg >= goal else 'NO'}"
        )
    lines.append("Published nDCG@10 (bench/data/scifact/README.md):")
    for name, value in REFERENCES:
        lines.append(f"  {name:<60}{value:>7.3f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--docs", type=int, default=None, help="a seeded subset: this many documents")
    parser.add_argument("--queries", type=int, default=None, help="a seeded subset: this many queries")
    parser.add_argument("--upload-threads", type=int, default=2)
    parser.add_argument(
        "--ingest-out",
        type=Path,
        default=None,
        help="also write the ingest-throughput results (bench.ingest's format) from this run's ingest",
    )
    parser.add_argument(
        "--raw-docs", type=int, default=None, help="with --ingest-out: raw model on N documents"
    )
    parser.add_argument("--sample-docs", type=int, default=200, help="with --ingest-out: per-document sample")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    add_stack_env_argument(parser)
    parser.add_argument(
        "--keep",
        type=lambda value: Path(value) if value else None,
        default=WORK / "scifact-latest",
        help="where to keep the run's index, per-query runs and stack log for analysis ('' for nowhere)",
    )
    args = parser.parse_args(argv)
    env = stack_env(args)
    data = scifact(args.docs, args.queries)
    started = time.perf_counter()
    work = scratch_dir("quality-")
    log(f"SciFact: {len(data.corpus)} documents, {len(data.queries)} queries; scratch {work}")
    with StackProcess(work / "home", env=env, log_path=work / "stack.log") as stack:
        rss_ready = warm_up(stack)
        machine_at_start = machine()
        run = ingest(stack, data.corpus, work / "files", args.upload_threads)
        ingest_summary = run.summary()
        log(
            f"ingested {ingest_summary['indexed']} documents, {ingest_summary['chunks']} chunks in"
            f" {ingest_summary['pipeline_seconds']}s ({ingest_summary['chunks_per_s']} chunks/s)"
        )
        all_runs = {}
        query_timing = {}
        for mode in MODES:
            all_runs[mode], query_timing[mode] = run_queries(stack.api_url, data.queries, mode)
            log(f"{len(data.queries)} {mode} queries in {query_timing[mode]['seconds']}s")
        variant_runs = {
            name: {mode: run_queries(stack.api_url, data.queries, mode, **options)[0] for mode in MODES}
            for name, options in VARIANTS.items()
        }
    per_mode = {mode: score(data.qrels, all_runs[mode]) for mode in MODES}
    results: dict[str, Any] = {
        metric: {mode: r(per_mode[mode][metric], 4) for mode in MODES} for metric in METRICS
    }
    results["variants"] = {
        name: {
            "request": VARIANTS[name],
            **{
                metric: {mode: r(score(data.qrels, runs[mode])[metric], 4) for mode in MODES}
                for metric in METRICS
            },
        }
        for name, runs in variant_runs.items()
    }
    results["goals_ndcg@10"] = GOALS
    results["goals_met"] = {mode: results["ndcg@10"][mode] >= GOALS[mode] for mode in MODES}
    results["references_ndcg@10"] = dict(REFERENCES)
    results["meta"] = {
        "command": "make bench-quality (python -m bench.quality)",
        "documents": len(data.corpus),
        "queries": len(data.queries),
        "k": K,
        "document_score": "best chunk (first appearance in the ranked chunks)",
        "recall_note": f"Recall@100 counts the distinct documents among the top {K} chunks (the API's maximum"
        " k), which can be fewer than 100 documents",
        "stack_environment": env,
        "seed": SEED,
        "ingest": ingest_summary,
        "queries_timing": query_timing,
        "bench_seconds": r(time.perf_counter() - started, 1),
        "packages": package_versions("sentence-transformers", "torch", "pytrec-eval-terrier", "semchunk"),
        "machine": machine(),
        "machine_at_start": machine_at_start,
    }
    write_json(args.out, results)
    write_json(work / "runs.json", {"qrels": data.qrels, "queries": data.queries, "runs": all_runs})
    if args.ingest_out:
        from bench.ingest import ingest_results, stack_precision
        from chalicelib.config import Settings

        command = "python -m bench.quality --ingest-out " + str(args.ingest_out)
        if args.raw_docs is not None:
            command += f" --raw-docs {args.raw_docs}"
        ingest_out = ingest_results(
            {**ingest_summary, "rss_before_ingest_mb": r(rss_ready / 2**20, 0)},
            work / "home",
            Settings.from_env().embed_batch_size,
            args.sample_docs,
            args.raw_docs,
            command,
            stack_precision(env),
        )
        ingest_out["bench_seconds"] = r(time.perf_counter() - started, 1)
        ingest_out["machine"] = machine()
        write_json(args.ingest_out, ingest_out)
    shutil.rmtree(work / "files")
    if args.keep:
        if args.keep.exists():
            shutil.rmtree(args.keep)
        shutil.move(work, args.keep)
    else:
        shutil.rmtree(work)
    print(table(results), flush=True)
    log(f"wrote {args.out}" + (f"; index, per-query runs and logs in {args.keep}" if args.keep else ""))
    return results


if __name__ == "__main__":
    main()
