"""The assembled build/terraform: what `terraform apply` would deploy, checked without Terraform."""

from __future__ import annotations

import fnmatch
import inspect
import json
import re
import zipfile
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest

from chalicelib.adapters.dynamo_catalog import TTL_ATTRIBUTE, table_definition
from chalicelib.adapters.dynamo_rate_limiter import DynamoRateLimiter
from chalicelib.config import Settings
from chalicelib.keys import processed_key
from chalicelib.model import DocumentRecord
from devstack.cloud import event_pattern
from infra.tools import assemble, tfconfig, validate

WORKER, API, SWEEPER, REAPER = assemble.WORKER, assemble.API, assemble.SWEEPER, assemble.REAPER
CHALICE_STAGES = json.loads((assemble.ROOT / ".chalice" / "config.json").read_text())["stages"]


_SIMPLE_REFERENCE = re.compile(r"\$\{(local|var)\.(\w+)\}")


def resolve(config: tfconfig.Config, value: Any) -> Any:
    """A literal, with plain `${local.x}` / `${var.x}` references followed to their values
    (a variable's default); other expressions are left as they are."""
    if not isinstance(value, str):
        return value

    def lookup(kind: str, name: str) -> Any:
        if kind == "local":
            return resolve(config, config.locals[name].body)
        return resolve(config, config.variable[name].body.get("default"))

    if match := _SIMPLE_REFERENCE.fullmatch(value):
        return lookup(*match.groups())
    return _SIMPLE_REFERENCE.sub(lambda m: str(lookup(*m.groups())), value)


def version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.strip().split("."))


def admits(constraints: str, version: str) -> bool:
    """Whether a Terraform version constraint string admits `version` (>=, >, <=, <, =, !=, ~>)."""
    wanted = version_tuple(version)
    for constraint in constraints.split(","):
        op, bound = re.fullmatch(r"\s*(>=|<=|~>|!=|>|<|=)?\s*([\d.]+)\s*", constraint).groups()
        limit = version_tuple(bound)
        padded = limit + (0,) * (len(wanted) - len(limit))
        ok = {
            ">=": wanted >= padded,
            ">": wanted > padded,
            "<=": wanted <= padded,
            "<": wanted < padded,
            "!=": wanted != padded,
            None: wanted == padded,
            "=": wanted == padded,
            "~>": wanted >= padded and wanted[: len(limit) - 1] == limit[: len(limit) - 1],
        }[op]
        if not ok:
            return False
    return True


def policy_statements(config: tfconfig.Config, document: str) -> list[dict[str, Any]]:
    body = config.data["aws_iam_policy_document"][document].body
    statements = list(body.get("statement", []))
    for dynamic in body.get("dynamic", []):
        for block in dynamic.get("statement", {}).get("content", []):
            statements.append(block)
    return statements


def identity_policies(config: tfconfig.Config) -> dict[str, list[dict[str, Any]]]:
    """The policy documents attached to roles, by role policy name."""
    found = {}
    for name, body in config.resources_of("aws_iam_role_policy").items():
        match = re.fullmatch(r"\$\{data\.aws_iam_policy_document\.(\w+)\.json\}", body["policy"])
        assert match, f"role policy {name} should come from an aws_iam_policy_document"
        found[name] = policy_statements(config, match.group(1))
    return found


def resources_of(statement: dict[str, Any]) -> list[str]:
    resources = statement["resources"]
    return [resources] if isinstance(resources, str) else resources


def actions_on(statements: list[dict[str, Any]], resource_fragment: str) -> set[str]:
    return {
        action
        for statement in statements
        if any(resource_fragment in r for r in resources_of(statement))
        for action in statement["actions"]
    }


# --- the directory ------------------------------------------------------------------------------


def test_every_file_parses_and_the_assembly_is_complete(assembled: Path) -> None:
    files = {p.name for p in tfconfig.config_files(assembled)}
    infra = {p.name for p in (assemble.INFRA).glob("*.tf")}
    assert infra <= files
    assert {"chalice.tf.json", assemble.FACTS_FILE, assemble.OVERRIDE_FILE} <= files
    assert assemble.OVERRIDE_FILE.endswith("_override.tf.json")
    for name in files:
        parsed = tfconfig.parse_file(assembled / name)
        assert parsed, f"{name} parsed to nothing"
    assert (assembled / "deployment.zip").is_file()


def test_every_reference_resolves_and_every_variable_is_typed_and_described(assembled: Path) -> None:
    config = tfconfig.load(assembled)
    assert validate.problems(config) == []
    assert len(list(validate.all_references(config))) > 200
    for name, entry in config.variable.items():
        assert entry.body["type"], name
        assert len(entry.body["description"]) > 10, name


