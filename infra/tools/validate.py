"""Check a Terraform directory without Terraform: the stand-in for `terraform validate`.

No library validates Terraform offline (`terraform validate` needs the binary and the providers'
schemas, and neither can be installed on our machines), so this is a small hand-written stand-in
for the part of that job that needs no provider schema:

- every `.tf` (python-hcl2) and `.tf.json` (json) file parses;
- no block is declared twice, and every block of an override file overrides an existing one,
  without `depends_on` (Terraform rejects it there);
- after the overrides are merged the way Terraform merges them, every reference (`var.*`,
  `local.*`, `data.*`, resources, `module.*`) names a declared block, and a counted resource is
  referenced with an index while a single one is not;
- every variable has a type and a description.

It does not know which arguments a resource type accepts, nor evaluate expressions.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.tools.tfconfig import COMMENT_KEY, ONE_LABEL, TWO_LABELS, Config, ConfigError, blocks, load

# Roots of references that name no block.
BUILTIN_ROOTS = {"each", "count", "self", "path", "terraform"}


# --- references ------------------------------------------------------------------------------

_IDENT = r"[A-Za-z_][A-Za-z0-9_-]*"
_TRAVERSAL = re.compile(rf"(?<![\w.\])\-])({_IDENT})\s*\.\s*({_IDENT})(?:\s*\.\s*({_IDENT}))?")
_FOR = re.compile(rf"\bfor\s+({_IDENT})(?:\s*,\s*({_IDENT}))?\s+in\b")


def interpolations(text: str) -> list[str]:
    """The expressions in a template string, quoted strings inside them blanked out and listed on
    their own (they may hold templates too)."""
    found: list[str] = []
    i = 0
    while True:
        j = text.find("${", i)
        if j < 0:
            return found
        if j > 0 and text[j - 1] == "$":  # "$${" is an escaped literal
            i = j + 2
            continue
        i = scan_expression(text, j + 2, found)


def scan_expression(text: str, pos: int, found: list[str]) -> int:
    depth, out, i = 0, [], pos
    while i < len(text):
        c = text[i]
        if c == '"':
            i = _scan_quoted(text, i + 1, found)
            out.append('""')
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            if depth == 0:
                found.append("".join(out))
                return i + 1
            depth -= 1
        out.append(c)
        i += 1
    raise ConfigError(f"unterminated interpolation in {text!r}")


def _scan_quoted(text: str, pos: int, found: list[str]) -> int:
    i = pos
    while i < len(text):
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == '"':
            return i + 1
        if text.startswith("${", i) and text[i - 1] != "$":
            i = scan_expression(text, i + 2, found)
            continue
        i += 1
    raise ConfigError(f"unterminated string in {text!r}")


@dataclass(frozen=True)
class Reference:
    kind: str  # var, local, data, module, resource
    address: str  # e.g. aws_s3_bucket.raw, data.aws_region.current, var.tags
    indexed: bool  # followed by [ ... ]
    where: str
    whole: bool = False  # in depends_on, which names whole resources
    attribute: bool = False  # followed directly by .attribute


def references(
    value: Any, where: str, iterators: frozenset[str] = frozenset(), whole: bool = False
) -> Iterator[Reference]:
    """Every reference in a block body (or any value), with dynamic-block iterators in scope."""
    if isinstance(value, str):
        for expression in interpolations(value):
            yield from _expression_references(expression, where, iterators, whole)
    elif isinstance(value, list):
        for item in value:
            yield from references(item, where, iterators, whole)
    elif isinstance(value, dict):
        for key, item in value.items():
            if key == COMMENT_KEY:
                continue
            if key == "dynamic":
                for block in blocks(item):
                    for label, body in block.items():
                        iterator = body.get("iterator", label) if isinstance(body, dict) else label
                        yield from references(body, where, iterators | {iterator}, whole)
            else:
                yield from references(item, where, iterators, whole or key == "depends_on")


def _expression_references(
    expression: str, where: str, iterators: frozenset[str], whole: bool
) -> Iterator[Reference]:
    scope = set(iterators)
    for match in _FOR.finditer(expression):
        scope.update(name for name in match.groups() if name)
    for match in _TRAVERSAL.finditer(expression):
        root, second, third = match.groups()
        if root in BUILTIN_ROOTS or root in scope:
            continue
        after = expression[match.end() :].lstrip()
        if root in ("var", "local", "module"):
            yield Reference(root, f"{root}.{second}", after.startswith("["), where, whole)
        elif root == "data":
            if third is None:
                yield Reference("data", f"data.{second}", False, where, whole)
            else:
                yield Reference(
                    "data",
                    f"data.{second}.{third}",
                    after.startswith("["),
                    where,
                    whole,
                    after.startswith("."),
                )
        else:
            # A resource: TYPE.NAME; what follows NAME tells an instance ([...]) from an attribute.
            after_name = expression[match.start(2) + len(second) :].lstrip()
            yield Reference(
                "resource",
                f"{root}.{second}",
                after_name.startswith("["),
                where,
                whole,
                after_name.startswith("."),
            )


# --- validation ------------------------------------------------------------------------------


def _counted(body: Any) -> bool:
    return isinstance(body, dict) and ("count" in body or "for_each" in body)


def all_references(config: Config) -> Iterator[Reference]:
    for kind in TWO_LABELS:
        for type_name, named in getattr(config, kind).items():
            for label, entry in named.items():
                prefix = "data." if kind == "data" else ""
                yield from references(entry.body, f"{entry.file}: {prefix}{type_name}.{label}")
    for kind in ONE_LABEL:
        for label, entry in getattr(config, kind).items():
            yield from references(entry.body, f"{entry.file}: {kind} {label}")
    for label, entry in config.locals.items():
        yield from references(entry.body, f"{entry.file}: local.{label}")
    for entry in config.terraform:
        yield from references(entry.body, f"{entry.file}: terraform")


def problems(config: Config) -> list[str]:
    """Everything `terraform validate` would also reject that can be told without provider schemas."""
    found: list[str] = []
    for ref in all_references(config):
        problem = _resolve(config, ref)
        if problem:
            found.append(f"{ref.where}: {problem}")
    for label, entry in config.variable.items():
        body = entry.body if isinstance(entry.body, dict) else {}
        if "type" not in body:
            found.append(f"{entry.file}: variable {label} has no type")
        if not str(body.get("description", "")).strip():
            found.append(f"{entry.file}: variable {label} has no description")
    for label, entry in config.output.items():
        if not isinstance(entry.body, dict) or "value" not in entry.body:
            found.append(f"{entry.file}: output {label} has no value")
    return found


def _resolve(config: Config, ref: Reference) -> str | None:
    if ref.kind == "var":
        name = ref.address.split(".", 1)[1]
        return None if name in config.variable else f"{ref.address} is not a declared variable"
    if ref.kind == "local":
        name = ref.address.split(".", 1)[1]
        return None if name in config.locals else f"{ref.address} is not a declared local value"
    if ref.kind == "module":
        name = ref.address.split(".", 1)[1]
        return None if name in config.module else f"{ref.address} is not a declared module"
    if ref.kind == "data":
        parts = ref.address.split(".")
        if len(parts) != 3:
            return f"{ref.address} does not name a data source (data.TYPE.NAME)"
        entry = config.data.get(parts[1], {}).get(parts[2])
        if entry is None:
            return f"{ref.address} is not a declared data source"
        return _instance_problem(ref, entry.body)
    type_name, label = ref.address.split(".")
    entry = config.resource.get(type_name, {}).get(label)
    if entry is None:
        return f"{ref.address} is not a declared resource"
    return _instance_problem(ref, entry.body)


def _instance_problem(ref: Reference, body: Any) -> str | None:
    if ref.whole:
        return None
    # A counted resource may be used whole (for_each = it, length(it)), but its attributes only
    # through an instance: aws_x.y.id is "Missing resource instance key" to Terraform.
    if _counted(body) and ref.attribute:
        return f"{ref.address} has count or for_each: select an instance"
    if not _counted(body) and ref.indexed:
        return f"{ref.address} has no count or for_each: it cannot be indexed"
    return None


def validate(directory: Path) -> Config:
    """Load and check a directory; ConfigError lists every problem found."""
    config = load(directory)
    found = problems(config)
    if found:
        raise ConfigError("\n".join(found))
    return config
