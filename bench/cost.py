"""The measured inputs of docs/COST.md: what one SciFact document uses, through the whole local pipeline.

SciFact abstracts go through the local stack (`python -m devstack up` in a child: moto, the API, the SQS
poller + worker, MiniLM, the local extractor, SQLite), uploaded through POST /uploads, as bench/ingest.py
does. From each document's own usage (GET /documents/{id}: chalicelib/accounting.py's ledger entry) and
timings, and from GET /usage (the ledger's totals):

- measured: source bytes, chunks, MiniLM word pieces embedded (its tokenizer), the worker's time per
  document (the sum of its stage timings), and the ledger's totals, which must equal the documents' sum;
- estimated, since a local run calls neither Claude nor Titan: Claude input tokens = the characters of
  the exact Converse request BedrockExtractor would send (system prompt, prompt with the document, tool
  schema) / 4, the 4-characters-a-token rule the extractor itself budgets with; Claude output tokens =
  the characters of the local extractor's JSON answer / 4; Titan input tokens = the MiniLM word pieces
  of the chunks (both are subword tokenizers of English; Titan's own count is in every real response,
  and the ledger records it there).

python -m bench.cost [--docs 150] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from bench.common import (
    RESULTS,
    StackProcess,
    document_text,
    log,
    median,
    percentile,
    publish,
    r,
    scifact,
    scratch_dir,
)
from bench.pipeline import ingest, warm_up

DEFAULT_OUT = RESULTS / "cost.json"
CHARS_PER_TOKEN = 4


def claude_request_chars(text: str, title: str) -> int:
    """Characters of the Converse request the Bedrock extractor builds for `text` (no call is made)."""
    from chalicelib.adapters.bedrock_extractor import SYSTEM_PROMPT, BedrockExtractor
    from chalicelib.extraction import Extraction

    extractor = BedrockExtractor(client=None, model_id="anthropic.claude-3-5-haiku-20241022-v1:0")
    request = extractor._request(
        extractor._prompt(text, title, "text/plain"), None, Extraction.model_json_schema()
    )
    prompt = request["messages"][0]["content"][0]["text"]
    schema = json.dumps(request["toolConfig"])
    return len(SYSTEM_PROMPT) + len(prompt) + len(schema)


def summarise(values: list[float]) -> dict[str, float]:
    return {
        "mean": r(sum(values) / len(values), 2),
        "median": r(median(values), 2),
        "p95": r(percentile(values, 95), 2),
        "total": r(sum(values), 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=150)
    parser.add_argument("--out", type=lambda p: __import__("pathlib").Path(p), default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    data = scifact(max_docs=args.docs, max_queries=0)
    work = scratch_dir("cost")
    texts = {doc["_id"]: document_text(doc) for doc in data.corpus}
    titles = {doc["_id"]: doc.get("title") or "" for doc in data.corpus}
    with StackProcess(work / "home", log_path=work / "stack.log") as stack:
        warm_up(stack)
        run = ingest(stack, data.corpus, work / "files")
        from devstack.client import demo_client

        status, report = demo_client(stack.api_url).request("GET", "/usage")
        assert status == 200, report
    indexed = {cid: d for cid, d in run.documents.items() if d["status"] == "INDEXED"}
    log(f"{len(indexed)} of {len(run.documents)} documents indexed")
    per_doc: dict[str, list[float]] = {
        k: [] for k in ("source_bytes", "text_chars", "chunks", "minilm_tokens")
    }
    per_doc |= {k: [] for k in ("worker_ms", "claude_input_tokens_est", "claude_output_tokens_est")}
    for cid, view in indexed.items():
        usage = view["usage"]
        per_doc["source_bytes"].append(usage["source_bytes"])
        per_doc["text_chars"].append(len(texts[cid]))
        per_doc["chunks"].append(usage["chunks"])
        per_doc["minilm_tokens"].append(usage["tokens"]["sentence-transformers/all-MiniLM-L6-v2"]["input"])
        per_doc["worker_ms"].append(sum(view["timings_ms"].values()))
        per_doc["claude_input_tokens_est"].append(
            claude_request_chars(texts[cid], titles[cid]) / CHARS_PER_TOKEN
        )
        answer = json.dumps((view["extraction"] or {}).get("data") or {})
        per_doc["claude_output_tokens_est"].append(len(answer) / CHARS_PER_TOKEN)
    stages = {
        s: summarise([v["timings_ms"].get(s, 0.0) for v in indexed.values()]) for s in view["timings_ms"]
    }
    ledger_matches = (
        report["chunks"] == sum(per_doc["chunks"])
        and report["source_bytes"] == sum(per_doc["source_bytes"])
        and report["documents"].get("INDEXED", 0) == len(indexed)
    )
    results: dict[str, Any] = {
        "command": f"python -m bench.cost --docs {args.docs}",
        "documents": len(run.documents),
        "indexed": len(indexed),
        "per_document": {k: summarise(v) for k, v in per_doc.items()},
        "stage_ms": stages,
        "ledger_report": report,
        "ledger_equals_sum_of_documents": ledger_matches,
        "method": {
            "claude_input_tokens_est": "characters of the Converse request (system, prompt, tool schema) / 4",
            "claude_output_tokens_est": "characters of the local extractor's JSON answer / 4",
            "titan_input_tokens_est": "MiniLM word pieces of the chunks (measured by the pipeline)",
            "worker_ms": "sum of the document's stage timings in the local worker (MiniLM on this machine)",
        },
    }
    publish(results, args.out, started)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
