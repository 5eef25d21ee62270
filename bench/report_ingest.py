"""The ingest block of docs/BENCHMARKS.md (§2): Quarry through the whole event path, with and without
the upload window, beside LlamaIndex's IngestionPipeline, each against its own raw encoder."""

from __future__ import annotations

from typing import Any

from bench.report_format import machine_line, yes


def ingest(d: dict[str, Any]) -> str:
    return side_by_side(d) if "runs" in d else single_run(d)


def chunk_cell(p: dict[str, Any]) -> str:
    characters = p.get("chunk_characters_mean")
    size = f", {characters:.0f} characters" if characters is not None else ""
    return f"{p['chunks']:,} ({p['chunks_per_document']} a document{size})"


def side_by_side(d: dict[str, Any]) -> str:
    runs, peer, goals = d["runs"], d["peer"], d["goals"]
    settings = peer["settings"]
    lines = [
        f"Command: `make bench-ingest` (`{d['command']}`): {d['documents']:,} SciFact abstracts (the seeded"
        f" subset), the bundled all-MiniLM-L6-v2 on both sides, embed batch {d['embed_batch_size']}. Quarry"
        " goes through upload → S3 → EventBridge → SQS → worker → index on a fresh local stack per run;"
        f" then, in the same run, LlamaIndex {peer['packages']['llama-index-core']}'s `IngestionPipeline`"
        f" ({settings['splitter']} in the model's word pieces + HuggingFaceEmbedding) in process, no"
        " storage, in .venv-peer. Each pipeline's raw encoder is `SentenceTransformer.encode` on exactly"
        " the chunks that pipeline made, same batch, after a warm-up.",
        "",
        "| | documents/s | chunks | chunks/s | Quarry ÷ peer, documents/s"
        f" (goal ≥ {goals['documents_per_s_over_peer']}) | pipeline ÷ its raw encoder"
        f" (goal ≥ {goals['efficiency']} for Quarry) |",
        "|---|---|---|---|---|---|",
    ]
    for run in runs:
        p, met = run["pipeline"], run["goal_met"]
        lines.append(
            f"| Quarry, {run['label']} | **{p['documents_per_s']}** | {chunk_cell(p)} | {p['chunks_per_s']} |"
            f" {run['documents_per_s_over_peer']:.2f}× {yes(met['documents_per_s_over_peer'])} |"
            f" {run['efficiency']:.2f} (raw {run['raw_model']['chunks_per_s']} chunks/s)"
            f" {yes(met['efficiency'])} |"
        )
    lines.append(
        f"| LlamaIndex `IngestionPipeline` | **{peer['documents_per_s']}** | {chunk_cell(peer)} |"
        f" {peer['chunks_per_s']} | — | {peer['pipeline_over_raw']:.2f}"
        f" (raw {peer['raw_encoder']['chunks_per_s']} chunks/s) |"
    )
    lines += ["", "| Quarry run | " + " | ".join(run["label"] for run in runs) + " |"]
    lines.append("|---|" + "---|" * len(runs))
    rows = {
        "documents INDEXED (failed)": lambda p, _: f"{p['indexed']:,} ({p['failed']})",
        "first upload → last INDEXED": lambda p, _: (
            f"{p['pipeline_seconds']} s (uploads done after {p['upload_seconds']} s)"
        ),
        "raw encoder on its chunks": lambda _, run: (
            f"{run['raw_model']['chunks_per_s']} chunks/s, {run['raw_model']['torch_threads']} torch threads,"
            f" {run['raw_model'].get('precision', 'float32')}"
        ),
        "peak resident memory of the stack": lambda p, _: (
            f"{p['peak_rss_mb']:.0f} MB ({p['rss_before_ingest_mb']:.0f} MB before ingest)"
        ),
    }
    for name, cell in rows.items():
        lines.append(f"| {name} | " + " | ".join(cell(run["pipeline"], run) for run in runs) + " |")
    lines += [
        "",
        "Quarry's worker time per stage, summed over the documents (from each document's `timings_ms`),"
        " and its share of the run's time:",
        "",
        "| stage | " + " | ".join(f"{run['label']}: s | share" for run in runs) + " |",
        "|---|" + "---|---|" * len(runs),
    ]
    for stage in runs[0]["pipeline"]["stage_seconds"]:
        cells = [
            f"{p['stage_seconds'][stage]} | {p['stage_share_of_pipeline'][stage]:.1%}"
            for p in (run["pipeline"] for run in runs)
        ]
        lines.append(f"| {stage} | " + " | ".join(cells) + " |")
    busy = [
        f"{run['pipeline']['worker_busy_seconds']} |"
        f" {run['pipeline']['worker_busy_seconds'] / run['pipeline']['pipeline_seconds']:.1%}"
        for run in runs
    ]
    lines.append("| sum (worker busy) | " + " | ".join(busy) + " |")
    lines += cpu_table(runs)
    versions = ", ".join(f"{name} {v}" for name, v in peer["packages"].items())
    lines += [
        "",
        f"Peer: {versions}; {peer['pipeline_seconds']} s for the pipeline,"
        f" {peer['raw_encoder']['torch_threads']} torch threads; no network access during the run"
        f" ({len(peer['network_attempts'])} attempts refused).",
        "",
        machine_line(d["machine"], d.get("bench_seconds")),
    ]
    return "\n".join(lines)