def test_the_override_only_targets_chalice_blocks(assembled: Path) -> None:
    chalice = tfconfig.parse_file(assembled / "chalice.tf.json")
    override = tfconfig.parse_file(assembled / assemble.OVERRIDE_FILE)
    for kind in ("resource", "data"):
        for type_name, named in override.get(kind, {}).items():
            assert set(named) <= set(chalice[kind][type_name]), f"{type_name}: {set(named)}"
    assert set(override.get("output", {})) <= set(chalice["output"])


# --- what the issue asks of the merged configuration -----------------------------------------


def test_the_event_source_mapping_reports_partial_batch_failures_from_our_queue(
    config: tfconfig.Config,
) -> None:
    bodies = config.resources_of("aws_lambda_event_source_mapping").values()
    mappings = {body["function_name"]: body for body in bodies}
    assert set(mappings) == {f"${{aws_lambda_function.{f}.arn}}" for f in (WORKER, SWEEPER)}
    for function, queue, concurrency in ((WORKER, "ingest", "worker"), (SWEEPER, "sweep", "sweep")):
        mapping = mappings[f"${{aws_lambda_function.{function}.arn}}"]
        assert mapping["function_response_types"] == ["ReportBatchItemFailures"]
        assert mapping["event_source_arn"] == f"${{aws_sqs_queue.{queue}.arn}}"
        assert mapping["scaling_config"]["maximum_concurrency"] == f"${{var.{concurrency}_max_concurrency}}"


def test_the_queue_outlives_the_worker(config: tfconfig.Config) -> None:
    worker_timeout = config.resource_body("aws_lambda_function", WORKER)["timeout"]
    assert worker_timeout == CHALICE_STAGES["prod"]["lambda_timeout"]
    visibility = resolve(
        config, config.resource_body("aws_sqs_queue", "ingest")["visibility_timeout_seconds"]
    )
    assert visibility >= 6 * worker_timeout
    assert resolve(config, "${local.ingest_timeout_seconds}") == worker_timeout
    sweep_timeout = config.resource_body("aws_lambda_function", SWEEPER)["timeout"]
    assert sweep_timeout == CHALICE_STAGES["prod"]["lambda_functions"][SWEEPER]["lambda_timeout"]
    sweep_visibility = resolve(
        config, config.resource_body("aws_sqs_queue", "sweep")["visibility_timeout_seconds"]
    )
    assert sweep_visibility >= 6 * sweep_timeout


def test_the_sweep_queue_redrives_to_its_own_dead_letter_queue_and_is_watched(
    config: tfconfig.Config,
) -> None:
    queue = config.resource_body("aws_sqs_queue", "sweep")
    assert "aws_sqs_queue.sweep_dead_letter.arn" in queue["redrive_policy"]
    assert "delay_seconds" not in queue  # each message carries its own delay
    for name in ("sweep", "sweep_dead_letter"):
        assert config.resource_body("aws_sqs_queue", name)["kms_master_key_id"] == "${aws_kms_key.quarry.arn}"
    delay = config.variable["sweep_delay_seconds"].body
    assert delay["default"] == Settings().sweep_delay_s == 180
    assert "var.sweep_delay_seconds >= 120" in delay["validation"][0]["condition"]
    alarms = config.resources_of("aws_cloudwatch_metric_alarm").values()
    # .get: the failure-ratio alarm is metric math, with no dimensions of its own.
    watched = {a.get("dimensions", {}).get("QueueName") for a in alarms}
    assert "${aws_sqs_queue.sweep_dead_letter.name}" in watched


def test_the_queue_redrives_to_a_long_lived_dead_letter_queue(config: tfconfig.Config) -> None:
    queue = config.resource_body("aws_sqs_queue", "ingest")
    assert "aws_sqs_queue.dead_letter.arn" in queue["redrive_policy"]
    assert "maxReceiveCount = var.max_receive_count" in queue["redrive_policy"]
    assert config.variable["max_receive_count"].body["default"] == 5
    retention = resolve(
        config, config.resource_body("aws_sqs_queue", "dead_letter")["message_retention_seconds"]
    )
    assert retention == 14 * 24 * 3600
    for name in ("ingest", "dead_letter"):
        assert config.resource_body("aws_sqs_queue", name)["kms_master_key_id"] == "${aws_kms_key.quarry.arn}"


def test_only_the_raw_object_rule_may_send_to_the_queue(config: tfconfig.Config) -> None:
    statements = policy_statements(config, "queue_from_rule")
    allows = [s for s in statements if s.get("effect", "Allow") == "Allow"]
    (allow,) = allows
    assert allow["actions"] == ["sqs:SendMessage"]
    (principal,) = allow["principals"]
    assert principal["identifiers"] == ["events.amazonaws.com"]
    (condition,) = allow["condition"]
    assert condition["values"] == ["${aws_cloudwatch_event_rule.raw_objects.arn}"]


