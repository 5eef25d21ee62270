"""Cold start and package size: what a Lambda pays before its first request.

1. Import time of app.py under the `prod` stage's configuration (.chalice/config.json: Titan, Bedrock,
   OpenSearch) in a fresh interpreter with no AWS credentials: `import app` timed inside the child, and
   the whole child process (interpreter start to exit) timed outside. Median of `runs` runs after one
   warm-up, with the bytecode cache as it is; then the same with an empty bytecode cache each run
   (-X pycache_prefix pointing at a new directory), which is the Lambda case when the package ships no
   .pyc files. One more run with -X importtime lists the slowest imports, and a guarded run checks
   that the import loads nothing heavy and opens no socket.
2. deployment.zip from `make package` (infra/) when that target exists, else from plain
   `chalice package --stage prod`.

python -m bench.cold [--runs 7] [--no-package] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

from bench.common import PYTHON, RESULTS, ROOT, log, median, publish, r

DEFAULT_OUT = RESULTS / "cold.json"

# Modules that must not load when app.py is imported: the model stack, NumPy, the OpenSearch client.
HEAVY_MODULES = (
    "torch",
    "sentence_transformers",
    "transformers",
    "numpy",
    "opensearchpy",
    "yake_rust",
    "moto",
)

# Runs in the child. Refuses every outbound connection and name lookup, and reports the attempts.
CHILD = r"""
import json, socket, sys, time
attempts = []
if GUARD:
    def refuse(kind):
        def call(*args, **kwargs):
            attempts.append(f"{kind}{args[1:3] if kind == 'connect' else args[:2]!r}")
            raise OSError(f"{kind} refused by the cold-start benchmark")
        return call
    socket.socket.connect = refuse("connect")
    socket.socket.connect_ex = refuse("connect")
    socket.create_connection = refuse("create_connection")
    socket.getaddrinfo = refuse("getaddrinfo")
before = set(sys.modules)
started, cpu_started = time.perf_counter(), time.process_time()
import app
elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
loaded = sorted(set(sys.modules) - before)
print(json.dumps({
    "import_s": elapsed,
    "import_cpu_s": cpu,
    "modules": len(loaded),
    "heavy": [m for m in HEAVY if m in sys.modules],
    "attempts": attempts,
    "top_level": sorted({m.split(".")[0] for m in loaded}),
}))
"""


def prod_environment() -> dict[str, str]:
    """The prod stage's variables as Lambda would set them, and no credentials of any kind."""
    from devstack.stage import stage_environment

    keep = ("PATH", "LANG", "LC_ALL", "HOME", "TMPDIR")
    env = {name: os.environ[name] for name in keep if name in os.environ}
    env.update(stage_environment("prod"))
    env.update({"AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1", "PYTHONHASHSEED": "0"})
    return env


