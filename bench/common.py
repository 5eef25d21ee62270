"""What every benchmark shares: the SciFact copy, the machine description, the local stack as a child
process (exactly what `make local` runs), percentiles and the results files."""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
DATA = BENCH / "data" / "scifact"
RESULTS = BENCH / "results"
WORK = ROOT / "build" / "bench"  # scratch: per-query runs, logs (build/ is ignored by git)
PYTHON = sys.executable
SEED = 20250601


# -- SciFact ---------------------------------------------------------------------------------------


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def load_corpus(data: Path = DATA) -> list[dict[str, Any]]:
    return read_jsonl(data / "corpus.jsonl")


def load_queries(data: Path = DATA) -> dict[str, str]:
    return {q["_id"]: q["text"] for q in read_jsonl(data / "queries.jsonl")}


def load_qrels(data: Path = DATA) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    lines = (data / "qrels" / "test.tsv").read_text(encoding="utf-8").splitlines()
    for line in lines[1:]:
        if line.strip():
            query_id, corpus_id, score = line.split("\t")
            qrels.setdefault(query_id, {})[corpus_id] = int(score)
    return qrels


def document_text(doc: dict[str, Any]) -> str:
    """What a user would store for a SciFact abstract: the title, a blank line, the abstract."""
    return f"{doc['title']}\n\n{doc['text']}" if doc.get("title") else doc["text"]


@dataclass
class SciFact:
    corpus: list[dict[str, Any]]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]


def scifact(max_docs: int | None = None, max_queries: int | None = None, seed: int = SEED) -> SciFact:
    """The test split, or a reproducible subset: `max_queries` test queries (seeded choice), every
    document they judge relevant, then seeded random other documents up to `max_docs`."""
    corpus, queries, qrels = load_corpus(), load_queries(), load_qrels()
    queries = {q: t for q, t in queries.items() if q in qrels}
    rng = random.Random(seed)
    if max_queries is not None and max_queries < len(queries):
        chosen = sorted(rng.sample(sorted(queries, key=int), max_queries), key=int)
        queries = {q: queries[q] for q in chosen}
        qrels = {q: qrels[q] for q in chosen}
    if max_docs is not None and max_docs < len(corpus):
        needed = {c for judged in qrels.values() for c in judged}
        others = [d["_id"] for d in corpus if d["_id"] not in needed]
        extra = set(rng.sample(others, max(0, max_docs - len(needed))))
        keep = needed | extra
        corpus = [d for d in corpus if d["_id"] in keep]
    return SciFact(corpus, queries, qrels)


# -- the machine -----------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_gib = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    try:
        nproc = int(subprocess.run(["nproc"], capture_output=True, text=True, check=True).stdout)
    except (OSError, ValueError, subprocess.CalledProcessError):
        nproc = os.cpu_count()
    return {
        "nproc": nproc,
        "cpu": cpu,
        "memory_gib": memory_gib,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        # Other work on the machine skews timings: the 1-minute load average when the figures were taken.
        "load_average_1m": round(os.getloadavg()[0], 2),
        "git": git_revision(),
        "code_sha256": code_fingerprint(),
    }