def test_the_rule_matches_what_the_local_stack_routes(config: tfconfig.Config) -> None:
    pattern = config.resource_body("aws_cloudwatch_event_rule", "raw_objects")["event_pattern"]
    local = event_pattern("bucket")
    for value in (*local["source"], *local["detail-type"]):
        assert f'"{value}"' in pattern
    assert "aws_s3_bucket.raw.id" in pattern
    target = config.resource_body("aws_cloudwatch_event_target", "ingest_queue")
    assert target["arn"] == "${aws_sqs_queue.ingest.arn}"
    assert config.resource_body("aws_s3_bucket_notification", "raw")["eventbridge"] is True


def test_alarms_watch_dead_letters_backlog_errors_and_throttles(config: tfconfig.Config) -> None:
    alarms = config.resources_of("aws_cloudwatch_metric_alarm")
    dead = [
        a
        for a in alarms.values()
        if a.get("metric_name") == "ApproximateNumberOfMessagesVisible"
        and a["dimensions"] == {"QueueName": "${aws_sqs_queue.dead_letter.name}"}
    ]
    assert len(dead) == 1
    assert dead[0]["threshold"] == 0 and dead[0]["comparison_operator"] == "GreaterThanThreshold"
    # Alarms on one metric with dimensions (the failure ratio is metric math: tests/infra/test_dashboard.py;
    # the configuration errors' alarm watches a log metric of its own).
    single = [a for a in alarms.values() if "metric_name" in a and "dimensions" in a]
    watched = {(a["metric_name"], next(iter(a["dimensions"].values()))) for a in single}
    assert ("ApproximateAgeOfOldestMessage", "${aws_sqs_queue.ingest.name}") in watched
    assert ("Errors", f"${{aws_lambda_function.{WORKER}.function_name}}") in watched
    assert ("Throttles", f"${{aws_lambda_function.{WORKER}.function_name}}") in watched
    assert ("Errors", f"${{aws_lambda_function.{REAPER}.function_name}}") in watched
    assert all(a["alarm_actions"] == "${local.alarm_actions}" for a in alarms.values())
    assert "alarm_sns_topic_arn" in config.locals["alarm_actions"].body


def test_log_groups_are_declared_for_both_functions_with_retention(config: tfconfig.Config) -> None:
    groups = config.resources_of("aws_cloudwatch_log_group")
    for function, group in ((WORKER, "ingest"), (API, "api"), (SWEEPER, "sweep"), (REAPER, "reaper")):
        body = config.resource_body("aws_lambda_function", function)
        assert body["logging_config"]["log_group"] == f"${{aws_cloudwatch_log_group.{group}.name}}"
        name = resolve(config, groups[group]["name"])
        assert name == f"/aws/lambda/{body['function_name']}"
    for body in groups.values():
        assert body["retention_in_days"] == "${var.log_retention_days}"
        assert body["kms_key_id"] == "${aws_kms_key.quarry.arn}"


def test_terraform_and_provider_pins_admit_current_versions(config: tfconfig.Config) -> None:
    versions = [e.body["required_version"] for e in config.terraform if "required_version" in e.body]
    assert versions
    for constraint in versions:
        assert admits(constraint, "1.9.8") and admits(constraint, "1.13.0")
        assert not admits(constraint, "1.3.9")
    (aws,) = [
        block["aws"]
        for e in config.terraform
        for block in [e.body.get("required_providers", {})]
        if "aws" in block
    ]
    assert aws["source"] == "hashicorp/aws"
    assert admits(aws["version"], "5.100.0")
    assert not admits(aws["version"], "4.67.0")
    # Provider 6 removed arguments chalice.tf.json sets on the deployment: it must stay excluded.
    assert not admits(aws["version"], "6.0.0")


def test_the_api_stage_replaces_the_deprecated_deployment_stage(config: tfconfig.Config) -> None:
    deployment = config.resource_body("aws_api_gateway_deployment", "rest_api")
    assert deployment["stage_name"] is None and deployment["stage_description"] is None
    assert deployment["triggers"]["redeployment"] == "${md5(local.chalice_api_swagger)}"
    stage = config.resource_body("aws_api_gateway_stage", "api")
    assert stage["deployment_id"] == "${aws_api_gateway_deployment.rest_api.id}"
    assert stage["stage_name"] == "${local.api_stage_name}"
    assert config.output["EndpointURL"].body["value"] == "${aws_api_gateway_stage.api.invoke_url}"
    assert config.output["api_url"].body["value"] == "${aws_api_gateway_stage.api.invoke_url}"


def test_outputs_name_the_api_buckets_queues_and_collection(config: tfconfig.Config) -> None:
    values = {e.body["value"] for e in config.output.values()}
    for wanted in (
        "aws_s3_bucket.raw.id",
        "aws_s3_bucket.processed.id",
        "aws_sqs_queue.ingest.url",
        "aws_sqs_queue.dead_letter.url",
        "aws_sqs_queue.sweep.url",
        "aws_opensearchserverless_collection.vectors.collection_endpoint",
    ):
        assert f"${{{wanted}}}" in values


