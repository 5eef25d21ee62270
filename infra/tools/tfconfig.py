"""Read a Terraform directory without Terraform: parse every file, apply override files.

python-hcl2 parses .tf files and json parses .tf.json; both become Terraform's JSON shape
(resource[type][name], variable[name], locals, ...). Override files are merged the way Terraform
merges them. infra/tools/validate.py checks the result.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Block kinds whose entries are keyed by (type, name) and by name.
TWO_LABELS = ("resource", "data")
ONE_LABEL = ("variable", "output", "module", "provider")
SUPPORTED = {*TWO_LABELS, *ONE_LABEL, "locals", "terraform"}
COMMENT_KEY = "//"  # Terraform JSON ignores this property in any block body.


class ConfigError(ValueError):
    """The directory is not a configuration Terraform would accept."""


@dataclass
class Entry:
    body: Any
    file: str


@dataclass
class Config:
    """A directory's blocks in Terraform's JSON shape: resource[type][name], variable[name], ..."""

    resource: dict[str, dict[str, Entry]] = field(default_factory=dict)
    data: dict[str, dict[str, Entry]] = field(default_factory=dict)
    variable: dict[str, Entry] = field(default_factory=dict)
    output: dict[str, Entry] = field(default_factory=dict)
    module: dict[str, Entry] = field(default_factory=dict)
    provider: dict[str, Entry] = field(default_factory=dict)
    locals: dict[str, Entry] = field(default_factory=dict)
    terraform: list[Entry] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    def resource_body(self, kind: str, name: str) -> dict[str, Any]:
        try:
            return self.resource[kind][name].body
        except KeyError:
            raise KeyError(f"resource {kind}.{name} is not declared") from None

    def resources_of(self, kind: str) -> dict[str, dict[str, Any]]:
        return {name: entry.body for name, entry in self.resource.get(kind, {}).items()}


def is_override(path: Path) -> bool:
    stem = path.name.removesuffix(".json").removesuffix(".tf")
    return stem == "override" or stem.endswith("_override")


def config_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.name.endswith((".tf", ".tf.json")) and p.is_file())


# --- parsing ---------------------------------------------------------------------------------


def parse_file(path: Path) -> dict[str, Any]:
    """One file as Terraform's JSON shape: {"resource": {type: {name: body}}, "locals": {...}, ...}.

    Blocks of the same kind from several places in one file are merged; a name declared twice in
    one file raises ConfigError."""
    text = path.read_text(encoding="utf-8")
    if path.name.endswith(".tf.json"):
        try:
            document = json.loads(text)
        except json.JSONDecodeError as error:
            raise ConfigError(f"{path.name}: not JSON: {error}") from error
        if not isinstance(document, dict):
            raise ConfigError(f"{path.name}: the top level must be an object")
        return _from_json(document, path.name)
    import hcl2
    from hcl2 import SerializationOptions

    try:
        parsed = hcl2.loads(
            text, serialization_options=SerializationOptions(strip_string_quotes=True, with_comments=False)
        )
    except Exception as error:  # python-hcl2 raises lark errors of several kinds
        raise ConfigError(f"{path.name}: not HCL: {error}") from error
    return _from_hcl(_strip_markers(parsed), path.name)


def _strip_markers(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_markers(v) for k, v in value.items() if k != "__is_block__"}
    if isinstance(value, list):
        return [_strip_markers(v) for v in value]
    return value


def blocks(value: Any) -> list[dict[str, Any]]:
    """JSON allows one object or an array of objects where HCL has repeated blocks."""
    if isinstance(value, list):
        return value
    return [value]


def _put(target: dict[str, Any], key: str, body: Any, where: str) -> None:
    if key in target:
        raise ConfigError(f"{where}: {key} is declared twice")
    target[key] = body


def _from_json(document: dict[str, Any], name: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kind, content in document.items():
        if kind == COMMENT_KEY:
            continue
        _check_kind(kind, name)
        if kind == "terraform":
            out.setdefault("terraform", []).extend(blocks(content))
            continue
        for chunk in blocks(content):
            if kind in TWO_LABELS:
                for type_name, named in chunk.items():
                    for label, body in named.items():
                        _put(out.setdefault(kind, {}).setdefault(type_name, {}), label, body, name)
            elif kind == "locals":
                for label, value in chunk.items():
                    if label != COMMENT_KEY:
                        _put(out.setdefault("locals", {}), label, value, name)
            else:
                for label, body in chunk.items():
                    _put(out.setdefault(kind, {}), label, body, name)
    return out


def _from_hcl(parsed: dict[str, Any], name: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kind, blocks in parsed.items():
        _check_kind(kind, name)
        for block in blocks:
            if kind == "terraform":
                out.setdefault("terraform", []).append(block)
            elif kind == "locals":
                for label, value in block.items():
                    _put(out.setdefault("locals", {}), label, value, name)
            elif kind in TWO_LABELS:
                for type_name, named in block.items():
                    for label, body in named.items():
                        _put(out.setdefault(kind, {}).setdefault(type_name, {}), label, body, name)
            else:
                for label, body in block.items():
                    _put(out.setdefault(kind, {}), label, body, name)
    return out


def _check_kind(kind: str, name: str) -> None:
    if kind not in SUPPORTED:
        raise ConfigError(f"{name}: top-level block {kind!r} is not one this checker understands")


# --- loading and merging ---------------------------------------------------------------------


def load(directory: Path) -> Config:
    """Parse every file, then apply override files in name order, as Terraform does."""
    config = Config()
    files = config_files(directory)
    if not files:
        raise ConfigError(f"{directory}: no .tf or .tf.json files")
    overrides = []
    for path in files:
        config.files.append(path.name)
        parsed = parse_file(path)
        if is_override(path):
            overrides.append((path.name, parsed))
        else:
            _add(config, parsed, path.name)
    for name, parsed in overrides:
        _override(config, parsed, name)
    return config


def _add(config: Config, parsed: dict[str, Any], name: str) -> None:
    for kind, content in parsed.items():
        if kind == "terraform":
            config.terraform.extend(Entry(body, name) for body in content)
        elif kind in TWO_LABELS:
            table = getattr(config, kind)
            for type_name, named in content.items():
                for label, body in named.items():
                    existing = table.setdefault(type_name, {})
                    if label in existing:
                        first = existing[label].file
                        raise ConfigError(f"{name}: {kind} {type_name}.{label} is already in {first}")
                    existing[label] = Entry(body, name)
        else:
            table = getattr(config, kind)
            for label, body in content.items():
                if label in table:
                    raise ConfigError(f"{name}: {kind} {label} is already declared in {table[label].file}")
                table[label] = Entry(body, name)


def _override(config: Config, parsed: dict[str, Any], name: str) -> None:
    for kind, content in parsed.items():
        if kind == "terraform":
            for body in content:
                _override_terraform(config, body, name)
        elif kind in TWO_LABELS:
            table = getattr(config, kind)
            for type_name, named in content.items():
                for label, body in named.items():
                    base = table.get(type_name, {}).get(label)
                    if base is None:
                        raise ConfigError(
                            f"{name}: overrides {kind} {type_name}.{label}, which is not declared"
                        )
                    base.body = _merge_body(base.body, body, f"{name}: {type_name}.{label}")
        elif kind == "locals":
            for label, value in content.items():
                if label not in config.locals:
                    raise ConfigError(f"{name}: overrides local.{label}, which is not declared")
                # The value stays where it was declared, as an overridden block does: the scan
                # view renders it with the rest of its file.
                config.locals[label] = Entry(value, config.locals[label].file)
        else:
            table = getattr(config, kind)
            for label, body in content.items():
                if label not in table:
                    raise ConfigError(f"{name}: overrides {kind} {label}, which is not declared")
                table[label].body = _merge_body(table[label].body, body, f"{name}: {kind} {label}")


def _merge_body(base: dict[str, Any], override: dict[str, Any], where: str) -> dict[str, Any]:
    """Terraform's rules: each argument replaces the base's; a nested block type replaces all base
    blocks of that type; lifecycle merges argument by argument; depends_on is refused."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if key == "depends_on":
            raise ConfigError(f"{where}: an override cannot set depends_on")
        if key == "lifecycle":
            lifecycle: dict[str, Any] = {}
            for block in blocks(merged.get("lifecycle", {})) + blocks(value):
                lifecycle.update(block)
            merged["lifecycle"] = lifecycle
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _override_terraform(config: Config, body: dict[str, Any], name: str) -> None:
    if not config.terraform:
        raise ConfigError(f"{name}: overrides a terraform block, but there is none")
    for key, value in body.items():
        if key == "required_providers":
            wanted = {k: v for block in blocks(value) for k, v in block.items()}
            declared = [e for e in config.terraform if "required_providers" in e.body]
            for provider, requirement in wanted.items():
                owners = [
                    e for e in declared if any(provider in b for b in blocks(e.body["required_providers"]))
                ]
                if not owners:
                    raise ConfigError(f"{name}: overrides provider requirement {provider!r}, not declared")
                for owner in owners:
                    requirements = blocks(owner.body["required_providers"])
                    for block in requirements:
                        if provider in block:
                            block[provider] = copy.deepcopy(requirement)
                    single = len(requirements) == 1
                    owner.body["required_providers"] = requirements[0] if single else requirements
        else:
            for entry in config.terraform:
                entry.body[key] = copy.deepcopy(value)
