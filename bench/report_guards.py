"""The blocks of what the reliability guards cost (docs/BENCHMARKS.md §7, §8): the catalog check on
search results and the parser child."""

from __future__ import annotations

from typing import Any

from bench.report_format import machine_line


def catalog_check(d: dict[str, Any]) -> str:
    lines = [
        f"Command: `make bench-catalog-check` (`python -m bench.catalog_check`). {d['queries']} SciFact test"
        f" queries x {d['passes']} pass per mode and k, {d['chunks']:,} chunks ({d['documents']:,} documents,"
        " all INDEXED) in the embedded index, the catalog in a moto server's DynamoDB, the hashing embedder;"
        " SearchService.search timed in the process, with and without the check, query by query in turns.",
        "",
        "| mode | k | p50 without | p50 with | p95 without | p95 with | check p50 / p95 |"
        " documents checked | BatchGetItem calls |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in d["rows"]:
        without, with_ = row["without_check"], row["with_check"]
        lines.append(
            f"| {row['mode']} | {row['k']} | {without['p50_ms']} |"
            f" **{with_['p50_ms']}** (+{row['added_p50_ms']}) | {without['p95_ms']} |"
            f" {with_['p95_ms']} (+{row['added_p95_ms']}) |"
            f" {row['catalog_check_p50_ms']} / {row['catalog_check_p95_ms']} |"
            f" {row['documents_checked_per_search']} | {row['batch_get_calls_per_search']} |"
        )
    lines += ["", "All times in ms.", "", machine_line(d["machine"], d.get("bench_seconds"))]
    return "\n".join(lines)


def parse(d: dict[str, Any]) -> str:
    s, per, bomb = d["start_up"], d["per_document"], d["bomb"]
    lines = [
        "Command: `make bench-parse` (`python -m bench.parse_child`): inline and child taken in turns,"
        " file by file (parsing) and run by run (ingest).",
        "",
        f"A new child's first document: {s['first_document_ms']} ms (interpreter and parser imports;"
        f" median of {s['runs']} fresh children); its next one: {s['next_document_ms']} ms.",
        "",
        "| files | n | inline median | child median | overhead: median | overhead, every parse: median / p90"
        " | inline total | child total |",
        "|---|---|---|---|---|---|---|---|",
    ]
    labels = {"corpus": "tests/fixtures/corpus (every file)", "scifact": "SciFact abstracts (.txt)"}
    for name, row in per.items():
        lines.append(
            f"| {labels.get(name, name)} | {row['documents']} | {row['inline_median_ms']} ms |"
            f" {row['child_median_ms']} ms | {row['overhead_median_ms']} ms |"
            f" {row.get('overhead_every_parse_median_ms', '?')} /"
            f" {row.get('overhead_every_parse_p90_ms', '?')} ms |"
            f" {row['inline_total_s']} s |"
            f" {row['child_total_s']} s |"
        )
    repeats = per["corpus"].get("repeats", 1)
    lines += [
        "",
        f"Each file is parsed {repeats} times per mode, in turns. Inline, child and the first overhead are"
        ' the fastest of those (what the round trip itself costs); "every parse" takes each repeat\'s'
        " child − inline difference (with the waits for a core on a busy machine). Largest overhead:",
        "",
    ]
    for name, row in per.items():
        worst = row.get("largest_overhead")
        if worst:
            lines.append(
                f"- {labels.get(name, name)}: {worst['file']} ({worst['bytes']:,} bytes),"
                f" +{worst['overhead_ms']} ms on {worst['inline_ms']} ms inline"
            )
    if d.get("ingest_summary"):
        rounds = max(row["round"] for row in d["ingest"])
        docs = d["ingest"][0]["documents"]
        lines += [
            "",
            f"Ingest through the worker path on moto ({docs} SciFact abstracts, one record at a time,"
            f" local extractor; median of {rounds} runs per mode):",
            "",
            "| embedder | inline docs/s | child docs/s | change |",
            "|---|---|---|---|",
        ]
        for embedder, row in d["ingest_summary"].items():
            lines.append(
                f"| {embedder} | {row['inline_documents_per_s']} | {row['process_documents_per_s']} |"
                f" {row['change']:+.1%} |"
            )
    lines += [
        "",
        "The tree bomb of tests/bombs.py (a {:,}-byte .docx), in a fresh worker process each: inline it is"
        " {} and the worker's peak RSS grows by {} MB; with the child it ends {} and the worker grows by"
        " {} MB.".format(
            bomb["inline"]["bytes"],
            bomb["inline"]["outcome"],
            bomb["inline"]["worker_peak_rss_growth_mb"],
            bomb["process"]["outcome"],
            bomb["process"]["worker_peak_rss_growth_mb"],
        ),
        "",
        machine_line(d["machine"], d.get("bench_seconds")),
    ]
    return "\n".join(lines)
