"""bench/cost.py through the real local stack (tiny), and bench/cost_model.py's arithmetic."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.cost_model import PRICES, PerDocument, monthly_cost, scaled
from tests.bench.test_bench_smoke import run_bench


@pytest.mark.slow
def test_cost_inputs_are_measured_through_the_stack_and_the_ledger_agrees(tmp_path: Path) -> None:
    out = tmp_path / "cost.json"
    run_bench("bench.cost", "--docs", "6", "--out", str(out))
    results = json.loads(out.read_text())
    assert results["indexed"] == 6 and results["ledger_equals_sum_of_documents"] is True
    per = results["per_document"]
    assert per["minilm_tokens"]["mean"] > 0 and per["chunks"]["mean"] >= 1
    # The Claude estimate covers the request's fixed part (system prompt, tool schema) beyond the text.
    assert per["claude_input_tokens_est"]["mean"] > per["text_chars"]["mean"] / 4
    assert results["ledger_report"]["documents"] == {"INDEXED": 6}


DOC = PerDocument(
    claude_input_tokens=1000,
    claude_output_tokens=200,
    titan_input_tokens=400,
    worker_seconds=3.0,
    source_bytes=1500,
    chunks=4,
)


def test_each_line_is_quantity_times_price_and_the_total_is_their_sum() -> None:
    lines = monthly_cost(DOC, 100_000, aoss_ocus=2)
    by_name = {name: usd for name, _, usd in lines}
    claude = (
        1000 / 1000 * PRICES["claude_haiku_input_per_1k"] + 200 / 1000 * PRICES["claude_haiku_output_per_1k"]
    )
    assert by_name["Bedrock Claude 3.5 Haiku (extraction)"] == pytest.approx(100_000 * claude)
    assert by_name["Bedrock Titan V2 (embeddings)"] == pytest.approx(
        100_000 * 0.4 * PRICES["titan_v2_input_per_1k"]
    )
    assert by_name["OpenSearch Serverless"] >= 2 * 730 * PRICES["aoss_ocu_hour"]
    assert by_name["Total"] == pytest.approx(sum(usd for name, _, usd in lines if name != "Total"))


def largest_line(documents: int) -> str:
    lines = [line for line in monthly_cost(DOC, documents) if line[0] != "Total"]
    return max(lines, key=lambda line: line[2])[0]


def test_the_ocu_floor_dominates_a_small_deployment_and_tokens_a_large_one() -> None:
    assert largest_line(1000) == "OpenSearch Serverless"
    assert largest_line(10_000_000) == "Bedrock Claude 3.5 Haiku (extraction)"


def test_a_bigger_document_embeds_more_but_claude_reads_at_most_its_budget() -> None:
    big = scaled(DOC, measured_chars=1500, text_chars=150_000, prompt_overhead_tokens=600)
    assert big.titan_input_tokens == pytest.approx(400 * 100) and big.chunks == pytest.approx(400)
    assert big.claude_input_tokens == 600 + 8000
