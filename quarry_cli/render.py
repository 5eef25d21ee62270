"""How documents and search results look in a terminal (Rich), and in --json for scripts."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from quarry_cli.highlight import match_pattern, query_terms, snippet

STATUS_STYLE = {"INDEXED": "green", "FAILED": "red", "DELETED": "dim", "EXPIRED": "yellow"}


def file_name(document_or_hit: dict[str, Any]) -> str:
    key = (document_or_hit.get("source") or {}).get("key") or ""
    return key.rsplit("/", 1)[-1] or document_or_hit.get("document_id", "?")


def status_text(status: str) -> Text:
    return Text(status, style=STATUS_STYLE.get(status, "cyan"))


def print_json(console: Console, payload: Any) -> None:
    # Plain print, not Rich's: scripts parse it, so no colour codes and no wrapping.
    console.file.write(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")


def highlighted(text: str, query: str) -> Text:
    terms = query_terms(query)
    shown = Text(snippet(text, terms))
    pattern = match_pattern(terms)
    if pattern:
        shown.highlight_regex(pattern, style="bold reverse yellow")
    return shown


def results_table(results: list[dict[str, Any]], query: str) -> Table:
    table = Table(title=f"{len(results)} result(s) for {query!r}", expand=True)
    table.add_column("score", justify="right", no_wrap=True)
    table.add_column("file", overflow="fold", max_width=28)
    table.add_column("page", justify="right", no_wrap=True)
    table.add_column("snippet", ratio=1)
    for hit in results:
        page = (hit.get("source") or {}).get("page")
        table.add_row(
            f"{hit['score']:.3f}",
            file_name(hit),
            "" if page is None else str(page),
            highlighted(hit["text"], query),
        )
    return table


def documents_table(documents: list[dict[str, Any]]) -> Table:
    table = Table(expand=True)
    table.add_column("id", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("file", overflow="fold")
    table.add_column("chunks", justify="right", no_wrap=True)
    table.add_column("updated", no_wrap=True)
    table.add_column("error", overflow="fold", ratio=1)
    for document in documents:
        error = document.get("error") or {}
        table.add_row(
            document["document_id"],
            status_text(document["status"]),
            file_name(document),
            str(document.get("chunk_count") or 0),
            str(document.get("updated_at") or "")[:19].replace("T", " "),
            f"{error['code']}: {error['message']}" if error else "",
        )
    return table


def document_details(document: dict[str, Any]) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    source = document.get("source") or {}
    table.add_row("id", document["document_id"])
    table.add_row("status", status_text(document["status"]))
    table.add_row("file", file_name(document))
    table.add_row("key", source.get("key", ""))
    table.add_row("type", f"{source.get('content_type') or '?'}, {source.get('size') or '?'} bytes")
    table.add_row("chunks", str(document.get("chunk_count") or 0))
    if document.get("metadata"):
        table.add_row("metadata", ", ".join(f"{k}={v}" for k, v in document["metadata"].items()))
    if error := document.get("error"):
        table.add_row("error", Text(f"{error['code']}: {error['message']}", style="red"))
    extraction = (document.get("extraction") or {}).get("data") or {}
    for field in ("title", "summary", "language", "document_type"):
        if extraction.get(field):
            table.add_row(field, str(extraction[field]))
    for kind, names in entities_by_kind(extraction.get("entities")).items():
        table.add_row(kind, ", ".join(names))
    if keywords := extraction.get("keywords"):
        table.add_row("keywords", ", ".join(map(str, keywords)))
    if extraction_error := (document.get("extraction") or {}).get("error"):
        table.add_row("extraction", Text(f"not extracted: {extraction_error}", style="yellow"))
    table.add_row("created", str(document.get("created_at") or ""))
    table.add_row("updated", str(document.get("updated_at") or ""))
    return table


def entities_by_kind(entities: Any) -> dict[str, list[str]]:
    """The default schema's {"people": [...], "organizations": [...], ...}, empty kinds left out; a
    custom schema's other shapes are shown as they are."""
    if isinstance(entities, dict):
        return {kind: [str(n) for n in names] for kind, names in entities.items() if names}
    if entities:
        return (
            {"entities": [str(e) for e in entities]}
            if isinstance(entities, list)
            else {"entities": [str(entities)]}
        )
    return {}
