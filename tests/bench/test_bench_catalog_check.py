"""A tiny run of bench.catalog_check: both configurations measured for every mode and k, and the
check's figures are those of a real catalog read (one BatchGetItem a search, k results)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.bench.test_bench_smoke import MODES, is_number, run_bench


def test_catalog_check_cost_with_and_without(tmp_path: Path):
    out = tmp_path / "catalog_check.json"
    run_bench("bench.catalog_check", "--documents", "60", "--queries", "4", "--out", str(out))
    results = json.loads(out.read_text())
    rows = {(row["mode"], row["k"]): row for row in results["rows"]}
    assert set(rows) == {(mode, k) for mode in MODES for k in (10, 100)}
    for (mode, k), row in rows.items():
        assert row["searches"] == 4
        for name in ("with_check", "without_check"):
            assert row[name]["p50_ms"] <= row[name]["p95_ms"] <= row[name]["p99_ms"]
        assert is_number(row["added_p50_ms"]) and row["catalog_check_p50_ms"] > 0
        # 60 documents of 4 chunks: every search fills k (or takes the whole store) from INDEXED ones.
        if mode == "keyword":
            # BM25 finds only the chunks holding a query word: fewer than k, never none, never a stray.
            assert 1 <= row["results_per_search"] <= min(k, 240)
        else:
            assert row["results_per_search"] == min(k, 240)
        assert row["batch_get_calls_per_search"] >= 1
        assert 1 <= row["documents_checked_per_search"] <= 60
