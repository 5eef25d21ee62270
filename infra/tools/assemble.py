"""Assemble the deployable Terraform directory: Chalice's package plus infra/ plus generated glue.

    python -m infra.tools.assemble --stage prod --out build/terraform

1. `chalice package --pkg-format terraform --stage STAGE` writes chalice.tf.json and
   deployment.zip (it needs a region, AWS_DEFAULT_REGION, and no credentials);
2. infra/*.tf are copied beside them;
3. chalice_facts.tf.json gives infra/ what only the Chalice package knows (local.chalice_* names,
   the worker's timeout and the queue visibility derived from it, and the API's swagger as the
   gateway serves it: with or without the Cognito authorizer and CORS, infra/tools/api_swagger.py);
4. chalice_override.tf.json changes Chalice's blocks where Chalice cannot (see build_override);
5. the directory is checked (infra/tools/tfconfig.py) and a manifest records the generated files
   and their inputs' fingerprint, so tests can tell a stale build and the next assembly replaces
   only its own files (state, tfvars and .terraform/ stay).

Nothing in the output is edited by hand: change this file or infra/*.tf and assemble again.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

from infra.tools import api_swagger, tfconfig, validate

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
FACTS_FILE = "chalice_facts.tf.json"
OVERRIDE_FILE = "chalice_override.tf.json"
MANIFEST_FILE = ".assembled.json"  # what was generated, from which inputs

WORKER = "ingest"
API = "api_handler"
SWEEPER = "sweep"
REAPER = "reap_abandoned"  # app.py's @app.schedule function (chalicelib/reaper.py)
REAPER_RULE = f"{REAPER}-event"  # the schedule rule Chalice writes for it

TERRAFORM_VERSION = ">= 1.5.0, < 2.0.0"
# Provider 6 removed stage_name and stage_description from aws_api_gateway_deployment, which
# chalice.tf.json sets and an override cannot remove: 5.x is the newest major that can apply it.
AWS_PROVIDER_VERSION = ">= 5.100.0, < 6.0.0"

# AWS's guidance for an SQS queue feeding Lambda: visibility timeout at least six times the
# function timeout plus the batching window.
VISIBILITY_FACTOR = 6
SQS_MAX_VISIBILITY_S = 43200

# What the override points the app's settings at (chalicelib/config.py: QUARRY_<FIELD>).
TERRAFORM_ENVIRONMENT = {
    "QUARRY_STAGE": "${local.chalice_stage}",
    "QUARRY_RAW_BUCKET": "${aws_s3_bucket.raw.id}",
    "QUARRY_PROCESSED_BUCKET": "${aws_s3_bucket.processed.id}",
    "QUARRY_DOCUMENTS_TABLE": "${aws_dynamodb_table.documents.name}",
    "QUARRY_INGEST_QUEUE": "${aws_sqs_queue.ingest.name}",
    "QUARRY_DEAD_LETTER_QUEUE": "${aws_sqs_queue.dead_letter.name}",
    "QUARRY_MAX_RECEIVE_COUNT": "${var.max_receive_count}",
    "QUARRY_SWEEP_QUEUE": "${aws_sqs_queue.sweep.name}",
    "QUARRY_SWEEP_DEAD_LETTER_QUEUE": "${aws_sqs_queue.sweep_dead_letter.name}",
    "QUARRY_SWEEP_DELAY_S": "${var.sweep_delay_seconds}",
    "QUARRY_EMBEDDER": "titan",
    "QUARRY_EXTRACTOR": "bedrock",
    "QUARRY_VECTOR_INDEX": "opensearch",
    "QUARRY_OPENSEARCH_ENDPOINT": "${aws_opensearchserverless_collection.vectors.collection_endpoint}",
    "QUARRY_OPENSEARCH_INDEX": "${var.opensearch_index_name}",
    "QUARRY_EXTRACTION_MODEL_ID": "${var.extraction_model_id}",
    "QUARRY_EMBEDDING_MODEL_ID": "${var.embedding_model_id}",
    "QUARRY_EMBEDDING_DIMENSIONS": "${var.embedding_dimensions}",
    "QUARRY_EMBEDDING_CONCURRENCY": "${var.embedding_concurrency}",
    "QUARRY_RECORD_CONCURRENCY": "${var.record_concurrency}",
    "QUARRY_BEDROCK_REGION": "${local.bedrock_region}",
    "POWERTOOLS_SERVICE_NAME": "${local.chalice_app_name}",
}

# Only the API checks tokens and answers browsers (infra/auth.tf says where each value comes from).
API_ENVIRONMENT = {
    "QUARRY_AUTH_ISSUER": "${local.auth_issuer}",
    "QUARRY_AUTH_AUDIENCE": "${local.auth_audience}",
    "QUARRY_AUTH_JWKS_URL": "${local.auth_jwks_url}",
    "QUARRY_AUTH_TOKEN_USE": "${var.auth_token_use}",
    "QUARRY_AUTH_TENANT_CLAIM": "${var.auth_tenant_claim}",
    # The app sets Access-Control-Allow-Origin to this on its own answers (empty: no CORS).
    "QUARRY_WEB_ORIGIN": "${var.web_origin}",
    # POST /answer writes with Claude through Converse; `rerank: true` goes to Bedrock's Rerank API.
    "QUARRY_ANSWERER": "bedrock",
    "QUARRY_ANSWER_MODEL_ID": "${var.answer_model_id}",
    "QUARRY_RERANKER": "${var.reranker}",
    "QUARRY_RERANK_MODEL_ID": "${var.rerank_model_id}",
}

# Only the reaper fails documents no delivery will end (infra/reaper.tf).
REAPER_ENVIRONMENT = {"QUARRY_ABANDONED_AFTER_S": "${var.reaper_abandoned_after_seconds}"}

# What the swagger variants interpolate (infra/auth.tf declares both).
GATEWAY_USER_POOL_ARN = "${local.gateway_user_pool_arn}"
WEB_ORIGIN = "${var.web_origin}"

# checkov findings on Chalice's functions that are decisions, not gaps. They travel in the
# override as "//" comments (Terraform JSON ignores them) inside the block they concern, and the
# checkov scan (infra/tools/scan.py) renders them as inline skip comments.
COMMON_FUNCTION_SKIPS = {
    "CKV_AWS_272": "Code signing needs an AWS Signer profile and a signed artifact in S3; Terraform "
    "uploads the deployment.zip that `chalice package` built in the same run.",
    "CKV_AWS_117": "VPC placement is optional (var.enable_vpc_endpoints); by default the function "
    "reaches only AWS APIs, over TLS with SigV4-signed requests.",
}
FUNCTION_SKIPS = {
    WORKER: {
        **COMMON_FUNCTION_SKIPS,
        "CKV_AWS_116": "Invoked synchronously by the SQS event source mapping: failed messages go "
        "to the ingestion queue's redrive dead-letter queue, never to a function DLQ.",
        "CKV_AWS_115": "Concurrency is capped by the event source's maximum_concurrency "
        "(var.worker_max_concurrency); reserved concurrency would throttle polled batches and "
        "burn their receive counts toward the dead-letter queue.",
    },
    API: {
        **COMMON_FUNCTION_SKIPS,
        "CKV_AWS_116": "Invoked synchronously by API Gateway: there are no asynchronous "
        "invocations to dead-letter.",
    },
    SWEEPER: {
        **COMMON_FUNCTION_SKIPS,
        "CKV_AWS_116": "Invoked synchronously by the SQS event source mapping: failed sweeps go "
        "to the sweep queue's redrive dead-letter queue, never to a function DLQ.",
        "CKV_AWS_115": "Concurrency is capped by the event source's maximum_concurrency "
        "(var.sweep_max_concurrency); reserved concurrency would throttle polled batches and "
        "burn their receive counts toward the dead-letter queue.",
    },
    REAPER: {
        **COMMON_FUNCTION_SKIPS,
        "CKV_AWS_116": "Invoked by its EventBridge schedule with an empty event: each run reads the "
        "catalog afresh and the next run repeats a failed one, so a dead-lettered invocation would "
        "hold nothing to replay; failures alarm (infra/reaper.tf).",
    },
}


class AssemblyError(RuntimeError):
    pass


def skip_comments(skips: dict[str, str]) -> list[str]:
    return [f"checkov:skip={check}:{reason}" for check, reason in sorted(skips.items())]


# --- reading the Chalice package ---------------------------------------------------------------


def _single(document: dict[str, Any], *path: str) -> Any:
    node: Any = document
    for key in path:
        if not isinstance(node, dict) or key not in node:
            raise AssemblyError(f"chalice.tf.json has no {'.'.join(path)}: did Chalice's output change?")
        node = node[key]
    return node


def worker_mapping_name(chalice: dict[str, Any], function: str = WORKER) -> str:
    """The SQS event source mapping of the worker, or of another SQS-fed `function` (Chalice names
    it after the function)."""
    mappings = _single(chalice, "resource", "aws_lambda_event_source_mapping")
    wanted = f"${{aws_lambda_function.{function}.arn}}"
    names = [name for name, body in mappings.items() if body.get("function_name") == wanted]
    if len(names) != 1:
        raise AssemblyError(f"expected one event source mapping for {function}, found {names}")
    return names[0]


def queue_visibility_s(chalice: dict[str, Any], function: str) -> tuple[int, int]:
    """The SQS-fed function's timeout and the visibility timeout its queue needs."""
    body = _single(chalice, "resource", "aws_lambda_function", function)
    mapping = _single(
        chalice, "resource", "aws_lambda_event_source_mapping", worker_mapping_name(chalice, function)
    )
    timeout = int(body["timeout"])
    visibility = VISIBILITY_FACTOR * timeout + int(mapping.get("maximum_batching_window_in_seconds", 0))
    if visibility > SQS_MAX_VISIBILITY_S:
        raise AssemblyError(
            f"a {timeout} s {function} function needs a {visibility} s visibility timeout; SQS allows 12 h"
        )
    return timeout, visibility