# --- functions ----------------------------------------------------------------------------------

REQUIRED_ENVIRONMENT = [
    "QUARRY_STAGE",
    "QUARRY_RAW_BUCKET",
    "QUARRY_PROCESSED_BUCKET",
    "QUARRY_DOCUMENTS_TABLE",
    "QUARRY_INGEST_QUEUE",
    "QUARRY_DEAD_LETTER_QUEUE",
    "QUARRY_MAX_RECEIVE_COUNT",
    "QUARRY_EMBEDDER",
    "QUARRY_EXTRACTOR",
    "QUARRY_VECTOR_INDEX",
    "QUARRY_OPENSEARCH_ENDPOINT",
    "QUARRY_OPENSEARCH_INDEX",
    "QUARRY_EXTRACTION_MODEL_ID",
    "QUARRY_EMBEDDING_MODEL_ID",
    "QUARRY_EMBEDDING_DIMENSIONS",
    "QUARRY_EMBEDDING_CONCURRENCY",
    "QUARRY_RECORD_CONCURRENCY",
    "QUARRY_BEDROCK_REGION",
    "POWERTOOLS_SERVICE_NAME",
    "POWERTOOLS_METRICS_NAMESPACE",
]
CONSTANT_ENVIRONMENT = {
    "QUARRY_EMBEDDER": "titan",
    "QUARRY_EXTRACTOR": "bedrock",
    "QUARRY_VECTOR_INDEX": "opensearch",
    "QUARRY_ANSWERER": "bedrock",
    "POWERTOOLS_METRICS_NAMESPACE": "Quarry",
}


@pytest.mark.parametrize("function", [WORKER, API, SWEEPER, REAPER])
def test_functions_read_their_settings_from_terraform(config: tfconfig.Config, function: str) -> None:
    variables = config.resource_body("aws_lambda_function", function)["environment"]["variables"]
    assert set(REQUIRED_ENVIRONMENT) <= set(variables)
    setting_names = {f"QUARRY_{f.name.upper()}" for f in fields(Settings)}
    for name, value in variables.items():
        assert name in setting_names or name.startswith("POWERTOOLS_"), f"{name} is read by nothing"
        if name in CONSTANT_ENVIRONMENT:
            assert value == CONSTANT_ENVIRONMENT[name]
        else:
            assert value.startswith("${") and value.endswith("}"), f"{name}={value!r} is not from Terraform"
    assert variables["QUARRY_RAW_BUCKET"] == "${aws_s3_bucket.raw.id}"
    assert variables["QUARRY_MAX_RECEIVE_COUNT"] == "${var.max_receive_count}"
    assert variables["QUARRY_SWEEP_QUEUE"] == "${aws_sqs_queue.sweep.name}"
    assert variables["QUARRY_SWEEP_DELAY_S"] == "${var.sweep_delay_seconds}"
    assert variables["QUARRY_OPENSEARCH_ENDPOINT"].startswith(
        "${aws_opensearchserverless_collection.vectors."
    )


def test_functions_run_as_our_roles_and_chalice_creates_no_iam(
    assembled: Path, config: tfconfig.Config
) -> None:
    chalice = json.loads((assembled / "chalice.tf.json").read_text())
    assert not [t for t in chalice["resource"] if t.startswith("aws_iam_")]
    for function, role in ((WORKER, "ingest"), (API, "api"), (SWEEPER, "sweep"), (REAPER, "reaper")):
        body = config.resource_body("aws_lambda_function", function)
        assert body["role"] == f"${{terraform_data.{role}_role.output}}"
        bridge = config.resource_body("terraform_data", f"{role}_role")
        assert bridge["input"] == f"${{aws_iam_role.{role}.arn}}"
        assert bridge["depends_on"] == [f"${{aws_iam_role_policy.{role}}}"]
        assert body["kms_key_arn"] == "${aws_kms_key.quarry.arn}"
        assert body["tracing_config"]["mode"] == "${var.lambda_tracing_mode}"
    for stage in ("dev", "prod"):
        assert CHALICE_STAGES[stage]["manage_iam_role"] is False
        assert CHALICE_STAGES[stage]["autogen_policy"] is False


# --- least privilege ----------------------------------------------------------------------------

# Services whose resources this configuration creates or names: an identity policy must scope
# their actions to those resources.
NAMED_SERVICES = {"s3", "sqs", "dynamodb", "aoss", "kms", "logs", "bedrock", "lambda", "events", "iam"}


