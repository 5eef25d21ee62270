"""docs/BENCHMARKS.md's ingest block from results built here (bench/results/ingest.json is the lead's
real run, never a test's): Quarry's runs beside the peer, with each goal's verdict in its own cell."""

from __future__ import annotations

import json
from pathlib import Path

from bench.report import render
from bench.report_ingest import ingest

MACHINE = {
    "date": "2026-12-02 12:00 UTC",
    "nproc": 2,
    "cpu": "AMD EPYC",
    "memory_gib": 23.5,
    "python": "3.11.7",
    "platform": "Linux",
    "load_average_1m": 0.1,
    "git": "abc1234",
}
STAGES = ("fetch", "parse", "chunk", "extract", "embed", "index", "record")


def quarry_run(window: int | None, documents_per_s: float, efficiency: float, over_peer: float) -> dict:
    seconds = 1500 / documents_per_s
    stage_seconds = dict.fromkeys(STAGES, 10.0) | {"embed": 60.0}
    return {
        "window": window,
        "label": f"window {window}" if window else "no window",
        "pipeline": {
            "documents": 1500,
            "indexed": 1500,
            "failed": 0,
            "chunks": 3700,
            "chunks_per_document": 2.47,
            "chunk_characters_mean": 640.2,
            "upload_seconds": round(seconds - 2, 1),
            "pipeline_seconds": round(seconds, 1),
            "chunks_per_s": round(3700 / seconds, 2),
            "documents_per_s": documents_per_s,
            "worker_busy_seconds": 120.0,
            "stage_seconds": stage_seconds,
            "stage_share_of_pipeline": {s: round(v / seconds, 3) for s, v in stage_seconds.items()},
            "peak_rss_mb": 1200.0,
            "rss_before_ingest_mb": 620.0,
            "cpu": {
                "seconds": round(seconds, 1),
                "cores": 2,
                "core_seconds": {"moto": 30.0, "API, pollers and worker": 2 * seconds - 40, "idle": 10.0},
                "share": {"moto": 0.1, "API, pollers and worker": 0.8, "idle": 0.1},
            },
        },
        "raw_model": {
            "chunks": 3700,
            "batch_size": 32,
            "seconds": 90.0,
            "chunks_per_s": 41.1,
            "torch_threads": 2,
            "precision": "bfloat16",
        },
        "efficiency": efficiency,
        "documents_per_s_over_peer": over_peer,
        "goal_met": {"documents_per_s_over_peer": over_peer >= 1.3, "efficiency": efficiency >= 0.9},
    }


def results() -> dict:
    return {
        "command": "python -m bench.ingest",
        "documents": 1500,
        "embed_batch_size": 32,
        "runs": [quarry_run(48, 16.1, 0.93, 1.32), quarry_run(None, 9.5, 0.61, 0.78)],
        "peer": {
            "documents": 1500,
            "chunks": 3736,
            "chunks_per_document": 2.49,
            "chunk_characters_mean": 655.0,
            "pipeline_seconds": 123.3,
            "documents_per_s": 12.17,
            "chunks_per_s": 30.3,
            "raw_encoder": {"chunks": 3736, "chunks_per_s": 38.3, "torch_threads": 2},
            "pipeline_over_raw": 0.791,
            "settings": {"splitter": "SentenceSplitter(chunk_size=200, chunk_overlap=40)"},
            "packages": {"llama-index-core": "0.14.25", "torch": "2.13.0+cpu"},
            "network_attempts": [],
        },
        "goals": {"documents_per_s_over_peer": 1.3, "efficiency": 0.9},
        "goal_met": False,
        "machine": MACHINE,
        "bench_seconds": 900.0,
    }


def row(block: str, start: str) -> str:
    (line,) = [line for line in block.splitlines() if line.startswith(start)]
    return line


def test_each_quarry_run_beside_the_peer_with_its_verdicts():
    block = ingest(results())
    windowed = row(block, "| Quarry, window 48 |")
    assert (
        "**16.1**" in windowed
        and "1.32× **met**" in windowed
        and "0.93 (raw 41.1 chunks/s) **met**" in windowed
    )
    unwindowed = row(block, "| Quarry, no window |")
    assert "0.78× **not met**" in unwindowed and "0.61 (raw 41.1 chunks/s) **not met**" in unwindowed
    peer = row(block, "| LlamaIndex `IngestionPipeline` |")
    assert "**12.17**" in peer and "3,736 (2.49 a document, 655 characters)" in peer and "0.79" in peer
    assert row(block, "| embed |") == "| embed | 60.0 | 64.4% | 60.0 | 38.0% |"
    assert (
        row(block, "| documents INDEXED (failed) |")
        == "| documents INDEXED (failed) | 1,500 (0) | 1,500 (0) |"
    )
    assert "LlamaIndex 0.14.25's `IngestionPipeline`" in block
    assert row(block, "| raw encoder on its chunks |").endswith("2 torch threads, bfloat16 |")
    assert row(block, "| moto |") == "| moto | 30.0 | 10.0% | 30.0 | 10.0% |"
    assert row(block, "| idle |") == "| idle | 10.0 | 10.0% | 10.0 | 10.0% |"
    assert block.splitlines()[-1].startswith("Measured 2026-12-02 12:00 UTC on 2 cores")


def test_a_single_run_file_still_renders(tmp_path: Path):
    """bench.quality --ingest-out writes one Quarry run with no peer: the block says so."""
    single = results()["runs"][0]
    single |= {"command": "python -m bench.quality --ingest-out x", "goal_efficiency": 0.9, "goal_met": False}
    single |= {"machine": MACHINE}
    block = ingest(single)
    assert "one run, no peer beside it" in block and "**0.930**" in block


def test_render_writes_the_block_between_its_markers(tmp_path: Path):
    (tmp_path / "ingest.json").write_text(json.dumps(results()))
    doc = "# x\n<!-- bench:ingest -->\nSTALE BLOCK\n<!-- /bench:ingest -->\n" + "".join(
        f"<!-- bench:{name} -->\n<!-- /bench:{name} -->\n"
        for name in ("quality", "concurrency", "search", "cold", "auth", "catalog_check", "parse")
    )
    rendered = render(doc, tmp_path)
    assert "STALE BLOCK" not in rendered and "| Quarry, no window |" in rendered
    assert rendered.count("_Not measured yet: run the command._") == 7