def import_once(guard: bool = False, flags: tuple[str, ...] = ()) -> dict[str, Any]:
    code = CHILD.replace("GUARD", repr(guard)).replace("HEAVY", repr(HEAVY_MODULES))
    started = time.perf_counter()
    done = subprocess.run(
        [PYTHON, *flags, "-c", code], cwd=ROOT, env=prod_environment(), capture_output=True, text=True
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"importing app.py under prod failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["process_s"] = wall
    result["stderr"] = done.stderr
    return result


def import_profile(stderr: str, top: int = 12) -> dict[str, Any]:
    """From -X importtime's report (post-order, two spaces of indent per level): the direct imports of
    app.py by cumulative time, and the self time of app.py's whole import tree summed per top-level
    package."""
    rows = []
    for line in stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \| ( *)(\S+)", line)
        if match:
            self_us, cumulative_us, indent, name = match.groups()
            rows.append((len(indent) // 2, name, int(self_us), int(cumulative_us)))
    end = next((i for i, row in enumerate(rows) if row[0] == 0 and row[1] == "app"), None)
    if end is None:
        return {}
    start = end
    while start > 0 and rows[start - 1][0] > 0:
        start -= 1
    tree = rows[start:end]
    direct = sorted((row for row in tree if row[0] == 1), key=lambda row: -row[3])
    by_package: dict[str, int] = {}
    for _, name, self_us, _ in tree:
        package = name.split(".")[0]
        by_package[package] = by_package.get(package, 0) + self_us
    return {
        "app_cumulative_ms": r(rows[end][3] / 1000, 1),
        "direct_imports_ms": {name: r(cum / 1000, 1) for _, name, _, cum in direct[:top]},
        "self_time_by_package_ms": {
            name: r(us / 1000, 1) for name, us in sorted(by_package.items(), key=lambda i: -i[1])[:top]
        },
    }


def cold_start(runs: int) -> dict[str, Any]:
    import_once()  # warm-up: the bytecode cache and the page cache as a second start would find them
    warm = [import_once() for _ in range(runs)]
    no_pyc = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory(prefix="quarry-pycache-") as prefix:
            no_pyc.append(import_once(flags=("-X", f"pycache_prefix={prefix}")))
    profile = import_once(flags=("-X", "importtime"))
    guarded = import_once(guard=True)
    return {
        "runs": runs,
        "import_app_ms": r(median(x["import_s"] for x in warm) * 1000, 1),
        "import_app_runs_ms": [r(x["import_s"] * 1000, 1) for x in warm],
        # CPU time (user + system) of the import: what a busy machine's scheduler cannot inflate.
        "import_app_cpu_ms": r(median(x["import_cpu_s"] for x in warm) * 1000, 1),
        "process_ms": r(median(x["process_s"] for x in warm) * 1000, 1),
        "import_app_no_bytecode_ms": r(median(x["import_s"] for x in no_pyc) * 1000, 1),
        "process_no_bytecode_ms": r(median(x["process_s"] for x in no_pyc) * 1000, 1),
        "modules_loaded": guarded["modules"],
        "heavy_modules_loaded": guarded["heavy"],
        "socket_attempts": guarded["attempts"],
        "top_level_packages": guarded["top_level"],
        "import_profile": import_profile(profile["stderr"]),
        "goal_ms": 300,
    }


def has_make_target(target: str) -> bool:
    done = subprocess.run(["make", "-n", target], cwd=ROOT, capture_output=True, text=True)
    return done.returncode == 0


def find_zip(newer_than: float) -> Path | None:
    """The deployment.zip `make package` wrote (build/terraform/ in infra/infra.mk), found under build/."""
    found = [p for p in (ROOT / "build").rglob("deployment.zip") if p.stat().st_mtime >= newer_than - 1]
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


def package_size() -> dict[str, Any]:
    started = time.time()
    if has_make_target("package"):
        how = "make package"
        # chalice package asks for a region, never for credentials (infra/infra.mk).
        env = {**os.environ, "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1")}
        done = subprocess.run(["make", "package"], cwd=ROOT, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            return {"how": how, "error": done.stdout[-2000:] + done.stderr[-2000:]}
        path = find_zip(started)
        if path is None:
            return {"how": how, "error": "make package wrote no deployment.zip under the repository"}
        return {"how": how, **zip_summary(path), "seconds": r(time.time() - started, 1)}
    how = "chalice package --stage prod (plain; infra/'s `make package` not present yet)"
    with tempfile.TemporaryDirectory(prefix="quarry-package-") as out:
        chalice = Path(PYTHON).with_name("chalice")
        done = subprocess.run(
            [str(chalice), "package", "--stage", "prod", str(Path(out) / "package")],
            cwd=ROOT,
            env={**os.environ, "AWS_DEFAULT_REGION": "us-east-1"},
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            return {"how": how, "error": done.stdout[-2000:] + done.stderr[-2000:]}
        path = Path(out) / "package" / "deployment.zip"
        summary = zip_summary(path)
        kept = ROOT / "build" / "bench" / "deployment.zip"
        kept.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, kept)
    return {"how": how, **summary, "seconds": r(time.time() - started, 1)}


def zip_summary(path: Path) -> dict[str, Any]:
    size = path.stat().st_size
    by_top: dict[str, list[int]] = {}
    with zipfile.ZipFile(path) as archive:
        infos = archive.infolist()
        for info in infos:
            top = info.filename.split("/")[0]
            sizes = by_top.setdefault(top, [0, 0])
            sizes[0] += info.compress_size
            sizes[1] += info.file_size
    largest = sorted(by_top.items(), key=lambda item: -item[1][0])[:12]
    return {
        "path": str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else path.name,
        "bytes": size,
        "mb": r(size / 1e6, 2),
        "files": len(infos),
        "uncompressed_mb": r(sum(i.file_size for i in infos) / 1e6, 2),
        "largest_entries_mb": {name: r(compressed / 1e6, 2) for name, (compressed, _) in largest},
        "goal_mb": 20,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--no-package", action="store_true", help="skip the deployment package")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    results: dict[str, Any] = {"command": "make bench-cold (python -m bench.cold)"}
    results["cold_start"] = cold = cold_start(args.runs)
    log(
        f"import app (prod): median {cold['import_app_ms']} ms over {args.runs} runs"
        f" (process {cold['process_ms']} ms; without bytecode {cold['import_app_no_bytecode_ms']} ms);"
        f" heavy modules: {cold['heavy_modules_loaded'] or 'none'};"
        f" connections: {cold['socket_attempts'] or 'none'}"
    )
    if args.no_package:
        results["package"] = {"how": "skipped (--no-package)"}
    else:
        results["package"] = package = package_size()
        if "error" in package:
            log(f"package: {package['how']} failed: {package['error'][-500:]}")
        else:
            log(f"deployment.zip ({package['how']}): {package['mb']} MB, {package['files']} files")
    results["python_executable"] = sys.executable
    return publish(results, args.out, started)


if __name__ == "__main__":
    main()