def test_no_identity_policy_grants_star_on_a_service_we_name_a_resource_for(config: tfconfig.Config) -> None:
    policies = identity_policies(config)
    assert set(policies) == {"ingest", "api", "sweep", "reaper"}
    for name, statements in policies.items():
        for statement in statements:
            actions = statement["actions"]
            assert all(":" in a and not a.endswith(":*") and a != "*" for a in actions), (name, actions)
            if "*" in resources_of(statement):
                services = {a.split(":", 1)[0] for a in actions}
                # bedrock:Rerank alone has no resource type (its model is narrowed by InvokeModel).
                if set(actions) == {"bedrock:Rerank"}:
                    continue
                assert not services & NAMED_SERVICES, (name, statement.get("sid"), services)
                assert services <= {"xray", "ec2"}


def test_the_worker_may_do_its_job_and_no_more(config: tfconfig.Config) -> None:
    worker = identity_policies(config)["ingest"]
    assert actions_on(worker, "aws_s3_bucket.raw.arn}/*") == {"s3:GetObject", "s3:GetObjectVersion"}
    # Issue 12 (deleted means deleted): was {"s3:PutObject", "s3:DeleteObject"}; a versioned bucket also
    # needs each version listed and deleted.
    assert actions_on(worker, "aws_s3_bucket.processed.arn") == {
        "s3:PutObject",
        "s3:DeleteObject",
        "s3:DeleteObjectVersion",
        "s3:ListBucketVersions",
    }
    assert "s3:DeleteObjectVersion" not in actions_on(worker, "aws_s3_bucket.raw.arn")
    assert actions_on(worker, "aws_sqs_queue.ingest.arn") >= {"sqs:ReceiveMessage", "sqs:DeleteMessage"}
    # The retry backoff (chalicelib/worker.py) sets visibility on the ingest queue, and on no other.
    (visibility,) = [s for s in worker if "sqs:ChangeMessageVisibility" in s["actions"]]
    assert resources_of(visibility) == ["${aws_sqs_queue.ingest.arn}"]
    # UpdateItem: the cost ledger's two writes (chalicelib/adapters/dynamo_ledger.py).
    assert actions_on(worker, "aws_dynamodb_table.documents.arn") == {
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
    }
    assert actions_on(worker, "aws_opensearchserverless_collection.vectors.arn") == {"aoss:APIAccessAll"}
    assert actions_on(worker, "local.bedrock_model_arns") == {"bedrock:InvokeModel"}
    # Issue 12 (the delayed sweep): the worker schedules sweeps, and may do nothing else on that queue.
    assert actions_on(worker, "aws_sqs_queue.sweep.arn") == {"sqs:SendMessage", "sqs:GetQueueUrl"}


def test_the_sweep_may_read_the_catalog_and_delete_chunks_and_no_more(config: tfconfig.Config) -> None:
    sweep = identity_policies(config)["sweep"]
    actions = {a for s in sweep for a in s["actions"]}
    assert not {a for a in actions if a.startswith(("s3:", "bedrock:"))}
    assert actions_on(sweep, "aws_sqs_queue.sweep.arn") == {
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
    }
    assert {a for a in actions if a.startswith("sqs:")} == actions_on(sweep, "aws_sqs_queue.sweep.arn")
    assert actions_on(sweep, "aws_dynamodb_table.documents.arn") == {"dynamodb:GetItem"}
    assert actions_on(sweep, "aws_opensearchserverless_collection.vectors.arn") == {"aoss:APIAccessAll"}


def test_the_api_may_presign_read_query_and_delete_narrowly(config: tfconfig.Config) -> None:
    api = identity_policies(config)["api"]
    all_actions = {a for s in api for a in s["actions"]}
    # Issue 12: was no SQS at all; DELETE schedules the document's sweep (the delayed sweep) and
    # reindex queues an ingest request, each on its own queue and no other.
    assert {a for a in all_actions if a.startswith("sqs:")} == {"sqs:SendMessage", "sqs:GetQueueUrl"}
    assert actions_on(api, "aws_sqs_queue.sweep.arn") == {"sqs:SendMessage", "sqs:GetQueueUrl"}
    assert actions_on(api, "aws_sqs_queue.ingest.arn") == {"sqs:SendMessage", "sqs:GetQueueUrl"}
    assert not actions_on(api, "aws_sqs_queue.dead_letter")
    (through_sqs,) = [s for s in api if "sqs." in json.dumps(s.get("condition", []))]
    assert set(through_sqs["actions"]) == {"kms:GenerateDataKey", "kms:Decrypt"}
    # The source is found by listing its key, so the API still reads no object's content.
    assert "s3:GetObject" not in all_actions
    assert actions_on(api, "aws_s3_bucket.raw.arn") >= {"s3:ListBucket"}
    (presign,) = [s for s in api if "s3:PutObject" in s["actions"]]
    assert presign["resources"] == ["${aws_s3_bucket.raw.arn}/${var.upload_key_prefix}*"]
    # Issue 12 (deleted means deleted): was {"s3:DeleteObject"}; every version goes too.
    assert actions_on(api, "aws_s3_bucket.processed.arn") == {
        "s3:DeleteObject",
        "s3:DeleteObjectVersion",
        "s3:ListBucketVersions",
    }
    # BatchGetItem: GET /usage's per-day ledger items.
    # Batch reads are narrower still, on the table alone (tests/infra/test_search_iam.py).
    assert actions_on(api, "local.table_arns") == {
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:Query",
        "dynamodb:Scan",
    }
    # Issue 15: queries are embedded, answers written and results reranked, each with its own model only.
    invoke = {s.get("sid"): s["resources"] for s in api if "bedrock:InvokeModel" in s["actions"]}
    assert invoke == {
        "EmbedQueries": '${local.bedrock_model_arns["embedding"]}',
        "AnswerQuestions": '${local.bedrock_model_arns["answer"]}',
        "InvokeRerankModel": [
            "arn:${local.partition}:bedrock:${local.bedrock_region}::foundation-model/${var.rerank_model_id}"
        ],
    }
    (rerank,) = [s for s in api if "bedrock:Rerank" in s["actions"]]
    assert rerank["actions"] == ["bedrock:Rerank"] and rerank["resources"] == ["*"]