def cpu_table(runs: list[dict[str, Any]]) -> list[str]:
    """Where the machine's cores went from the first upload until every document was in the store
    (bench.common.cpu_used): the runs that measured it."""
    measured = [run for run in runs if run["pipeline"].get("cpu")]
    if not measured:
        return []
    cores = measured[0]["pipeline"]["cpu"]["cores"]
    lines = [
        "",
        f"The machine's {cores} cores during each Quarry run (CPU seconds from /proc, and share of all the"
        " cores' time):",
        "",
        "| CPU | " + " | ".join(f"{run['label']}: core-s | share" for run in measured) + " |",
        "|---|" + "---|---|" * len(measured),
    ]
    for name in measured[0]["pipeline"]["cpu"]["core_seconds"]:
        cells = [
            f"{cpu['core_seconds'][name]} | {cpu['share'][name]:.1%}"
            for cpu in (run["pipeline"]["cpu"] for run in measured)
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def single_run(d: dict[str, Any]) -> str:
    """One Quarry run and its raw model, no peer: bench.quality --ingest-out, and bench.ingest before it
    ran the peer."""
    p, raw = d["pipeline"], d["raw_model"]
    lines = [
        f"Command: `{d['command']}` (one run, no peer beside it: `make bench-ingest` runs the comparison).",
        "",
        "| figure | value |",
        "|---|---|",
        f"| documents / chunks | {p['indexed']:,} INDEXED ({p['failed']} failed) / {p['chunks']:,}"
        f" ({p['chunks_per_document']} a document) |",
        f"| pipeline, first upload → last INDEXED | {p['pipeline_seconds']} s (uploads done after"
        f" {p['upload_seconds']} s) |",
        f"| pipeline throughput | **{p['chunks_per_s']} chunks/s**, {p['documents_per_s']} documents/s |",
        f"| raw `SentenceTransformer.encode`, same chunk texts, batch {raw['batch_size']},"
        f" {raw['torch_threads']} torch threads | **{raw['chunks_per_s']} chunks/s** ({raw['seconds']} s) |",
        f"| efficiency = pipeline / raw | **{d['efficiency']:.3f}** (goal ≥ {d['goal_efficiency']}:"
        f" {yes(d['goal_met'])}) |",
        "| peak resident memory of the stack (API + worker process and its moto child, as `make local`"
        " runs) |"
        f" {p['peak_rss_mb']:.0f} MB ({p['rss_before_ingest_mb']:.0f} MB with the model loaded,"
        " before ingest) |",
    ]
    sample = raw.get("per_document_sample")
    if sample:
        lines.append(
            f"| raw encode, one call per document (the worker's batching), {sample['documents']} documents |"
            f" {sample['per_document_chunks_per_s']} chunks/s vs {sample['batched_chunks_per_s']} batched"
            f" ({sample['per_document_over_batched']:.2f}×) |"
        )
    lines += ["", "Worker time per stage, summed over the documents (from each document's `timings_ms`):", ""]
    lines += ["| stage | seconds | share of pipeline time |", "|---|---|---|"]
    for stage, seconds in p["stage_seconds"].items():
        lines.append(f"| {stage} | {seconds} | {p['stage_share_of_pipeline'][stage]:.1%} |")
    lines.append(
        f"| sum (worker busy) | {p['worker_busy_seconds']} |"
        f" {p['worker_busy_seconds'] / p['pipeline_seconds']:.1%} |"
    )
    lines += ["", machine_line(d["machine"], d.get("bench_seconds"))]
    return "\n".join(lines)