def swagger_variant(cognito_authorizer: bool, cors: bool) -> str:
    """The key of local.api_swaggers that infra/auth.tf:local.api_swagger_variant selects."""
    return f"{'cognito' if cognito_authorizer else 'no-authorizer'}/{'cors' if cors else 'no-cors'}"


def swagger_variants(swagger: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The gateway's swagger for each way the stage can be configured. Whether the gateway checks
    tokens and answers CORS depends on variables, which only Terraform knows, while the swagger is
    transformed here: so all four are written, and Terraform picks one (infra/auth.tf)."""
    return {
        swagger_variant(cognito, cors): api_swagger.for_gateway(
            swagger,
            [GATEWAY_USER_POOL_ARN] if cognito else None,
            WEB_ORIGIN if cors else None,
        )
        for cognito in (True, False)
        for cors in (True, False)
    }


def serialize_swagger(swagger: dict[str, Any], chalice_swagger: str) -> str:
    """The swagger as the Terraform template string the REST API's body is: every interpolation
    in it must be Chalice's own or one of ours, and no template directive may appear."""
    text = json.dumps(swagger)
    allowed = set(validate.interpolations(chalice_swagger)) | {
        ref[2:-1] for ref in (GATEWAY_USER_POOL_ARN, WEB_ORIGIN)
    }
    unexpected = set(validate.interpolations(text)) - allowed
    if unexpected or "%{" in text:
        raise AssemblyError(f"the gateway's swagger would interpolate {sorted(unexpected) or '%{'}")
    return text


def build_facts(chalice: dict[str, Any]) -> dict[str, Any]:
    inputs = _single(chalice, "data", "null_data_source", "chalice", "inputs")
    worker = _single(chalice, "resource", "aws_lambda_function", WORKER)
    api = _single(chalice, "resource", "aws_lambda_function", API)
    sweeper = _single(chalice, "resource", "aws_lambda_function", SWEEPER)
    deployment = _single(chalice, "resource", "aws_api_gateway_deployment", "rest_api")
    chalice_swagger = _single(chalice, "locals", "chalice_api_swagger")
    timeout, visibility = queue_visibility_s(chalice, WORKER)
    sweep_timeout, sweep_visibility = queue_visibility_s(chalice, SWEEPER)
    return {
        "//": "Generated by infra/tools/assemble.py from chalice.tf.json; do not edit.",
        "locals": {
            "chalice_app_name": inputs["app"],
            "chalice_stage": inputs["stage"],
            "ingest_function_name": worker["function_name"],
            "api_function_name": api["function_name"],
            "sweep_function_name": sweeper["function_name"],
            "reaper_function_name": _single(chalice, "resource", "aws_lambda_function", REAPER)[
                "function_name"
            ],
            "api_stage_name": deployment["stage_name"],
            "ingest_timeout_seconds": timeout,
            "ingest_queue_visibility_timeout_seconds": visibility,
            "sweep_timeout_seconds": sweep_timeout,
            "sweep_queue_visibility_timeout_seconds": sweep_visibility,
            "api_swaggers": {
                variant: serialize_swagger(swagger, chalice_swagger)
                for variant, swagger in swagger_variants(json.loads(chalice_swagger)).items()
            },
        },
    }


def _function_override(
    chalice: dict[str, Any], name: str, role: str, log_group: str, extra: dict[str, str] | None = None
) -> dict[str, Any]:
    body = _single(chalice, "resource", "aws_lambda_function", name)
    environment = dict(body.get("environment", {}).get("variables", {}))
    environment.update(TERRAFORM_ENVIRONMENT)
    environment.update(extra or {})
    return {
        "//": skip_comments(FUNCTION_SKIPS[name]),
        "role": f"${{terraform_data.{role}.output}}",
        "kms_key_arn": "${aws_kms_key.quarry.arn}",
        "environment": {"variables": environment},
        "tracing_config": {"mode": "${var.lambda_tracing_mode}"},
        "logging_config": {
            "log_format": "Text",
            "log_group": f"${{aws_cloudwatch_log_group.{log_group}.name}}",
        },
        # Both lists empty (the default) means "not in a VPC" to the AWS provider.
        "vpc_config": {
            "subnet_ids": "${local.lambda_subnet_ids}",
            "security_group_ids": "${local.lambda_security_group_ids}",
        },
    }


def build_override(chalice: dict[str, Any]) -> dict[str, Any]:
    """What Chalice's Terraform cannot say:

    - the SQS event source mappings (the worker's and the sweep's) report partial batch failures
      (aws/chalice#2029) and read the queues Terraform creates (not ones looked up by name, which
      races the first apply), with each function's concurrency capped there;
    - the functions get their roles, environment (from Terraform resources), log groups, X-Ray
      tracing, environment encryption and optional VPC placement; the API also gets the sign-in
      settings and the web origin, the reaper a concurrency of one and its schedule rule a per-stage
      name and the rate of var.reaper_interval_minutes;
    - the REST API's swagger is the variant of chalice_facts.tf.json's api_swaggers that the
      variables select (the Cognito authorizer, CORS preflights, gateway responses);
    - the deployment stops creating the stage through its deprecated stage_name (infra/api.tf
      declares the stage), and the endpoint output follows that stage;
    - the REST API says create_before_destroy, which it already gets from Chalice's deployment
      (Terraform propagates it to dependencies) but checkov only sees when it is written;
    - Terraform and the AWS provider are required at current versions, not below 1.4.0 and 5.
    """
    mapping = worker_mapping_name(chalice)
    sweep_mapping = worker_mapping_name(chalice, SWEEPER)
    functions = {
        WORKER: _function_override(chalice, WORKER, "ingest_role", "ingest"),
        API: _function_override(chalice, API, "api_role", "api", API_ENVIRONMENT),
        SWEEPER: _function_override(chalice, SWEEPER, "sweep_role", "sweep"),
    }
    functions[API]["reserved_concurrent_executions"] = "${var.api_reserved_concurrency}"
    functions[REAPER] = _function_override(chalice, REAPER, "reaper_role", "reaper", REAPER_ENVIRONMENT)
    # One reaper at a time: two would only race each other's conditional writes.
    functions[REAPER]["reserved_concurrent_executions"] = 1
    _single(chalice, "resource", "aws_cloudwatch_event_rule", REAPER_RULE)
    return {
        "//": "Generated by infra/tools/assemble.py from chalice.tf.json; do not edit.",
        "terraform": {
            "required_version": TERRAFORM_VERSION,
            "required_providers": {"aws": {"source": "hashicorp/aws", "version": AWS_PROVIDER_VERSION}},
        },
        "resource": {
            "aws_lambda_function": functions,
            "aws_lambda_event_source_mapping": {
                mapping: {
                    "event_source_arn": "${aws_sqs_queue.ingest.arn}",
                    "function_response_types": ["ReportBatchItemFailures"],
                    "scaling_config": {"maximum_concurrency": "${var.worker_max_concurrency}"},
                },
                sweep_mapping: {
                    "event_source_arn": "${aws_sqs_queue.sweep.arn}",
                    "function_response_types": ["ReportBatchItemFailures"],
                    "scaling_config": {"maximum_concurrency": "${var.sweep_max_concurrency}"},
                },
            },
            # Chalice names the rule without the stage, so two stages in one account would share it.
            "aws_cloudwatch_event_rule": {
                REAPER_RULE: {
                    "name": "${local.name}-reap-abandoned",
                    "description": "Runs the Quarry reaper (chalicelib/reaper.py)",
                    "schedule_expression": "${local.reaper_schedule}",
                }
            },
            "aws_api_gateway_rest_api": {"rest_api": {"lifecycle": {"create_before_destroy": True}}},
            "aws_api_gateway_deployment": {
                "rest_api": {
                    "stage_name": None,
                    "stage_description": None,
                    "description": "${md5(local.chalice_api_swagger)}",
                    "triggers": {"redeployment": "${md5(local.chalice_api_swagger)}"},
                }
            },
        },
        "locals": {"chalice_api_swagger": "${local.api_swaggers[local.api_swagger_variant]}"},
        "output": {"EndpointURL": {"value": "${aws_api_gateway_stage.api.invoke_url}"}},
    }


# --- building ----------------------------------------------------------------------------------


def fingerprint(stage: str) -> str:
    """A digest of everything the assembled directory is made from."""
    digest = hashlib.sha256(f"stage={stage}\n".encode())
    paths = [ROOT / "app.py", ROOT / "requirements.txt", ROOT / ".chalice" / "config.json"]
    paths += sorted((ROOT / "chalicelib").rglob("*.py"))
    paths += sorted(INFRA.glob("*.tf"))
    paths += sorted((INFRA / "tools").glob("*.py"))
    for path in paths:
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _manifest(out: Path) -> dict[str, Any]:
    try:
        return json.loads((out / MANIFEST_FILE).read_text())
    except (OSError, ValueError):
        return {}


def is_current(out: Path, stage: str) -> bool:
    return _manifest(out).get("fingerprint") == fingerprint(stage)


def chalice_package(stage: str, out: Path) -> None:
    if not (os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION")):
        raise AssemblyError("set AWS_DEFAULT_REGION: `chalice package` needs a region (no credentials)")
    chalice = Path(sys.executable).with_name("chalice")
    command = [str(chalice) if chalice.exists() else "chalice"]
    command += ["package", "--pkg-format", "terraform", "--stage", stage, str(out)]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise AssemblyError(f"chalice package failed:\n{result.stdout}\n{result.stderr}")


def write_json(path: Path, document: dict[str, Any]) -> None:
    path.write_text(json.dumps(document, indent=2, sort_keys=False) + "\n", encoding="utf-8")


def assemble(stage: str, out: Path) -> Path:
    """Build the deployable directory at `out`; returns it. Raises AssemblyError or ConfigError.

    Files this function did not write (Terraform state, .terraform/, the lock file, *.tfvars, a
    backend file) are kept: only the previous assembly's own files are replaced."""
    out = out.resolve()
    with tempfile.TemporaryDirectory(prefix="quarry-chalice-") as scratch:
        package = Path(scratch) / "package"
        chalice_package(stage, package)
        chalice = json.loads((package / "chalice.tf.json").read_text(encoding="utf-8"))
        staging = Path(scratch) / "terraform"
        staging.mkdir()
        shutil.copy2(package / "chalice.tf.json", staging / "chalice.tf.json")
        shutil.copy2(package / "deployment.zip", staging / "deployment.zip")
        for tf in sorted(INFRA.glob("*.tf")):
            shutil.copy2(tf, staging / tf.name)
        write_json(staging / FACTS_FILE, build_facts(chalice))
        write_json(staging / OVERRIDE_FILE, build_override(chalice))
        validate.validate(staging)
        install(staging, out, {"stage": stage, "fingerprint": fingerprint(stage)})
    return out


def install(staging: Path, out: Path, manifest: dict[str, Any]) -> None:
    """Move the files of `staging` into `out`, first removing the files the previous assembly
    wrote; anything else in `out` stays."""
    generated = sorted(p.name for p in staging.iterdir())
    out.mkdir(parents=True, exist_ok=True)
    for name in _manifest(out).get("files", []):
        (out / name).unlink(missing_ok=True)
    for name in generated:
        shutil.move(str(staging / name), out / name)
    write_json(out / MANIFEST_FILE, {**manifest, "files": generated})


# --- the deployment package --------------------------------------------------------------------

FORBIDDEN_TOP_LEVEL = ("torch", "moto", "pytest", "_pytest", "hypothesis", "sentence_transformers", "tests")


def zip_top_level_sizes(path: Path) -> Counter[str]:
    """Compressed bytes per top-level entry (package or module), dist-info folded into its package."""
    sizes: Counter[str] = Counter()
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            top = info.filename.split("/", 1)[0]
            if top.endswith((".dist-info", ".data")):
                top = top.split("-", 1)[0].lower()
            sizes[top.removesuffix(".py")] += info.compress_size
    return sizes


def forbidden_entries(path: Path) -> list[str]:
    """Entries that must never ship to Lambda: torch, moto, test frameworks, our tests."""
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
    bad = []
    for name in names:
        top = name.split("/", 1)[0].split("-", 1)[0].removesuffix(".py").lower()
        if top in FORBIDDEN_TOP_LEVEL or name == "conftest.py" or name.startswith("chalicelib/tests/"):
            bad.append(name)
    return bad


def report(out: Path) -> str:
    package = out / "deployment.zip"
    sizes = zip_top_level_sizes(package)
    lines = [f"{out}: deployment.zip {package.stat().st_size / 1e6:.1f} MB; largest (compressed):"]
    lines += [f"  {name:28} {size / 1e6:6.2f} MB" for name, size in sizes.most_common(8)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stage", default="prod")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "terraform")
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        out = assemble(args.stage, args.out)
    except (AssemblyError, tfconfig.ConfigError) as error:
        print(f"assemble: {error}", file=sys.stderr)
        return 1
    print(report(out))
    print(f"assembled in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