def test_only_document_objects_lose_their_versions_and_listing_them_is_narrow(
    config: tfconfig.Config,
) -> None:
    processed_objects = "${aws_s3_bucket.processed.arn}/${var.processed_key_prefix}*"
    for name, statements in identity_policies(config).items():
        for statement in statements:
            if "s3:DeleteObjectVersion" in statement["actions"]:
                allowed = {processed_objects} | ({"${aws_s3_bucket.raw.arn}/*"} if name == "api" else set())
                assert set(resources_of(statement)) == allowed, (name, statement.get("sid"))
            if "s3:ListBucketVersions" in statement["actions"]:
                assert statement["actions"] == ["s3:ListBucketVersions"], (name, statement.get("sid"))
                (bucket,) = resources_of(statement)
                if bucket == "${aws_s3_bucket.processed.arn}":
                    (condition,) = statement["condition"]
                    assert (condition["test"], condition["variable"]) == ("StringLike", "s3:prefix")
                    assert condition["values"] == ["${var.processed_key_prefix}*"]
                else:
                    # A raw-input key anywhere can be a document (direct drops): only the API lists there.
                    assert (name, bucket) == ("api", "${aws_s3_bucket.raw.arn}")


def test_iam_key_prefixes_match_the_keys_the_code_writes(config: tfconfig.Config) -> None:
    from chalicelib.api.requests import UploadRequest
    from chalicelib.documents import DocumentsService

    processed_pattern = resolve(config, "${var.processed_key_prefix}") + "*"
    assert fnmatch.fnmatchcase(processed_key("acme", "0" * 32), processed_pattern)
    assert not fnmatch.fnmatchcase(f"processed/{'0' * 32}.json", processed_pattern)

    class Nothing:
        def __getattr__(self, name: str) -> Any:
            return lambda *args, **kwargs: {}

    service = DocumentsService(Settings(), Nothing(), Nothing(), Nothing())
    upload = service.create_upload("acme", UploadRequest(filename="a.pdf"))
    upload_pattern = resolve(config, "${var.upload_key_prefix}") + "*"
    assert upload["key"].startswith("tenants/acme/uploads/")
    assert fnmatch.fnmatchcase(upload["key"], upload_pattern)


def test_only_the_function_roles_may_use_the_collection(config: tfconfig.Config) -> None:
    policy = config.resource_body("aws_opensearchserverless_access_policy", "data")["policy"]
    principals = re.findall(r"Principal\s*=\s*\[([^\]]*)\]", policy)
    assert sorted(p.strip() for p in principals) == [
        "aws_iam_role.api.arn",
        "aws_iam_role.ingest.arn",
        "aws_iam_role.reaper.arn",
        "aws_iam_role.sweep.arn",
    ]
    collection = config.resource_body("aws_opensearchserverless_collection", "vectors")
    assert collection["type"] == "VECTORSEARCH"
    encryption = config.resource_body("aws_opensearchserverless_security_policy", "encryption")["policy"]
    assert "KmsARN = aws_kms_key.quarry.arn" in encryption and "AWSOwnedKey = false" in encryption


