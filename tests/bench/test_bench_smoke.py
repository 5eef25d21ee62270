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
from bench.ingest import PEER_SCRIPT

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


def test_ingest_beside_the_peer_with_and_without_the_window(tmp_path: Path):
    """Quarry with an upload window and with none, each on its own stack, then the LlamaIndex peer from
    .venv-peer on the same documents; every pipeline against its raw encoder on its own chunks."""
    from bench.report_ingest import ingest

    out = tmp_path / "ingest.json"
    run_bench(
        "bench.ingest",
        "--docs",
        "10",
        "--windows",
        "4",
        "0",
        "--sample-docs",
        "5",
        "--env",
        "QUARRY_RECORD_CONCURRENCY=2",
        "--out",
        str(out),
    )
    results = json.loads(out.read_text())
    assert results["stack_environment"] == {"QUARRY_RECORD_CONCURRENCY": "2"}
    assert results["documents"] == 10
    assert [(run["window"], run["label"]) for run in results["runs"]] == [
        (4, "window 4"),
        (None, "no window"),
    ]
    peer = results["peer"]
    for run in results["runs"]:
        pipeline, raw = run["pipeline"], run["raw_model"]
        assert pipeline["indexed"] == 10 and pipeline["failed"] == 0
        assert pipeline["chunks"] == raw["chunks"]  # the raw model encodes exactly the indexed chunks
        for value in (
            pipeline["chunks_per_s"],
            pipeline["documents_per_s"],
            raw["chunks_per_s"],
            run["efficiency"],
        ):
            assert is_number(value) and value > 0
        assert run["documents_per_s_over_peer"] == pytest.approx(
            pipeline["documents_per_s"] / peer["documents_per_s"], rel=0.01
        )
        assert set(run["goal_met"]) == {"documents_per_s_over_peer", "efficiency"}
        assert pipeline["peak_rss_mb"] > 0
        assert set(pipeline["stage_seconds"]) >= {"parse", "chunk", "extract", "embed", "index"}
        assert raw["per_document_sample"]["documents"] == 5
        assert raw["precision"] in ("bfloat16", "float32")
        cpu = pipeline["cpu"]
        assert all(
            cpu["core_seconds"][role] > 0 for role in ("API, pollers and worker", "moto", "model process")
        )
        # Busy, idle and steal together are all the cores' time, to the kernel's tick.
        assert 0.85 <= sum(cpu["share"][name] for name in cpu["share"]) <= 1.15
    assert peer["documents"] == 10 and peer["chunks"] >= 10
    assert peer["raw_encoder"]["chunks"] == peer["chunks"]  # its raw encoder on exactly its chunks
    assert is_number(peer["documents_per_s"]) and peer["documents_per_s"] > 0
    assert peer["pipeline_over_raw"] > 0
    assert peer["network_attempts"] == [] and peer["quarry_modules_imported"] == []
    assert peer["python"].endswith(".venv-peer/bin/python")
    assert peer["packages"]["llama-index-core"].startswith("0.14.")
    assert results["goal_met"] == all(all(run["goal_met"].values()) for run in results["runs"])
    block = ingest(results)  # docs/BENCHMARKS.md's block, from this run's results
    for row in ("| Quarry, window 4 |", "| Quarry, no window |", "| LlamaIndex `IngestionPipeline` |"):
        assert row in block
    assert "| embed |" in block and "| sum (worker busy) |" in block
    assert "| moto |" in block and "| idle |" in block


def test_peer_splits_in_the_models_word_pieces(tmp_path: Path):
    """The peer alone, in .venv-peer: its chunks are pieces of the documents it was given, each within
    200 of the model's own word pieces, made offline (LlamaIndex's default tokenizer, tiktoken, would
    have to download its encoding: the peer refuses that and fails)."""
    from transformers import AutoTokenizer

    from bench.common import document_text, scifact
    from chalicelib.adapters.local_embedders import bundled_minilm_path

    corpus = scifact(5, max_queries=0).corpus
    texts = {doc["_id"]: document_text(doc) for doc in corpus}
    documents, chunks_out, out = (
        tmp_path / "documents.jsonl",
        tmp_path / "chunks.jsonl",
        tmp_path / "peer.json",
    )
    documents.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in texts.items()))
    done = subprocess.run(
        [str(ROOT / ".venv-peer" / "bin" / "python"), str(PEER_SCRIPT), "--documents", str(documents),
         "--out", str(out), "--chunks-out", str(chunks_out)],
        cwd=ROOT, env={"PATH": os.environ["PATH"]}, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    results = json.loads(out.read_text())
    chunks = [json.loads(line) for line in chunks_out.read_text().splitlines()]
    assert results["documents"] == 5 and results["chunks"] == len(chunks)
    assert results["network_attempts"] == [] and results["quarry_modules_imported"] == []
    assert {chunk["document_id"] for chunk in chunks} == set(texts)
    tokenizer = AutoTokenizer.from_pretrained(str(bundled_minilm_path()))
    pieces = [len(tokenizer.encode(chunk["text"], add_special_tokens=False)) for chunk in chunks]
    assert max(pieces) <= 200
    assert len(chunks) > len(texts)  # the budget cuts some abstracts in several chunks
    for chunk in chunks:
        assert chunk["text"] in texts[chunk["document_id"]]


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
    # Without its two moto-bound DynamoDB calls unless --env says otherwise (bench.search DEFAULT_STACK_ENV).
    assert results["stack_environment"] == {
        "QUARRY_SEARCH_CATALOG_CHECK": "false",
        "QUARRY_SEARCHES_PER_MINUTE": "0",
    }
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
