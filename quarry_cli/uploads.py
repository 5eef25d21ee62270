"""`quarry upload`: files to the API's pre-signed form, a few at once, with progress over bytes and files;
then, with --wait, each document followed to its end state."""

from __future__ import annotations

import mimetypes
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from requests_toolbelt import MultipartEncoder, MultipartEncoderMonitor
from rich.console import Console, Group
from rich.live import Live
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table
from rich.text import Text

from quarry_cli.api import Api, ApiError, unreachable
from quarry_cli.errors import CliError
from quarry_cli.render import status_text

TERMINAL = frozenset({"INDEXED", "FAILED", "DELETED", "EXPIRED"})
UPLOAD_TIMEOUT_S = 300


@dataclass
class Outcome:
    """One file: its document once the API accepted it, and where it ended."""

    path: Path
    document_id: str | None = None
    status: str = "UPLOADING"
    error: dict[str, str] | None = None
    document: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "INDEXED"


def collect_files(paths: Iterable[Path]) -> list[Path]:
    """Every file named, and every file under each folder named (recursively, hidden ones left out)."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(
                p
                for p in sorted(path.rglob("*"))
                if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
        elif path.is_file():
            found.append(path)
        else:
            raise CliError(f"no such file or folder: {path}", exit_code=2)
    return found


def send_form(upload: dict[str, Any], path: Path, on_bytes: Callable[[int], None]) -> None:
    """POST the form's fields, then the file (S3 reads the fields first), streaming the file so the
    progress bar moves as its bytes leave."""
    fields = {**upload["fields"], "file": (path.name, path.open("rb"), "application/octet-stream")}
    size = path.stat().st_size
    sent = 0

    def advance(monitor: MultipartEncoderMonitor) -> None:
        # The body is the fields and the file: count the file's share, so the bar ends at its size.
        nonlocal sent
        now = size * monitor.bytes_read // max(monitor.len, 1)
        on_bytes(now - sent)
        sent = now

    body = MultipartEncoderMonitor(MultipartEncoder(fields), advance)
    try:
        response = requests.request(
            upload["method"],
            upload["url"],
            data=body,
            headers={"Content-Type": body.content_type},
            timeout=UPLOAD_TIMEOUT_S,
        )
    except requests.RequestException as error:
        raise unreachable(upload["url"], error) from None
    finally:
        fields["file"][1].close()
    if response.status_code >= 300:
        raise CliError(f"the storage refused {path.name}: HTTP {response.status_code} {response.text[:200]}")


def upload_one(api: Api, path: Path, metadata: dict[str, str], on_bytes: Callable[[int], None]) -> Outcome:
    outcome = Outcome(path)
    body: dict[str, Any] = {"filename": path.name, "metadata": metadata}
    if content_type := mimetypes.guess_type(path.name)[0]:
        body["content_type"] = content_type
    try:
        answer = api.call("POST", "/uploads", body)
    except ApiError as refused:
        if refused.status not in (400, 413, 422):
            raise  # sign-in or reachability: no other file would fare better
        outcome.status, outcome.error = "REFUSED", {"code": refused.code, "message": refused.message}
        on_bytes(path.stat().st_size)
        return outcome
    outcome.document_id = answer["document_id"]
    send_form(answer["upload"], path, on_bytes)
    outcome.status = "PENDING"
    return outcome


def upload_all(
    api: Api, files: list[Path], metadata: dict[str, str], parallel: int, console: Console
) -> list[Outcome]:
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console,
    )
    count = Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), console=console
    )
    byte_task = progress.add_task("bytes", total=sum(p.stat().st_size for p in files))
    file_task = count.add_task("files", total=len(files))
    lock = threading.Lock()

    def on_bytes(n: int) -> None:
        with lock:
            progress.advance(byte_task, n)

    def one(path: Path) -> Outcome:
        outcome = upload_one(api, path, metadata, on_bytes)
        count.advance(file_task)
        return outcome

    with (
        Live(Group(progress, count), console=console, refresh_per_second=8),
        ThreadPoolExecutor(parallel) as pool,
    ):
        outcomes = list(pool.map(one, files))
    end_live(console)
    return outcomes


def end_live(console: Console) -> None:
    # Off a terminal (a pipe, a CI log) Live prints its last frame with no line end: add it.
    if not console.is_terminal:
        console.line()


def follow(
    api: Api, outcomes: list[Outcome], console: Console, timeout_s: float, poll_s: float = 0.5
) -> None:
    """Poll each unfinished document until it ends (or `timeout_s` passes), showing a live view."""
    deadline = time.monotonic() + timeout_s
    with Live(status_view(outcomes), console=console, refresh_per_second=4) as live:
        while waiting := [o for o in outcomes if o.status not in TERMINAL and o.document_id]:
            if time.monotonic() > deadline:
                for outcome in waiting:
                    outcome.error = {
                        "code": "TIMEOUT",
                        "message": f"still {outcome.status} after {timeout_s:g} s",
                    }
                break
            for outcome in waiting:
                try:
                    document = api.call("GET", f"/documents/{outcome.document_id}")
                except ApiError as error:
                    if error.status != 404:  # not listed yet: the catalog entry is written with the form
                        raise
                    continue
                outcome.document, outcome.status = document, document["status"]
                outcome.error = document.get("error")
            live.update(status_view(outcomes))
            time.sleep(poll_s)
        live.update(status_view(outcomes))
    end_live(console)


def status_view(outcomes: list[Outcome], rows: int = 12) -> Table:
    counts: dict[str, int] = {}
    for outcome in outcomes:
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
    table = Table(title="  ".join(f"{status} {n}" for status, n in sorted(counts.items())), expand=True)
    table.add_column("file", overflow="fold")
    table.add_column("status", no_wrap=True)
    table.add_column("chunks", justify="right", no_wrap=True)
    # Unfinished documents first: they are the ones worth watching.
    shown = sorted(outcomes, key=lambda o: o.status in TERMINAL)[:rows]
    for outcome in shown:
        table.add_row(
            str(outcome.path), status_text(outcome.status), str(outcome.document.get("chunk_count") or "")
        )
    if len(outcomes) > rows:
        table.caption = f"and {len(outcomes) - rows} more"
    return table


def summary(outcomes: list[Outcome], waited: bool) -> Group:
    indexed = sum(o.status == "INDEXED" for o in outcomes)
    failed = [o for o in outcomes if o.error or o.status in {"FAILED", "REFUSED", "EXPIRED"}]
    if waited:
        line = Text(f"{indexed} INDEXED, {len(failed)} FAILED, {len(outcomes)} file(s)")
    else:
        line = Text(f"{len(outcomes) - len(failed)} uploaded, {len(failed)} refused, {len(outcomes)} file(s)")
    line.stylize("bold green" if not failed else "bold red")
    parts: list[Any] = [line]
    if failed:
        table = Table(title="failures", expand=True)
        table.add_column("file", overflow="fold")
        table.add_column("status", no_wrap=True)
        table.add_column("code", no_wrap=True)
        table.add_column("message", ratio=1)
        for outcome in failed:
            error = outcome.error or {}
            table.add_row(
                str(outcome.path),
                status_text(outcome.status),
                error.get("code", ""),
                error.get("message", ""),
            )
        parts.append(table)
    elif not waited:
        table = Table(expand=True)
        table.add_column("file", overflow="fold")
        table.add_column("document id", no_wrap=True)
        for outcome in outcomes:
            table.add_row(str(outcome.path), outcome.document_id or "")
        parts.append(table)
    return Group(*parts)