def test_the_table_matches_the_catalog_adapter(config: tfconfig.Config) -> None:
    expected = table_definition("documents")
    table = config.resource_body("aws_dynamodb_table", "documents")
    assert table["billing_mode"] == expected["BillingMode"]
    assert {(a["name"], a["type"]) for a in table["attribute"]} == {
        (a["AttributeName"], a["AttributeType"]) for a in expected["AttributeDefinitions"]
    }
    (key,) = expected["KeySchema"]
    assert table["hash_key"] == key["AttributeName"]
    wanted_indexes = {}
    for wanted in expected["GlobalSecondaryIndexes"]:
        keys = {k["KeyType"]: k["AttributeName"] for k in wanted["KeySchema"]}
        wanted_indexes[wanted["IndexName"]] = (wanted["IndexName"], keys["HASH"], keys["RANGE"])
    declared = {
        index["name"]: (index["name"], index["hash_key"], index["range_key"])
        for index in table["global_secondary_index"]
    }
    assert len(declared) == len(table["global_secondary_index"])
    assert declared == wanted_indexes
    assert {"by-status", "by-tenant", "by-tenant-status"} <= set(declared)
    assert all(index["projection_type"] == "ALL" for index in table["global_secondary_index"])
    assert table["point_in_time_recovery"] == [{"enabled": True}]
    # One TTL attribute serves the catalog's stale uploads and the rate limiter's counters.
    assert table["ttl"] == [{"attribute_name": TTL_ATTRIBUTE, "enabled": True}]
    assert TTL_ATTRIBUTE in {f.name for f in fields(DocumentRecord)}
    assert f"SET {TTL_ATTRIBUTE} = " in inspect.getsource(DynamoRateLimiter)
    assert table["server_side_encryption"] == [{"enabled": True, "kms_key_arn": "${aws_kms_key.quarry.arn}"}]


def test_data_buckets_are_private_versioned_tls_only_and_kms_encrypted(config: tfconfig.Config) -> None:
    assert config.locals["data_buckets"].body == {
        "raw": "${aws_s3_bucket.raw.id}",
        "processed": "${aws_s3_bucket.processed.id}",
    }
    for kind in (
        "aws_s3_bucket_versioning",
        "aws_s3_bucket_server_side_encryption_configuration",
        "aws_s3_bucket_policy",
        "aws_s3_bucket_logging",
    ):
        assert config.resource_body(kind, "data")["for_each"] == "${local.data_buckets}", kind
    (rule,) = config.resource_body("aws_s3_bucket_server_side_encryption_configuration", "data")["rule"]
    (default,) = rule["apply_server_side_encryption_by_default"]
    assert default == {"sse_algorithm": "aws:kms", "kms_master_key_id": "${aws_kms_key.quarry.arn}"}
    block = config.resource_body("aws_s3_bucket_public_access_block", "all")
    assert all(block[k] is True for k in ("block_public_acls", "block_public_policy", "ignore_public_acls"))
    deny = policy_statements(config, "bucket_tls_only")[0]
    assert deny["effect"] == "Deny" and deny["condition"][0]["variable"] == "aws:SecureTransport"


# --- the deployment package ---------------------------------------------------------------------


def test_the_deployment_package_holds_the_app_and_no_torch_moto_or_tests(assembled: Path) -> None:
    package = assembled / "deployment.zip"
    assert assemble.forbidden_entries(package) == []
    with zipfile.ZipFile(package) as archive:
        names = set(archive.namelist())
    assert "app.py" in names and "chalicelib/worker.py" in names
    assert not [
        n for n in names if n.startswith(("tests/", "devstack/", "bench/", "infra/", "quarry_cli/", "web/"))
    ]
    sizes = assemble.zip_top_level_sizes(package)
    assert "chalicelib" in sizes and "torch" not in sizes and "moto" not in sizes
    assert not {"typer", "rich", "selenium"} & set(sizes)  # the clients' libraries stay on the clients


def test_the_raw_bucket_takes_the_web_pages_uploads_from_its_origin_alone(config: tfconfig.Config) -> None:
    cors = config.resource_body("aws_s3_bucket_cors_configuration", "raw_uploads_from_the_web_page")
    assert cors["count"] == '${var.web_origin == "" ? 0 : 1}'
    assert cors["bucket"] == "${aws_s3_bucket.raw.id}"
    (rule,) = tfconfig.blocks(cors["cors_rule"])
    assert rule["allowed_methods"] == ["POST"] and rule["allowed_origins"] == ["${var.web_origin}"]


def test_forbidden_entries_are_caught(tmp_path: Path) -> None:
    package = tmp_path / "deployment.zip"
    with zipfile.ZipFile(package, "w") as archive:
        for name in ("app.py", "torch/__init__.py", "moto-5.2.5.dist-info/METADATA", "tests/test_x.py"):
            archive.writestr(name, "")
    assert assemble.forbidden_entries(package) == [
        "torch/__init__.py",
        "moto-5.2.5.dist-info/METADATA",
        "tests/test_x.py",
    ]


def test_reassembly_replaces_its_own_files_and_keeps_the_operators(tmp_path: Path) -> None:
    out = tmp_path / "terraform"
    first = tmp_path / "first"
    first.mkdir()
    for name in ("main.tf", "old.tf", "deployment.zip"):
        (first / name).write_text("1")
    assemble.install(first, out, {"fingerprint": "a"})
    (out / "terraform.tfstate").write_text("state")
    (out / "prod.tfvars").write_text("vars")
    second = tmp_path / "second"
    second.mkdir()
    for name in ("main.tf", "deployment.zip"):
        (second / name).write_text("2")
    assemble.install(second, out, {"fingerprint": "b"})
    assert sorted(p.name for p in out.iterdir()) == [
        assemble.MANIFEST_FILE,
        "deployment.zip",
        "main.tf",
        "prod.tfvars",
        "terraform.tfstate",
    ]
    assert (out / "main.tf").read_text() == "2"
    assert json.loads((out / assemble.MANIFEST_FILE).read_text())["fingerprint"] == "b"


