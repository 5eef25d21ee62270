"""docs/COST.md's cost model: a month of N documents, from per-document usage (bench/cost.py measures it).

Prices are AWS list prices for us-east-1 as published on each service's pricing page (mid-2025 figures,
not re-checked from this offline build machine;
check them before budgeting: they change and other regions differ). Every line is
`quantity × unit price`; `monthly_cost` returns the lines so the document can show its arithmetic.

python -m bench.cost_model [--docs-per-month 100000] [--results bench/results/cost.json]
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

from bench.common import RESULTS

HOURS_PER_MONTH = 730

PRICES = {
    "claude_haiku_input_per_1k": 0.0008,  # Claude 3.5 Haiku on Bedrock, on demand
    "claude_haiku_output_per_1k": 0.004,
    "titan_v2_input_per_1k": 0.00002,  # Titan Text Embeddings V2
    "lambda_gb_s": 0.0000166667,  # x86
    "lambda_request": 0.20 / 1e6,
    "api_gateway_rest_request": 3.50 / 1e6,
    "sqs_request": 0.40 / 1e6,  # standard queue, per 64 KB chunk
    "dynamodb_write_unit": 0.625 / 1e6,  # on demand
    "dynamodb_read_unit": 0.125 / 1e6,
    "dynamodb_gb_month": 0.25,
    "s3_put": 0.005 / 1000,
    "s3_get": 0.0004 / 1000,
    "s3_gb_month": 0.023,
    "aoss_ocu_hour": 0.24,
    "aoss_gb_month": 0.024,
    "cloudwatch_metric_month": 0.30,
    "cloudwatch_dashboard_month": 3.00,
    "cloudwatch_alarm_month": 0.10,
    "cloudwatch_logs_ingest_gb": 0.50,
}


@dataclass(frozen=True)
class PerDocument:
    """What one document costs in each unit, measured or stated."""

    claude_input_tokens: float
    claude_output_tokens: float
    titan_input_tokens: float
    worker_seconds: float  # billed duration of the worker per document (records overlap: see COST.md)
    source_bytes: float
    chunks: float
    # Requests per document, from the code's path (COST.md lists them).
    s3_puts: float = 2  # the upload (pre-signed POST) and the processed JSON
    s3_gets: float = 1  # the worker's fetch
    # EventBridge's SendMessage, the sweep OpenSearch needs after each INDEXED document (chalicelib/
    # lifecycle.py), and a tenth each of ReceiveMessage and DeleteMessageBatch for each of the two.
    sqs_requests: float = 2.4
    # PENDING, claim, INDEXED (3-4 KB with its extraction and ledger entry), a tenth of its tenant's day
    # total (one update per batch of ten)
    dynamodb_write_units: float = 7
    dynamodb_read_units: float = 2  # the worker's consistent get, the claim's condition
    api_requests: float = 2  # POST /uploads and one GET /documents/{id}
    log_bytes: float = 4000  # the worker's JSON log lines and EMF lines for the document
    vector_bytes_per_chunk: float = 1024 * 4 + 1500  # 1,024 float32s, the chunk's text and fields


def monthly_cost(
    doc: PerDocument,
    documents: int,
    *,
    worker_memory_gb: float = 1.0,
    aoss_ocus: float = 2.0,
    custom_metrics: int = 45,
    alarms: int = 8,
    months_stored: int = 1,
) -> list[tuple[str, str, float]]:
    """(line, quantity with its unit price, USD) for `documents` a month; the last line is the total."""
    p = PRICES
    n = documents
    stored_gb = n * months_stored * doc.source_bytes / 1e9
    vectors_gb = n * months_stored * doc.chunks * doc.vector_bytes_per_chunk / 1e9
    lines = [
        (
            "Bedrock Claude 3.5 Haiku (extraction)",
            f"{n * doc.claude_input_tokens / 1e6:,.1f} M input tokens"
            f" × ${_usd(p['claude_haiku_input_per_1k'])}/1K"
            f" + {n * doc.claude_output_tokens / 1e6:,.1f} M output"
            f" × ${_usd(p['claude_haiku_output_per_1k'])}/1K",
            n * doc.claude_input_tokens / 1000 * p["claude_haiku_input_per_1k"]
            + n * doc.claude_output_tokens / 1000 * p["claude_haiku_output_per_1k"],
        ),
        (
            "Bedrock Titan V2 (embeddings)",
            f"{n * doc.titan_input_tokens / 1e6:,.1f} M tokens × ${_usd(p['titan_v2_input_per_1k'])}/1K",
            n * doc.titan_input_tokens / 1000 * p["titan_v2_input_per_1k"],
        ),
        (
            "Lambda (worker)",
            f"{n * doc.worker_seconds * worker_memory_gb:,.0f} GB-s × ${_usd(p['lambda_gb_s'])}"
            f" + {n / 10:,.0f} invocations",
            n * doc.worker_seconds * worker_memory_gb * p["lambda_gb_s"] + n / 10 * p["lambda_request"],
        ),
        (
            "API Gateway + Lambda (API)",
            f"{n * doc.api_requests:,.0f} requests × (${p['api_gateway_rest_request'] * 1e6:.2f} + "
            f"${p['lambda_request'] * 1e6:.2f})/M (API Lambda time is small: ~0.1 GB-s a request)",
            n
            * doc.api_requests
            * (p["api_gateway_rest_request"] + p["lambda_request"] + 0.1 * p["lambda_gb_s"]),
        ),
        (
            "SQS",
            f"{n * doc.sqs_requests:,.0f} requests + ~650,000 idle long polls"
            f" × ${p['sqs_request'] * 1e6:.2f}/M",
            (n * doc.sqs_requests + 650_000) * p["sqs_request"],
        ),
        (
            "DynamoDB (on demand)",
            f"{n * doc.dynamodb_write_units:,.0f} write units, {n * doc.dynamodb_read_units:,.0f} read units",
            n * doc.dynamodb_write_units * p["dynamodb_write_unit"]
            + n * doc.dynamodb_read_units * p["dynamodb_read_unit"]
            + n * months_stored * 3000 / 1e9 * p["dynamodb_gb_month"],
        ),
        (
            "S3 (raw + processed)",
            f"{n * doc.s3_puts:,.0f} PUT, {n * doc.s3_gets:,.0f} GET, {2 * stored_gb:,.2f} GB stored",
            n * doc.s3_puts * p["s3_put"] + n * doc.s3_gets * p["s3_get"] + 2 * stored_gb * p["s3_gb_month"],
        ),
        (
            "OpenSearch Serverless",
            f"{aoss_ocus:g} OCU (the minimum) × {HOURS_PER_MONTH} h × ${_usd(p['aoss_ocu_hour'])}"
            f" + {vectors_gb:,.2f} GB",
            aoss_ocus * HOURS_PER_MONTH * p["aoss_ocu_hour"] + vectors_gb * p["aoss_gb_month"],
        ),
        (
            "CloudWatch",
            f"{custom_metrics} metrics, 1 dashboard, {alarms} alarms,"
            f" {n * doc.log_bytes / 1e9:,.2f} GB of logs",
            custom_metrics * p["cloudwatch_metric_month"]
            + p["cloudwatch_dashboard_month"]
            + alarms * p["cloudwatch_alarm_month"]
            + n * doc.log_bytes / 1e9 * p["cloudwatch_logs_ingest_gb"],
        ),
    ]
    lines.append(("Total", "", sum(line[2] for line in lines)))
    return lines


def _usd(price: float) -> str:
    """A unit price without exponent notation: 0.00002, not 2e-05."""
    return f"{price:.10f}".rstrip("0").rstrip(".")


def scaled(
    doc: PerDocument, measured_chars: float, text_chars: float, prompt_overhead_tokens: float
) -> PerDocument:
    """`doc` for a document of `text_chars` characters of text: embedding tokens, chunks and bytes grow
    with the text; Claude's input is its fixed prompt plus the text up to the extractor's budget
    (8,000 tokens of 4 characters: BedrockExtractor.max_input_tokens), so it stops growing there."""
    ratio = text_chars / measured_chars
    claude_text_tokens = min(text_chars, 8000 * 4) / 4
    return PerDocument(
        claude_input_tokens=prompt_overhead_tokens + claude_text_tokens,
        claude_output_tokens=doc.claude_output_tokens,
        titan_input_tokens=doc.titan_input_tokens * ratio,
        worker_seconds=doc.worker_seconds,
        source_bytes=doc.source_bytes * ratio,
        chunks=doc.chunks * ratio,
    )


def from_results(results: dict, bedrock_seconds: float) -> PerDocument:
    """Per-document usage from bench/cost.py's results. The worker's AWS time is its measured
    non-model stages plus `bedrock_seconds` of waiting on Claude (embedding runs beside it)."""
    per = results["per_document"]
    stages = results["stage_ms"]
    non_model_s = sum(stages[s]["mean"] for s in stages if s not in ("extract", "embed")) / 1000
    return PerDocument(
        claude_input_tokens=per["claude_input_tokens_est"]["mean"],
        claude_output_tokens=per["claude_output_tokens_est"]["mean"],
        titan_input_tokens=per["minilm_tokens"]["mean"],
        worker_seconds=non_model_s + bedrock_seconds,
        source_bytes=per["source_bytes"]["mean"],
        chunks=per["chunks"]["mean"],
    )


def table(lines: list[tuple[str, str, float]], documents: int) -> str:
    rows = ["| line | quantity × price | USD / month |", "|---|---|---|"]
    for name, quantity, usd in lines:
        bold = "**" if name == "Total" else ""
        rows.append(f"| {bold}{name}{bold} | {quantity} | {bold}{usd:,.2f}{bold} |")
    total = lines[-1][2]
    rows.append(f"| per 1,000 documents | | {total / documents * 1000:,.2f} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs-per-month", type=int, default=100_000)
    parser.add_argument("--results", type=Path, default=RESULTS / "cost.json")
    parser.add_argument("--bedrock-seconds", type=float, default=3.0)
    parser.add_argument("--ocus", type=float, default=2.0)
    parser.add_argument("--text-chars", type=float, help="scale to documents of this many characters of text")
    args = parser.parse_args(argv)
    results = json.loads(args.results.read_text())
    doc = from_results(results, args.bedrock_seconds)
    if args.text_chars:
        measured = results["per_document"]["text_chars"]["mean"]
        overhead = doc.claude_input_tokens - measured / 4
        doc = scaled(doc, measured, args.text_chars, overhead)
    print(doc)
    print(table(monthly_cost(doc, args.docs_per_month, aoss_ocus=args.ocus), args.docs_per_month))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
