"""Run checkov on what the assembled directory will deploy.

    python -m infra.tools.scan build/terraform [--checkov .venv-checkov/bin/checkov]

checkov cannot scan build/terraform as it is: in a directory scan its Terraform runner reads .tf
files only (chalice.tf.json and the override would go unscanned: the Lambda functions, the REST
API, the event source mapping), and it knows nothing of override files. So this scans a view of
the same configuration: the .tf files as they are, and every .tf.json file with the override
files merged into it the way Terraform merges them (infra/tools/tfconfig.py), rendered as HCL.
"//" comment properties of the JSON become `#` comments, which is how the override carries inline
checkov skips (with their reasons) for Chalice's blocks.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.tools import tfconfig, validate

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"

# Keys of the JSON files that are nested blocks in HCL; other objects are map or object values.
BLOCK_KEYS = {
    "environment",
    "vpc_config",
    "tracing_config",
    "logging_config",
    "dead_letter_config",
    "ephemeral_storage",
    "scaling_config",
    "endpoint_configuration",
    "lifecycle",
    "required_providers",
}
MAP_KEYS = {"variables", "tags", "triggers", "inputs"}


class RenderError(ValueError):
    pass


_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"})


def hcl_string(text: str) -> str:
    return '"' + text.translate(_ESCAPES) + '"'


def _whole_expression(text: str) -> bool:
    if not text.startswith("${"):
        return False
    try:
        return validate.scan_expression(text, 2, []) == len(text)
    except tfconfig.ConfigError:
        return False


def hcl_value(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return json.dumps(value)
    if isinstance(value, str):
        if _whole_expression(value):
            return value[2:-1]  # a whole-string expression: render it bare, as HCL would have it
        return hcl_string(value)
    if isinstance(value, list):
        return "[" + ", ".join(hcl_value(v) for v in value) + "]"
    if isinstance(value, dict):
        items = ", ".join(f"{hcl_string(k)} = {hcl_value(v)}" for k, v in value.items())
        return "{ " + items + " }"
    raise RenderError(f"cannot render {value!r}")


def _comments(value: Any, indent: str) -> list[str]:
    lines = value if isinstance(value, list) else str(value).splitlines()
    return [f"{indent}# {line}" for line in lines]


def render_body(body: dict[str, Any], indent: str, parent: str = "") -> list[str]:
    lines: list[str] = []
    if tfconfig.COMMENT_KEY in body:
        lines += _comments(body[tfconfig.COMMENT_KEY], indent)
    for key, value in body.items():
        if key == tfconfig.COMMENT_KEY:
            continue
        if key in BLOCK_KEYS and isinstance(value, (dict, list)) and parent != "required_providers":
            for block in value if isinstance(value, list) else [value]:
                lines.append(f"{indent}{key} {{")
                lines += render_body(block, indent + "  ", key)
                lines.append(f"{indent}}}")
        elif isinstance(value, dict) and key not in MAP_KEYS and parent != "required_providers":
            raise RenderError(f"{key!r}: is it a nested block or a map? Add it to BLOCK_KEYS or MAP_KEYS")
        else:
            lines.append(f"{indent}{key} = {hcl_value(value)}")
    return lines


def render(config: tfconfig.Config, json_files: set[str]) -> str:
    """The blocks of `json_files` (after overrides) as one HCL document."""
    lines = ["# Rendered by infra/tools/scan.py for checkov: .tf.json files with overrides merged."]

    def block(header: str, body: dict[str, Any]) -> None:
        lines.append(f"{header} {{")
        lines.extend(render_body(body, "  "))
        lines.append("}")

    for kind in tfconfig.TWO_LABELS:
        for type_name, named in getattr(config, kind).items():
            for label, entry in named.items():
                if entry.file in json_files:
                    block(f"{kind} {hcl_string(type_name)} {hcl_string(label)}", entry.body)
    for kind in tfconfig.ONE_LABEL:
        for label, entry in getattr(config, kind).items():
            if entry.file in json_files:
                block(f"{kind} {hcl_string(label)}", entry.body)
    local_values = {k: e.body for k, e in config.locals.items() if e.file in json_files}
    if local_values:
        lines.append("locals {")
        lines += [f"  {k} = {hcl_value(v)}" for k, v in local_values.items()]
        lines.append("}")
    for entry in config.terraform:
        if entry.file in json_files:
            block("terraform", entry.body)
    return "\n".join(lines) + "\n"


def scan_view(assembled: Path, view: Path) -> Path:
    """Write the scannable view of `assembled` into `view` (emptied first)."""
    config = validate.validate(assembled)
    files = tfconfig.config_files(assembled)
    json_files = {p.name for p in files if p.name.endswith(".tf.json") and not tfconfig.is_override(p)}
    overridden_hcl = [p.name for p in files if tfconfig.is_override(p) and not p.name.endswith(".tf.json")]
    if overridden_hcl:
        raise RenderError(f"HCL override files are not supported by the scan view: {overridden_hcl}")
    if view.exists():
        shutil.rmtree(view)
    view.mkdir(parents=True)
    for path in files:
        if path.name.endswith(".tf") and not tfconfig.is_override(path):
            shutil.copy2(path, view / path.name)
    (view / "chalice_merged.tf").write_text(render(config, json_files), encoding="utf-8")
    return view


@dataclass
class CheckovResult:
    passed: list[dict[str, Any]]
    failed: list[dict[str, Any]]
    skipped: list[dict[str, Any]]
    parsing_errors: list[str]
    resource_count: int


def run_checkov(directory: Path, checkov: Path = DEFAULT_CHECKOV) -> CheckovResult:
    """checkov's Terraform checks on `directory`, offline (--skip-download)."""
    command = [
        str(checkov),
        "--directory",
        str(directory),
        "--framework",
        "terraform",
        "--skip-download",
        "--output",
        "json",
        "--compact",
    ]
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    try:
        report = json.loads(completed.stdout)
    except json.JSONDecodeError as error:
        raise RuntimeError(f"checkov gave no JSON report:\n{completed.stdout}\n{completed.stderr}") from error
    if isinstance(report, list):  # one report per framework
        report = next(r for r in report if r.get("check_type") == "terraform")
    if "results" not in report:  # checkov's summary-only answer when nothing was scanned
        return CheckovResult([], [], [], [], int(report.get("resource_count", 0)))
    results = report["results"]
    return CheckovResult(
        passed=results.get("passed_checks", []),
        failed=results.get("failed_checks", []),
        skipped=results.get("skipped_checks", []),
        parsing_errors=results.get("parsing_errors", []),
        resource_count=int(report.get("summary", {}).get("resource_count", 0)),
    )


def summary(result: CheckovResult) -> str:
    lines = [
        f"checkov: {len(result.passed)} passed, {len(result.failed)} failed, "
        f"{len(result.skipped)} skipped, {len(result.parsing_errors)} parsing errors "
        f"({result.resource_count} resources)"
    ]
    for check in result.failed:
        lines.append(
            f"  FAILED {check['check_id']} {check['resource']} ({check['file_path']}): {check['check_name']}"
        )
    for check in result.skipped:
        reason = check.get("check_result", {}).get("suppress_comment", "")
        lines.append(f"  skipped {check['check_id']} {check['resource']}: {reason}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("assembled", type=Path, nargs="?", default=ROOT / "build" / "terraform")
    parser.add_argument("--view", type=Path, default=ROOT / "build" / "checkov-view")
    parser.add_argument("--checkov", type=Path, default=DEFAULT_CHECKOV)
    args = parser.parse_args(argv)
    view = scan_view(args.assembled, args.view)
    result = run_checkov(view, args.checkov)
    print(summary(result))
    return 1 if result.failed or result.parsing_errors else 0


if __name__ == "__main__":
    sys.exit(main())