# --- the reaper (chalicelib/reaper.py) and the configuration errors' alarm -------------------------


def test_the_reaper_runs_alone_on_its_stage_schedule(config: tfconfig.Config) -> None:
    body = config.resource_body("aws_lambda_function", REAPER)
    assert body["handler"] == f"app.{REAPER}" and body["reserved_concurrent_executions"] == 1
    variables = body["environment"]["variables"]
    assert variables["QUARRY_ABANDONED_AFTER_S"] == "${var.reaper_abandoned_after_seconds}"
    rule = config.resource_body("aws_cloudwatch_event_rule", assemble.REAPER_RULE)
    assert rule["name"] == "${local.name}-reap-abandoned"
    assert rule["schedule_expression"] == "${local.reaper_schedule}"
    target = config.resource_body("aws_cloudwatch_event_target", assemble.REAPER_RULE)
    assert target["arn"] == f"${{aws_lambda_function.{REAPER}.arn}}"
    permission = config.resource_body("aws_lambda_permission", assemble.REAPER_RULE)
    assert permission["principal"] == "events.amazonaws.com"
    assert permission["source_arn"] == f"${{aws_cloudwatch_event_rule.{assemble.REAPER_RULE}.arn}}"
    assert config.variable["reaper_interval_minutes"].body["default"] == Settings().reaper_interval_minutes
    assert config.variable["reaper_abandoned_after_seconds"].body["default"] == Settings().abandoned_after_s


def test_the_reaper_may_find_fail_and_clean_up_and_no_more(config: tfconfig.Config) -> None:
    reaper = identity_policies(config)["reaper"]
    assert actions_on(reaper, "aws_dynamodb_table.documents.arn}/index/by-status") == {"dynamodb:Query"}
    (table,) = [s for s in reaper if resources_of(s) == ["${aws_dynamodb_table.documents.arn}"]]
    assert set(table["actions"]) == {"dynamodb:GetItem", "dynamodb:PutItem"}
    assert not actions_on(reaper, "aws_s3_bucket.raw")
    # Only the delayed sweep of what it removed (a lagging index may hide some of a dead worker's chunks).
    (queue,) = [s for s in reaper if any("aws_sqs_queue" in r for r in resources_of(s))]
    assert resources_of(queue) == ["${aws_sqs_queue.sweep.arn}"]
    assert set(queue["actions"]) == {"sqs:SendMessage", "sqs:GetQueueUrl"}
    assert actions_on(reaper, "aws_s3_bucket.processed.arn") == {
        "s3:DeleteObject",
        "s3:DeleteObjectVersion",
        "s3:ListBucketVersions",
    }
    assert not {a for s in reaper for a in s["actions"] if a.startswith("bedrock:")}


def test_configuration_errors_of_the_worker_and_the_api_alarm(
    config: tfconfig.Config, caplog: pytest.LogCaptureFixture
) -> None:
    from chalicelib.adapters.aws_retry import Verdict, call_with_backoff
    from chalicelib.model import ConfigurationError

    groups = config.locals["configuration_error_log_groups"].body
    assert set(groups.values()) == {
        "${aws_cloudwatch_log_group.ingest.name}",
        "${aws_cloudwatch_log_group.api.name}",
    }
    body = config.resources_of("aws_cloudwatch_log_metric_filter")["configuration_errors"]
    assert body["for_each"] == "${local.configuration_error_log_groups}"
    # A quoted phrase: CloudWatch counts every line that holds it, whatever the line's format.
    phrase = re.fullmatch(r'"([^"]+)"', body["pattern"]).group(1)

    def refused() -> None:
        raise RuntimeError("AccessDeniedException: not authorized")

    with caplog.at_level("ERROR"), pytest.raises(ConfigurationError):
        call_with_backoff(
            refused,
            deadline_s=1,
            classify=lambda error: Verdict.CONFIGURATION,
            advise=lambda error: "grant it",
        )
    (logged,) = [r for r in caplog.records if r.levelname == "ERROR"]
    assert phrase in logged.getMessage() and "grant it" in logged.getMessage()

    metric = body["metric_transformation"]
    metric = metric[0] if isinstance(metric, list) else metric
    alarm = config.resource_body("aws_cloudwatch_metric_alarm", "configuration_errors")
    assert (alarm["metric_name"], alarm["namespace"]) == (metric["name"], metric["namespace"])
    assert alarm["threshold"] == 0 and alarm["comparison_operator"] == "GreaterThanThreshold"
