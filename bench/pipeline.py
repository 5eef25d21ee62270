"""SciFact through the running local stack the way a user sends it: one file per abstract, uploaded
with POST /uploads and the pre-signed POST form (a few uploads in flight, optionally at most a window of
documents ahead of the worker), then followed over GET /documents/{id} until every one is INDEXED (or
FAILED)."""

from __future__ import annotations

import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.common import StackProcess, cpu_used, document_text, log, process_cpu_seconds, r, read_cpu

STAGES = ("fetch", "parse", "chunk", "extract", "embed", "index", "record")


@dataclass
class IngestRun:
    documents: dict[str, dict[str, Any]]  # corpus id -> the document as GET /documents/{id} returns it
    started: float  # time.time() of the first upload
    uploads_done: float  # time.time() when the last upload's POST to S3 returned
    last_indexed: float  # the latest updated_at among the documents (server clock, same machine)
    peak_rss_bytes: int
    failed: dict[str, dict[str, Any]] = field(default_factory=dict)
    cpu: dict[str, Any] = field(default_factory=dict)  # bench.common.cpu_used over the ingest

    @property
    def chunks(self) -> int:
        return sum(d["chunk_count"] for d in self.documents.values() if d["status"] == "INDEXED")

    @property
    def seconds(self) -> float:
        return self.last_indexed - self.started

    def summary(self) -> dict[str, Any]:
        indexed = [d for d in self.documents.values() if d["status"] == "INDEXED"]
        stage_totals = {s: sum(d["timings_ms"].get(s, 0.0) for d in indexed) / 1000 for s in STAGES}
        busy = sum(stage_totals.values())
        return {
            "documents": len(self.documents),
            "indexed": len(indexed),
            "failed": len(self.failed),
            "chunks": self.chunks,
            "chunks_per_document": r(self.chunks / max(len(indexed), 1), 2),
            "upload_seconds": r(self.uploads_done - self.started, 1),
            "pipeline_seconds": r(self.seconds, 1),
            "chunks_per_s": r(self.chunks / self.seconds, 2),
            "documents_per_s": r(len(indexed) / self.seconds, 2),
            "worker_busy_seconds": r(busy, 1),
            "stage_seconds": {s: r(v, 1) for s, v in stage_totals.items()},
            "stage_share_of_pipeline": {s: r(v / self.seconds, 3) for s, v in stage_totals.items()},
            "peak_rss_mb": r(self.peak_rss_bytes / 2**20, 0),
            "cpu": self.cpu,
        }


def warm_up(stack: StackProcess) -> int:
    """One search loads the model in the stack before any clock starts, as a running system has it;
    returns the stack's resident memory then (bytes)."""
    from devstack.client import demo_client

    demo_client(stack.api_url, timeout_s=300).search("warm up", mode="vector", k=1)
    return stack.rss_bytes()


def cpu_seconds(stack: StackProcess) -> dict[str, float]:
    """The stack's processes and this one (the client uploading and watching the store)."""
    import psutil

    return {**stack.cpu_seconds(), "benchmark client": process_cpu_seconds(psutil.Process())}


