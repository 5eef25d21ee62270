"""The import rules of the layout, read from the source with `ast` (README "Layout"):

- model and ports import nothing of ours (ports only the model);
- adapters import only ports, model, the extraction vocabulary, the usage meter, the child-process
  starter and each other;
- services never import adapters or Chalice, directly or through another module of ours;
- nothing in chalicelib imports app, devstack, bench, tests or infra;
- os.environ is read only in chalicelib/config.py.

Imports under `if TYPE_CHECKING:` are type hints, not dependencies, and are left out.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("ingest", "search", "documents", "lifecycle", "worker", "sweeps", "answers")
# chalicelib.usage: the usage meter adapters count tokens into (standard library only, like the model);
# chalicelib.child_process: how a child process is started (standard library only), for the model's.
ADAPTER_MAY_IMPORT = (
    "chalicelib.ports",
    "chalicelib.model",
    "chalicelib.extraction",
    "chalicelib.usage",
    "chalicelib.child_process",
    "chalicelib.adapters",
)
OUTSIDE_THE_PACKAGE = ("app", "devstack", "bench", "tests", "infra")


@dataclass(frozen=True)
class Imports:
    modules: frozenset[str]  # every module named by an import statement (and `from X import y` as X.y too)
    reads_environ: bool


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking_block(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def read_imports(path: Path, package: str) -> Imports:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = {id(n) for block in ast.walk(tree) if _is_type_checking_block(block) for n in ast.walk(block)}
    modules: set[str] = set()
    reads_environ = False
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against this module's package
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            modules.add(base)
            modules.update(f"{base}.{alias.name}" for alias in node.names)
            if base == "os" and any(alias.name in ("environ", "getenv") for alias in node.names):
                reads_environ = True
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "os":
            reads_environ = reads_environ or node.attr in ("environ", "getenv", "putenv", "unsetenv")
    return Imports(frozenset(modules), reads_environ)


def scan(root: Path) -> dict[str, Imports]:
    found = {}
    for path in sorted((root / "chalicelib").rglob("*.py")):
        name = module_name(path, root)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found[name] = read_imports(path, package)
    return found


def _ours(modules: frozenset[str], known: dict[str, Imports]) -> set[str]:
    return {m for m in modules if m in known}


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def reachable(start: str, graph: dict[str, Imports]) -> set[str]:
    """Every module, ours or not, that importing `start` can import through modules of ours."""
    seen: set[str] = set()
    todo = [start]
    while todo:
        current = todo.pop()
        for imported in graph[current].modules:
            if imported not in seen:
                seen.add(imported)
                if imported in graph:
                    todo.append(imported)
    return seen


def violations(graph: dict[str, Imports]) -> list[str]:
    found: list[str] = []
    for name, imports in graph.items():
        ours = _ours(imports.modules, graph)
        if name == "chalicelib.usage" and ours:
            found.append(f"{name} imports {sorted(ours)}: the usage meter imports nothing of ours")
        if name == "chalicelib.model" and ours:
            found.append(f"{name} imports {sorted(ours)}: the model imports nothing of ours")
        if name == "chalicelib.ports" and ours - {"chalicelib.model"}:
            found.append(f"{name} imports {sorted(ours - {'chalicelib.model'})}: ports import only the model")
        if _under(name, "chalicelib.adapters"):
            wrong = sorted(m for m in ours if not any(_under(m, a) for a in ADAPTER_MAY_IMPORT))
            if wrong:
                found.append(f"{name} imports {wrong}: adapters import only ports, model, extraction")
        if name.split(".")[-1] in SERVICES and name.count(".") == 1:
            closure = reachable(name, graph)
            adapters = sorted(m for m in closure if _under(m, "chalicelib.adapters"))
            chalice = sorted(m for m in closure if _under(m, "chalice"))
            if adapters:
                found.append(f"{name} reaches {adapters}: services know adapters only as ports")
            if chalice:
                found.append(f"{name} reaches {chalice}: services never import Chalice")
        outside = sorted(m for m in imports.modules for o in OUTSIDE_THE_PACKAGE if _under(m, o))
        if outside:
            found.append(f"{name} imports {outside}: chalicelib is deployed alone")
        if imports.reads_environ and name != "chalicelib.config":
            found.append(f"{name} touches os.environ: settings are read in chalicelib/config.py only")
    return found


def test_the_package_keeps_its_import_rules() -> None:
    assert violations(scan(ROOT)) == []


def test_every_service_module_exists() -> None:
    # A renamed service would silently drop out of the rules above.
    graph = scan(ROOT)
    missing = [s for s in SERVICES if f"chalicelib.{s}" not in graph]
    assert missing == []


@pytest.mark.parametrize(
    ("path", "source", "expected"),
    [
        ("chalicelib/model.py", "from chalicelib.ports import Catalog\n", "the model imports nothing"),
        ("chalicelib/ports.py", "from chalicelib.config import Settings\n", "ports import only the model"),
        ("chalicelib/adapters/x.py", "from chalicelib.config import Settings\n", "adapters import only"),
        ("chalicelib/adapters/x.py", "from chalicelib import bootstrap\n", "adapters import only"),
        ("chalicelib/search.py", "from chalicelib.adapters.x import X\n", "services know adapters"),
        ("chalicelib/search.py", "from chalicelib import helper\n", "services never import Chalice"),
        ("chalicelib/helper.py", "import devstack.cloud\n", "chalicelib is deployed alone"),
        ("chalicelib/helper.py", "from tests.fakes import F\n", "chalicelib is deployed alone"),
        ("chalicelib/helper.py", "import os\nx = os.environ.get('A')\n", "touches os.environ"),
        ("chalicelib/helper.py", "from os import getenv\n", "touches os.environ"),
    ],
)
def test_each_rule_fails_when_broken(tmp_path: Path, path: str, source: str, expected: str) -> None:
    base = {
        "chalicelib/__init__.py": "",
        "chalicelib/model.py": "import enum\n",
        "chalicelib/ports.py": "from chalicelib.model import Thing\n",
        "chalicelib/config.py": "import os\nx = os.environ\n",
        "chalicelib/adapters/__init__.py": "",
        "chalicelib/adapters/x.py": "from chalicelib.ports import Catalog\n",
        "chalicelib/search.py": "from chalicelib.ports import Catalog\n",
        "chalicelib/helper.py": "from chalice import Response\n",
    }
    clean = scan_tree(tmp_path / "clean", base)
    assert violations(clean) == []
    broken = scan_tree(tmp_path / "broken", {**base, path: source})
    assert any(expected in v for v in violations(broken)), violations(broken)


def test_type_checking_imports_are_not_dependencies(tmp_path: Path) -> None:
    graph = scan_tree(
        tmp_path,
        {
            "chalicelib/__init__.py": "",
            "chalicelib/search.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
            "    from chalicelib.adapters.x import X\n",
            "chalicelib/adapters/__init__.py": "",
            "chalicelib/adapters/x.py": "",
        },
    )
    assert violations(graph) == []


def scan_tree(root: Path, files: dict[str, str]) -> dict[str, Imports]:
    for relative, text in files.items():
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    return scan(root)
