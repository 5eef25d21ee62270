"""checkov on what build/terraform deploys (infra/tools/scan.py explains the scanned view)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from infra.tools import assemble, scan, tfconfig, validate


def test_checkov_reports_no_failed_check_and_no_parsing_error(checkov_result: scan.CheckovResult) -> None:
    assert checkov_result.parsing_errors == []
    assert [f"{c['check_id']} {c['resource']}" for c in checkov_result.failed] == []
    assert len(checkov_result.passed) > 150


def test_checkov_scanned_chalices_functions_and_api_with_the_override_applied(
    checkov_result: scan.CheckovResult,
) -> None:
    results = checkov_result.passed + checkov_result.skipped
    by_resource: dict[str, set[str]] = {}
    for check in results:
        by_resource.setdefault(check["resource"], set()).add(check["check_id"])
    functions = ("aws_lambda_function.ingest", "aws_lambda_function.api_handler", "aws_lambda_function.sweep")
    for function in functions:
        # Environment encryption and X-Ray come from the override: passing them proves checkov saw
        # the merged blocks, not Chalice's bare ones.
        assert {"CKV_AWS_173", "CKV_AWS_50"} <= {
            c["check_id"]
            for c in checkov_result.passed
            if c["resource"] == function and c["file_path"] == "/chalice_merged.tf"
        }
    assert "aws_api_gateway_rest_api.rest_api" in by_resource
    assert "aws_api_gateway_stage.api" in by_resource


def test_every_skip_carries_its_reason_inline(checkov_result: scan.CheckovResult) -> None:
    assert checkov_result.skipped
    for check in checkov_result.skipped:
        reason = check["check_result"].get("suppress_comment", "")
        assert len(reason.strip()) > 20 and reason != "No comment provided", check["check_id"]


def test_no_skip_comment_is_stale(assembled: Path, checkov_result: scan.CheckovResult) -> None:
    """Each inline skip in infra/*.tf and in the override suppresses a check checkov really runs."""
    written = 0
    for path in assemble.INFRA.glob("*.tf"):
        written += len(re.findall(r"#\s*checkov:skip=", path.read_text()))
    override = json.loads((assembled / assemble.OVERRIDE_FILE).read_text())
    for named in override["resource"].values():
        for body in named.values():
            written += len(body.get("//", []))
    assert written == len(checkov_result.skipped)


def _as_parsed(value: Any, key: str = "") -> Any:
    """A merged JSON body as python-hcl2 reads its HCL rendering: nested blocks become lists."""
    if isinstance(value, dict):
        body = {k: _as_parsed(v, k) for k, v in value.items() if k != tfconfig.COMMENT_KEY}
        return [body] if key in scan.BLOCK_KEYS and key != "required_providers" else body
    if isinstance(value, list):
        return [_as_parsed(v) for v in value]
    return value


def test_the_rendered_view_says_what_the_merged_json_says(assembled: Path, tmp_path: Path) -> None:
    config = validate.validate(assembled)
    scan.scan_view(assembled, tmp_path / "view")
    rendered = tfconfig.parse_file(tmp_path / "view" / "chalice_merged.tf")
    json_files = {"chalice.tf.json", assemble.FACTS_FILE}
    compared = 0
    for type_name, named in config.resource.items():
        for label, entry in named.items():
            if entry.file in json_files:
                assert rendered["resource"][type_name][label] == _as_parsed(entry.body), (
                    f"{type_name}.{label}"
                )
                compared += 1
    for label, entry in config.locals.items():
        if entry.file in json_files:
            assert rendered["locals"][label] == entry.body, label
            compared += 1
    assert compared >= 10
    mapping = rendered["resource"]["aws_lambda_event_source_mapping"]
    assert next(iter(mapping.values()))["function_response_types"] == ["ReportBatchItemFailures"]


def test_make_test_installs_checkov_before_running_the_tests() -> None:
    import subprocess

    database = subprocess.run(
        ["make", "--no-print-directory", "-p", "-n", "-q", "test"],
        cwd=assemble.ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    (rule,) = [line for line in database.splitlines() if line.startswith("test:")]
    assert "checkov-venv" in rule.split(":", 1)[1].split()
    assert str(scan.DEFAULT_CHECKOV.relative_to(assemble.ROOT)) == ".venv-checkov/bin/checkov"