def parse_time(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def write_files(corpus: list[dict[str, Any]], folder: Path) -> list[tuple[str, Path]]:
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for doc in corpus:
        path = folder / f"{doc['_id']}.txt"
        path.write_text(document_text(doc), encoding="utf-8")
        files.append((doc["_id"], path))
    return files


def indexed_documents(home: Path) -> int:
    """How many documents the store holds, read straight from the file (another process may write it):
    costs the stack nothing, unlike polling its API."""
    path = home / "index.sqlite3"
    if not path.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as db:
            return db.execute("SELECT count(DISTINCT document_id) FROM chunks").fetchone()[0]
    except sqlite3.OperationalError:  # the schema is not there yet
        return 0


def ingest(
    stack: StackProcess,
    corpus: list[dict[str, Any]],
    folder: Path,
    upload_threads: int = 2,
    window: int | None = 48,
    stall_s: float = 300,
) -> IngestRun:
    """Upload every document and wait for all of them. With a `window`, at most that many documents are
    uploaded and not yet indexed at any time: enough to keep the queue fed (the poller takes 10 a batch)
    without flooding the stack. With `window=None`, every file goes up as fast as the API takes it, as
    `make ingest` and any client uploading a folder do, however deep the queue grows.
    Progress is read from the store file; the final status of every document comes from the API."""
    from devstack.client import demo_client

    api = demo_client(stack.api_url, timeout_s=120)
    files = write_files(corpus, folder)
    uploaded: dict[str, str] = {}
    lock = threading.Lock()
    progress = {"indexed": 0, "checked": 0.0}

    def room() -> None:
        if window is None:
            return
        stalled_since = time.monotonic()
        while True:
            with lock:
                if len(uploaded) - progress["indexed"] < window:
                    return
                if time.monotonic() - progress["checked"] > 0.2:
                    now_indexed = indexed_documents(stack.home)
                    if now_indexed != progress["indexed"]:
                        stalled_since = time.monotonic()
                    progress["indexed"] = now_indexed
                    progress["checked"] = time.monotonic()
                    continue
            if time.monotonic() - stalled_since > stall_s:
                raise RuntimeError(
                    f"no document indexed for {stall_s}s with {window} waiting; see {stack.log_path}"
                )
            time.sleep(0.05)

    def upload(item: tuple[str, Path]) -> None:
        corpus_id, path = item
        room()
        document_id = api.upload(path, metadata={"corpus_id": corpus_id})
        with lock:
            uploaded[corpus_id] = document_id

    ahead = f"at most {window} ahead of the worker" if window is not None else "no window"
    log(f"uploading {len(files)} documents ({upload_threads} at a time, {ahead})")
    cpu_before = read_cpu(cpu_seconds(stack))
    started = time.time()
    next_report = time.monotonic() + 30
    with ThreadPoolExecutor(max_workers=upload_threads) as pool:
        pending = [pool.submit(upload, item) for item in files]
        for future in pending:
            future.result()
            if time.monotonic() >= next_report:
                next_report = time.monotonic() + 30
                elapsed, indexed = time.time() - started, indexed_documents(stack.home)
                log(
                    f"  {len(uploaded)} uploaded, {indexed}/{len(files)} indexed after {elapsed:.0f}s"
                    f" ({indexed / elapsed:.1f} documents/s)"
                )
    uploads_done = time.time()
    log(f"uploaded in {uploads_done - started:.1f}s; waiting for the worker")
    # Failed documents never reach the store: stop watching it once it stops moving, and let the API
    # say what became of each document.
    last_count, last_change = -1, time.monotonic()
    while (count := indexed_documents(stack.home)) < len(files) and time.monotonic() - last_change < 30:
        if count != last_count:
            last_count, last_change = count, time.monotonic()
        if time.monotonic() >= next_report:
            next_report = time.monotonic() + 30
            log(f"  {count}/{len(files)} indexed after {time.time() - started:.0f}s")
        time.sleep(0.5)
    cpu = cpu_used(cpu_before, read_cpu(cpu_seconds(stack)))
    documents = {c: api.wait(uploaded[c], timeout_s=3600, poll_s=1.0) for c, _ in files}
    failed = {c: d for c, d in documents.items() if d["status"] != "INDEXED"}
    if failed:
        sample = next(iter(failed.values()))
        log(f"{len(failed)} documents not INDEXED, e.g. {sample['status']} {sample.get('error')}")
    last = max(parse_time(d["updated_at"]) for d in documents.values())
    return IngestRun(documents, started, uploads_done, last, stack.peak_rss_bytes, failed, cpu)


def chunk_texts(home: Path) -> list[str]:
    """Every chunk text the pipeline indexed, in insertion order, read from the embedded store."""
    with sqlite3.connect(f"file:{home / 'index.sqlite3'}?mode=ro", uri=True) as db:
        return [row[0] for row in db.execute("SELECT text FROM chunks ORDER BY rowid")]
