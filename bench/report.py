"""Render bench/results/*.json into docs/BENCHMARKS.md.

Only the blocks between `<!-- bench:NAME -->` and `<!-- /bench:NAME -->` are rewritten; the prose
around them is edited by hand. A block whose results file is missing says so.

python -m bench.report [--doc docs/BENCHMARKS.md] [--results bench/results]
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import RESULTS, ROOT
from bench.report_format import machine_line, yes
from bench.report_guards import catalog_check, parse
from bench.report_ingest import ingest

DOC = ROOT / "docs" / "BENCHMARKS.md"
MODES = ("vector", "keyword", "hybrid")
# The header of the tables that show one request variant per row and one mode per column.
REQUEST_BY_MODE_HEADER = ("| request | " + " | ".join(MODES) + " |", "|---|" + "---|" * len(MODES))


def quality(d: dict[str, Any]) -> str:
    meta = d["meta"]
    ing = meta["ingest"]
    lines = [
        f"Command: `make bench-quality` ({meta['documents']:,} documents, {meta['queries']} queries,"
        f" k={meta['k']}, document score = best chunk).",
        "",
        "| mode | nDCG@10 | Recall@100 | MRR@10 | goal (nDCG@10) | |",
        "|---|---|---|---|---|---|",
    ]
    for mode in MODES:
        goal = d["goals_ndcg@10"][mode]
        lines.append(
            f"| {mode} | {d['ndcg@10'][mode]:.4f} | {d['recall@100'][mode]:.4f} | {d['mrr@10'][mode]:.4f}"
            f" | ≥ {goal} | {yes(d['ndcg@10'][mode] >= goal)} |"
        )
    variants = d.get("variants") or {}
    if variants:
        # The same index and queries, asked grouped by document and through a filter every document passes.
        lines += [
            "",
            "The same queries with other request fields (nDCG@10 per mode; a filter every document passes"
            " must not move a score):",
            "",
            *REQUEST_BY_MODE_HEADER,
        ]
        for variant in variants.values():
            request = json.dumps(variant["request"], separators=(",", ":"))
            scores = " | ".join(f"{variant['ndcg@10'][m]:.4f}" for m in MODES)
            lines.append(f"| `{request}` | {scores} |")
    lines += [
        "",
        "Published nDCG@10 on the same test split, for comparison:",
        "",
        "| system | nDCG@10 |",
        "|---|---|",
    ]
    lines += [f"| {name} | {value:.3f} |" for name, value in d["references_ndcg@10"].items()]
    env = meta.get("stack_environment") or {}
    settings = ", ".join(f"{k}={v}" for k, v in env.items()) if env else "the local stage's defaults"
    lines += [
        "",
        f"Stack settings: {settings}. Ingest during this run: {ing['indexed']:,} documents INDEXED"
        f" ({ing['failed']} failed), {ing['chunks']:,} chunks ({ing['chunks_per_document']} a document) in"
        f" {ing['pipeline_seconds'] / 60:.1f} min ({ing['chunks_per_s']} chunks/s); the"
        f" {meta['queries']} queries per mode took "
        + ", ".join(f"{m} {meta['queries_timing'][m]['seconds']} s" for m in MODES)
        + ".",
        "",
        machine_line(meta["machine"], meta.get("bench_seconds")),
    ]
    return "\n".join(lines)


def concurrency(d: dict[str, Any]) -> str:
    lines = [
        f"Command: `make bench-ingest` (second part, `python -m bench.concurrency`). Fake bedrock-runtime:"
        f" {d['latency_ms']:.0f} ms a call, one text per call; ideal = pool size / latency.",
        "",
        f"TitanEmbedder alone ({d['texts']} chunk texts in batches of {d['embed_batch_size']},"
        f" as IngestService sends them; median of {d['runs']} runs):",
        "",
        "| pool size | ideal chunks/s | measured chunks/s | fraction of ideal | goal ≥ 0.8 |",
        "|---|---|---|---|---|",
    ]
    for row in d["embedder"]:
        lines.append(
            f"| {row['pool_size']} | {row['ideal_chunks_per_s']:.0f} | {row['chunks_per_s']} |"
            f" {row['fraction_of_ideal']:.2f} |"
            f" {yes(row['fraction_of_ideal'] >= d['goal_fraction_of_ideal'])} |"
        )
    if d.get("worker"):
        w0 = d["worker"][0]
        lines += [
            "",
            f"The whole worker with that embedder (S3 → EventBridge → SQS on moto → poller → `handle_batch` →"
            f" IngestService → SQLite; no-op extractor), {w0['documents']} SciFact documents,"
            f" {w0['chunks_per_document']} chunks each:",
            "",
            "| records at once | pool size | ideal chunks/s | measured chunks/s | documents/s"
            " | fraction of ideal | goal ≥ 0.8 |",
            "|---|---|---|---|---|---|---|",
        ]
        for row in d["worker"]:
            lines.append(
                f"| {row.get('record_concurrency', 1)} | {row['pool_size']} |"
                f" {row['ideal_chunks_per_s']:.0f} | {row['chunks_per_s']} | {row['documents_per_s']} |"
                f" {row['fraction_of_ideal']:.2f} |"
                f" {yes(row['fraction_of_ideal'] >= d['goal_fraction_of_ideal'])} |"
            )
        ceiling = d.get("worker_ceiling")
        if ceiling:
            lines += [
                "",
                f"The same worker with a provider that answers at once ({ceiling['record_concurrency']}"
                f" records at once, pool {ceiling['pool_size']}): **{ceiling['chunks_per_s']} chunks/s**"
                f" ({ceiling['documents_per_s']} documents/s), the most this worker reaches on this machine"
                " whatever the provider's latency.",
            ]
    lines += ["", machine_line(d["machine"], d.get("bench_seconds"))]
    return "\n".join(lines)


def search(d: dict[str, Any]) -> str:
    lines = [
        f"Command: `make bench-search`. {d['queries']} SciFact test queries × {d['passes']} passes per mode"
        f" and size, k={d['k']}, one request at a time over HTTP (a new connection each, as urllib does);"
        f" percentiles per pass, median over passes. Store: {d['store']['texts']}; {d['store']['vectors']}.",
        "",
        "| chunks | mode | p50 | p95 | p99 | p50 excl. embedding | **p95 excl. embedding**"
        " | p99 excl. embedding | query embedding p50 / p95 | stack RSS |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in d["sizes"]:
        for mode in MODES:
            m = row["modes"][mode]
            embed = (
                f"{m['embed_query_p50_ms']} / {m['embed_query_p95_ms']}" if mode != "keyword" else "— (none)"
            )
            lines.append(
                f"| {row['chunks']:,} | {mode} | {m['p50_ms']} | {m['p95_ms']} | {m['p99_ms']} |"
                f" {m['p50_excluding_embedding_ms']} | **{m['p95_excluding_embedding_ms']}** |"
                f" {m['p99_excluding_embedding_ms']} | {embed} | {row['stack_rss_mb']:.0f} MB |"
            )
    largest = d["sizes"][-1]
    met = d["goal_met_at_largest"]
    goal = d["goal_p95_excluding_embedding_ms"]
    variants = largest.get("variants") or {}
    if variants:
        # The goal holds for a two-clause filter and for group_by too, not only the plain search.
        lines += [
            "",
            f"The same queries at {largest['chunks']:,} chunks with a two-clause filter and grouped by"
            " document (p95 excluding the query embedding, ms):",
            "",
            *REQUEST_BY_MODE_HEADER,
        ]
        for name, modes in variants.items():
            p95 = {m: modes[m]["p95_excluding_embedding_ms"] for m in MODES}
            cells = " | ".join(f"{p95[m]} ({yes(p95[m] < goal)})" for m in MODES)
            lines.append(f"| {name} | {cells} |")
    env = d.get("stack_environment") or {}
    lines += [
        "",
        f"All times in ms. Goal: p95 < {goal} ms excluding the query"
        f" embedding at {largest['chunks']:,} chunks: "
        + ", ".join(f"{mode} {yes(met[mode])}" for mode in MODES)
        + "."
        + (f" Stack settings: {', '.join(f'{k}={v}' for k, v in env.items())}." if env else ""),
        "",
        "![search latency against store size](bench-search-latency.png)",
        "",
        machine_line(d["machine"], d.get("bench_seconds")),
    ]
    return "\n".join(lines)


def cold(d: dict[str, Any]) -> str:
    c = d["cold_start"]
    profile = c.get("import_profile") or {}
    lines = [
        "Command: `make bench-cold` (`python -m bench.cold`). A fresh interpreter per run, environment ="
        " the `prod` stage's variables from .chalice/config.json (Titan, Bedrock, OpenSearch),"
        " no credentials.",
        "",
        "| figure | value |",
        "|---|---|",
        f"| `import app`, median of {c['runs']} runs (bytecode cached) | **{c['import_app_ms']} ms**"
        f" (goal < {c['goal_ms']} ms: {yes(c['import_app_ms'] < c['goal_ms'])}); runs:"
        f" {', '.join(str(x) for x in c['import_app_runs_ms'])} |",
        f"| CPU time of `import app` (user + system), median of the same runs |"
        f" {c.get('import_app_cpu_ms', '—')} ms |",
        f"| whole process (interpreter start → exit), same runs | {c['process_ms']} ms |",
        "| `import app` with an empty bytecode cache (a package without .pyc) |"
        f" {c['import_app_no_bytecode_ms']} ms |",
        f"| modules loaded by `import app` | {c['modules_loaded']} |",
        "| heavy modules loaded (torch, sentence_transformers, transformers, numpy, opensearchpy,"
        " yake_rust, moto) |"
        f" {', '.join(c['heavy_modules_loaded']) or 'none'} |",
        f"| outbound connections or DNS lookups during import | {len(c['socket_attempts']) or 'none'} |",
    ]
    if profile:
        direct = ", ".join(f"{k} {v}" for k, v in profile["direct_imports_ms"].items())
        packages = ", ".join(f"{k} {v}" for k, v in list(profile["self_time_by_package_ms"].items())[:8])
        lines += [
            f"| `-X importtime`: app's direct imports, cumulative ms | {direct} |",
            f"| `-X importtime`: self time by package, ms | {packages} |",
        ]
    package = d.get("package") or {}
    if "mb" in package:
        largest = ", ".join(f"{k} {v}" for k, v in list(package["largest_entries_mb"].items())[:8])
        lines += [
            f"| deployment.zip ({package['how']}) | **{package['mb']} MB** (goal < {package['goal_mb']} MB:"
            f" {yes(package['mb'] < package['goal_mb'])}); {package['files']:,} files,"
            f" {package['uncompressed_mb']} MB unpacked |",
            f"| largest entries in the zip, MB compressed | {largest} |",
        ]
    else:
        reason = package.get("error", package.get("how", "not measured"))
        lines.append(
            f"| deployment.zip | pending: {reason.strip().splitlines()[-1] if reason else 'not measured'} |"
        )
    lines += ["", machine_line(d["machine"], d.get("bench_seconds"))]
    return "\n".join(lines)


def auth(d: dict[str, Any]) -> str:
    v, h = d["verification"], d["search_http"]
    body = d["search_body"]
    lines = [
        "Command: `make bench-auth` (`python -m bench.auth`): an ID token from moto's Cognito; POST /search"
        f" ({body['mode']}, k={body['k']}, 300 chunks, hashing embedder) over HTTP through Chalice's local"
        " server, the three configurations taken in turns request by request.",
        "",
        "| what | p50 | p95 | n |",
        "|---|---|---|---|",
        f"| token check, key set cached (a warm API function) | {v['cached_jwks']['p50_ms']} ms |"
        f" {v['cached_jwks']['p95_ms']} ms | {v['cached_jwks']['n']} |",
        f"| token check with the key set fetched first (a cold start) | {v['uncached_jwks']['p50_ms']} ms |"
        f" {v['uncached_jwks']['p95_ms']} ms | {v['uncached_jwks']['n']} |",
    ]
    labels = {
        "no_check": "POST /search, no token check (a verifier that accepts anyone)",
        "token_check": "POST /search with the token check",
        "token_check_and_rate_limit": "POST /search with the token check and the per-tenant limit",
    }
    for name, label in labels.items():
        row = h[name]
        added = f" (+{row['p50_added_ms']} ms)" if "p50_added_ms" in row else ""
        lines.append(f"| {label} | {row['p50_ms']} ms{added} | {row['p95_ms']} ms | {row['n']} |")
    lines += ["", machine_line(d["machine"], d.get("bench_seconds"))]
    return "\n".join(lines)


BLOCKS: dict[str, tuple[str, Callable[[dict[str, Any]], str]]] = {
    "quality": ("scifact.json", quality),
    "ingest": ("ingest.json", ingest),
    "concurrency": ("concurrency.json", concurrency),
    "search": ("search.json", search),
    "cold": ("cold.json", cold),
    "auth": ("auth.json", auth),
    "catalog_check": ("catalog_check.json", catalog_check),
    "parse": ("parse.json", parse),
}


def render(text: str, results: Path) -> str:
    for name, (filename, renderer) in BLOCKS.items():
        path = results / filename
        body = (
            renderer(json.loads(path.read_text()))
            if path.exists()
            else "_Not measured yet: run the command._"
        )
        pattern = re.compile(rf"(<!-- bench:{name} -->\n)(?:.*?\n)?(<!-- /bench:{name} -->)", re.S)
        if not pattern.search(text):
            raise SystemExit(f"{DOC} has no <!-- bench:{name} --> block")
        text = pattern.sub(lambda match, body=body: match.group(1) + body + "\n" + match.group(2), text)
    return text


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--doc", type=Path, default=DOC)
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    args.doc.write_text(render(args.doc.read_text(encoding="utf-8"), args.results), encoding="utf-8")
    print(f"rendered {args.doc} from {args.results}")


if __name__ == "__main__":
    main()