def code_fingerprint() -> str:
    """SHA-256 over chalicelib/, devstack/, app.py and .chalice/config.json as they are on disk, so a
    figure can be tied to the exact code even when it was measured before a commit."""
    import hashlib

    digest = hashlib.sha256()
    paths = sorted([*ROOT.glob("chalicelib/**/*.py"), *ROOT.glob("devstack/*.py")])
    for path in [*paths, ROOT / "app.py", ROOT / ".chalice" / "config.json"]:
        if path.exists():
            digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def git_revision() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "chalicelib", "app.py", "devstack", ".chalice"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        return head + (" (with uncommitted changes)" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def package_versions(*names: str) -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in names:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found


# -- numbers ---------------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100), linear interpolation between closest ranks (numpy's default)."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def r(value: float, digits: int = 2) -> float:
    return round(float(value), digits)


# -- results ---------------------------------------------------------------------------------------


def write_json(path: Path, data: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    temporary.replace(path)
    return path


def publish(results: dict[str, Any], out: Path, started: float) -> dict[str, Any]:
    """Stamp a benchmark's results with its duration and the machine, and write them to `out`."""
    results["bench_seconds"] = r(time.perf_counter() - started, 1)
    results["machine"] = machine()
    write_json(out, results)
    log(f"wrote {out}")
    return results


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# -- the local stack -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def add_stack_env_argument(parser: argparse.ArgumentParser) -> None:
    """--env NAME=VALUE (repeatable): settings for the stack child, which inherits no QUARRY_ variable."""
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra environment for the stack, e.g. QUARRY_RECORD_CONCURRENCY=1",
    )


def stack_env(args: argparse.Namespace) -> dict[str, str]:
    return dict(item.split("=", 1) for item in args.env)


def bench_environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment a benchmark child runs in: offline, moto's dummy credentials, nothing inherited
    that could point it at a real AWS account."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AWS_", "QUARRY_")) and name not in {"PYTHONPATH"}
    }
    env.update(
        {
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra or {})
    return env


@dataclass
class StackProcess:
    """`python -m devstack up` (what `make local` runs) in a child process on free ports, with its own
    QUARRY_HOME and the local stage's adapters (MiniLM, local extractor, SQLite index) unless `env`
    says otherwise. Samples the child's resident memory while it runs."""

    home: Path
    env: dict[str, str] = field(default_factory=dict)
    log_path: Path | None = None
    sample_every_s: float = 0.25

    def __post_init__(self) -> None:
        self.port = free_port()
        self.moto_port = free_port()
        self.api_url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None
        self.peak_rss_bytes = 0
        self._stop_sampling = threading.Event()
        self._sampler: threading.Thread | None = None
        self._log = None

    def start(self, timeout_s: float = 120) -> StackProcess:
        self.home.mkdir(parents=True, exist_ok=True)
        env = bench_environment(
            {
                "QUARRY_AWS_ENDPOINT_URL": f"http://127.0.0.1:{self.moto_port}",
                "QUARRY_HOME": str(self.home),
                "QUARRY_EMBEDDER": "minilm",
                "QUARRY_EXTRACTOR": "local",
                "QUARRY_VECTOR_INDEX": "sqlite",
                # The per-tenant limits (300 uploads a minute) would cap what a benchmark measures at the
                # limiter's rate; bench-auth measures the limiter itself and sets its own.
                "QUARRY_UPLOADS_PER_MINUTE": "0",
                "QUARRY_SEARCHES_PER_MINUTE": "0",
                **self.env,
            }
        )
        log_path = self.log_path or (self.home.parent / f"stack-{self.port}.log")
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = log_path.open("w", encoding="utf-8")
        self.process = subprocess.Popen(
            [PYTHON, "-m", "devstack", "up", "--port", str(self.port)],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self._sampler = threading.Thread(target=self._sample, name="rss-sampler", daemon=True)
        self._sampler.start()
        deadline = time.monotonic() + timeout_s
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"the local stack exited with {self.process.returncode}; see {log_path}")
            try:
                with urllib.request.urlopen(f"{self.api_url}/health", timeout=2) as response:
                    if response.status == 200:
                        return self
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"the local stack did not answer /health in {timeout_s}s; see {log_path}")
            time.sleep(0.2)

    def _processes(self) -> list[Any]:
        """The stack's process, then its children (moto runs in one of its own, devstack/moto_server.py,
        and the model in another); none once it has gone."""
        import psutil

        try:
            stack = psutil.Process(self.process.pid)
            return [stack, *stack.children(recursive=True)]
        except (psutil.Error, AttributeError):
            return []

    def rss_bytes(self) -> int:
        import psutil

        total = 0
        for process in self._processes():
            try:
                total += process.memory_info().rss
            except psutil.Error:
                continue  # a child that exited between the listing and the reading
        return total

    def cpu_seconds(self) -> dict[str, float]:
        """CPU seconds so far of moto's process, of the model's (when the stack runs MiniLM in a process
        of its own), and of the stack's own (API, pollers, worker) with its parser children."""
        import psutil

        used = {"moto": 0.0, "model process": 0.0, "API, pollers and worker": 0.0}
        for n, process in enumerate(self._processes()):
            try:
                role = "API, pollers and worker" if n == 0 else child_role(" ".join(process.cmdline()))
                used[role] += process_cpu_seconds(process)
            except psutil.Error:
                continue  # a child that exited between the listing and the reading
        return used

    def _sample(self) -> None:
        while not self._stop_sampling.wait(self.sample_every_s):
            self.peak_rss_bytes = max(self.peak_rss_bytes, self.rss_bytes())

    def stop(self) -> None:
        self._stop_sampling.set()
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._log:
            self._log.close()
            self._log = None

    def __enter__(self) -> StackProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass(frozen=True)
class CpuReading:
    """CPU seconds used so far (user + system): by each named process tree, and by the whole machine
    (every core's busy time, and the time the hypervisor gave to other guests: steal)."""

    at: float  # time.monotonic()
    processes: dict[str, float]
    machine_busy: float
    machine_steal: float


def process_cpu_seconds(process: Any) -> float:
    """A psutil.Process's CPU seconds, its threads and its children that have exited included."""
    times = process.cpu_times()
    return times.user + times.system + times.children_user + times.children_system


def child_role(command: str) -> str:
    """Which part of the local stack a child process with this command line is."""
    if "devstack.moto_server" in command:
        return "moto"
    if "chalicelib.adapters.model_child" in command:
        return "model process"
    return "API, pollers and worker"


def read_cpu(processes: dict[str, float]) -> CpuReading:
    """The machine's CPU now, beside `processes` (name -> CPU seconds so far)."""
    import psutil

    machine = psutil.cpu_times()
    # Guest time is already inside user and nice, so these five are the busy time.
    busy = sum(getattr(machine, f, 0.0) for f in ("user", "nice", "system", "irq", "softirq"))
    return CpuReading(time.monotonic(), processes, busy, getattr(machine, "steal", 0.0))


def cpu_used(before: CpuReading, after: CpuReading) -> dict[str, Any]:
    """What the machine's cores did between two readings: core-seconds and share of all the cores'
    time, per process tree, the rest of the machine, idle and steal."""
    cores = os.cpu_count() or 1
    capacity = (after.at - before.at) * cores
    processes = {name: after.processes[name] - before.processes.get(name, 0.0) for name in after.processes}
    busy = after.machine_busy - before.machine_busy
    steal = after.machine_steal - before.machine_steal
    rows = {**processes, "rest of the machine": max(busy - sum(processes.values()), 0.0)}
    rows["idle"] = max(capacity - busy - steal, 0.0)
    rows["steal"] = steal
    return {
        "seconds": r(after.at - before.at, 1),
        "cores": cores,
        "core_seconds": {name: r(value, 1) for name, value in rows.items()},
        "share": {name: r(value / capacity, 3) if capacity else 0.0 for name, value in rows.items()},
    }


def scratch_dir(prefix: str) -> Path:
    WORK.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=prefix, dir=WORK))
