"""Tiny runs of every benchmark: each script runs end to end and writes well-formed results.

No timing is asserted here (the machine running the tests may be busy); the figures themselves are
published in docs/BENCHMARKS.md by `make bench`. The quality and ingest runs go through the real local
stack, so they load the MiniLM model.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.common import ROOT

pytestmark = pytest.mark.slow

MODES = ("vector", "keyword", "hybrid")


def run_bench(module: str, *args: str, timeout_s: int = 540) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )
    assert done.returncode == 0, f"{module} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def test_quality_through_the_real_stack(tmp_path: Path):
    out = tmp_path / "scifact.json"
    done = run_bench("bench.quality", "--docs", "30", "--queries", "5", "--out", str(out), "--keep", "")
    results = json.loads(out.read_text())
    for metric in ("ndcg@10", "recall@100", "mrr@10"):
        assert set(results[metric]) == set(MODES)
        assert all(0.0 <= results[metric][mode] <= 1.0 for mode in MODES)
    meta = results["meta"]
    assert meta["documents"] == 30 and meta["queries"] == 5
    assert meta["ingest"]["indexed"] == 30 and meta["ingest"]["failed"] == 0
    assert meta["ingest"]["chunks"] >= 30
    assert "all-MiniLM-L6-v2 (MTEB)" in done.stdout  # the table beside the published references
    # A filter every document passes leaves every score as it was; grouping gives scores too.
    for metric in ("ndcg@10", "recall@100", "mrr@10"):
        assert results["variants"]["filtered_all_pass"][metric] == results[metric]
        assert all(0.0 <= results["variants"]["group_by_document"][metric][mode] <= 1.0 for mode in MODES)


def test_ingest_throughput_and_raw_model(tmp_path: Path):
    out = tmp_path / "ingest.json"
    run_bench(
        "bench.ingest",
        "--docs",
        "20",
        "--sample-docs",
        "5",
        "--env",
        "QUARRY_RECORD_CONCURRENCY=2",
        "--out",
        str(out),
    )
    results = json.loads(out.read_text())
    assert results["stack_environment"] == {"QUARRY_RECORD_CONCURRENCY": "2"}
    pipeline, raw = results["pipeline"], results["raw_model"]
    assert pipeline["indexed"] == 20
    assert pipeline["chunks"] == raw["chunks"]  # the raw model encodes exactly the indexed chunks
    for value in (
        pipeline["chunks_per_s"],
        pipeline["documents_per_s"],
        raw["chunks_per_s"],
        results["efficiency"],
    ):
        assert is_number(value) and value > 0
    assert pipeline["peak_rss_mb"] > 0
    assert set(pipeline["stage_seconds"]) >= {"parse", "chunk", "extract", "embed", "index"}


def test_provider_concurrency(tmp_path: Path):
    out = tmp_path / "concurrency.json"
    run_bench(
        "bench.concurrency",
        "--latency-ms",
        "10",
        "--pools",
        "2",
        "4",
        "--records",
        "1",
        "3",
        "--texts",
        "32",
        "--docs",
        "5",
        "--runs",
        "1",
        "--out",
        str(out),
    )
    results = json.loads(out.read_text())
    assert [row["pool_size"] for row in results["embedder"]] == [2, 4]
    assert [(row["record_concurrency"], row["pool_size"]) for row in results["worker"]] == [
        (1, 2),
        (1, 4),
        (3, 2),
        (3, 4),
    ]
    for row in results["embedder"] + results["worker"]:
        assert row["ideal_chunks_per_s"] == pytest.approx(row["pool_size"] / 0.010)
        assert is_number(row["chunks_per_s"]) and row["chunks_per_s"] > 0
    assert all(row["documents"] == 5 and row["chunks"] >= 5 for row in results["worker"])
    ceiling = results["worker_ceiling"]
    assert (ceiling["record_concurrency"], ceiling["pool_size"]) == (3, 4) and ceiling["chunks_per_s"] > 0


def test_search_latency_over_http(tmp_path: Path):
    out, plot = tmp_path / "search.json", tmp_path / "latency.png"
    run_bench(
        "bench.search",
        "--sizes",
        "500",
        "--passes",
        "1",
        "--queries",
        "5",
        "--out",
        str(out),
        "--plot",
        str(plot),
    )
    results = json.loads(out.read_text())
    (size,) = results["sizes"]
    assert size["chunks"] == 500
    for mode in MODES:
        row = size["modes"][mode]
        assert row["requests"] == 5
        assert row["p50_ms"] <= row["p95_ms"] <= row["p99_ms"]
        assert row["p95_excluding_embedding_ms"] <= row["p95_ms"]
    assert size["modes"]["vector"]["embed_query_p50_ms"] > 0
    for variant in ("filtered", "grouped"):
        for mode in MODES:
            assert size["variants"][variant][mode]["requests"] == 5
    assert plot.stat().st_size > 0


def test_cold_start_imports_nothing_heavy_and_opens_no_socket(tmp_path: Path):
    """Importing app.py under the prod stage's configuration loads no model stack, no NumPy and no
    OpenSearch client, and opens no connection (the child refuses and records every attempt)."""
    out = tmp_path / "cold.json"
    run_bench("bench.cold", "--runs", "1", "--no-package", "--out", str(out))
    cold = json.loads(out.read_text())["cold_start"]
    assert cold["heavy_modules_loaded"] == []
    assert cold["socket_attempts"] == []
    assert "chalicelib" in cold["top_level_packages"]
    for module in ("torch", "sentence_transformers", "numpy", "opensearchpy"):
        assert module not in cold["top_level_packages"]
    assert is_number(cold["import_app_ms"]) and cold["import_app_ms"] > 0


def test_report_renders_every_block(tmp_path: Path):
    from bench.report import BLOCKS, DOC, render

    text = DOC.read_text(encoding="utf-8")
    rendered = render(text, ROOT / "bench" / "results")
    for name in BLOCKS:
        assert f"<!-- bench:{name} -->" in rendered and f"<!-- /bench:{name} -->" in rendered


def test_auth_cost(tmp_path: Path):
    out = tmp_path / "auth.json"
    run_bench("bench.auth", "--requests", "5", "--verifies", "20", "--uncached", "3", "--out", str(out))
    results = json.loads(out.read_text())
    for case in ("cached_jwks", "uncached_jwks"):
        assert is_number(results["verification"][case]["p50_ms"])
    http = results["search_http"]
    assert set(http) == {"no_check", "token_check", "token_check_and_rate_limit"}
    assert all(http[name]["n"] == 5 for name in http)
    assert is_number(http["token_check"]["p50_added_ms"])


def test_parser_child_cost(tmp_path: Path):
    out = tmp_path / "parse.json"
    run_bench(
        "bench.parse_child", "--abstracts", "5", "--docs", "5", "--rounds", "1",
        "--embedders", "hashing", "--runs", "1", "--out", str(out),
    )  # fmt: skip
    results = json.loads(out.read_text())
    assert is_number(results["start_up"]["first_document_ms"])
    assert set(results["per_document"]) == {"corpus", "scifact"}
    assert results["per_document"]["scifact"]["documents"] == 5
    assert {row["isolation"] for row in results["ingest"]} == {"inline", "process"}
    assert set(results["ingest_summary"]) == {"hashing"}
    # The memory bomb is parsed inline and refused in the child.
    assert results["bomb"]["inline"]["outcome"].startswith("parsed")
    assert results["bomb"]["process"]["outcome"] == "TOO_COMPLEX"
