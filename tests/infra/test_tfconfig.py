"""The offline stand-in for `terraform validate` (infra/tools/tfconfig.py) on small configurations."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infra.tools import tfconfig, validate

BASE = """
variable "size" {
  type        = number
  description = "How many."
  default     = 2
}

locals {
  names = [for n in range(var.size) : "q-${n}"]
}

resource "aws_sqs_queue" "dlq" {
  name = "dlq"
}

resource "aws_sqs_queue" "many" {
  count = var.size
  name  = local.names[count.index]
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dlq.arn
    note                = "a string with a dot.in.it and ${aws_sqs_queue.dlq.name}"
  })
}

data "aws_iam_policy_document" "doc" {
  dynamic "statement" {
    for_each = aws_sqs_queue.many
    content {
      actions   = ["sqs:SendMessage"]
      resources = [statement.value.arn]
    }
  }
}

output "first" {
  value      = aws_sqs_queue.many[0].url
  depends_on = [aws_sqs_queue.many]
}
"""


def write(directory: Path, files: dict[str, str | dict]) -> Path:
    for name, content in files.items():
        text = json.dumps(content) if isinstance(content, dict) else content
        (directory / name).write_text(text)
    return directory


def test_a_consistent_configuration_passes(tmp_path: Path) -> None:
    config = validate.validate(write(tmp_path, {"main.tf": BASE}))
    assert set(config.resources_of("aws_sqs_queue")) == {"dlq", "many"}
    addresses = {ref.address for ref in validate.all_references(config)}
    # References inside a jsonencode() object, inside a template in a quoted string, and in
    # depends_on are all seen; the for iterator `n` and the dynamic iterator `statement` are not.
    assert {"aws_sqs_queue.dlq", "aws_sqs_queue.many", "var.size", "local.names"} <= addresses
    assert not any(a.startswith(("n.", "statement.", "dot.")) for a in addresses)


@pytest.mark.parametrize(
    ("original", "broken", "message"),
    [
        (
            "aws_sqs_queue.dlq.arn\n",
            "aws_sqs_queue.dlqq.arn\n",
            "aws_sqs_queue.dlqq is not a declared resource",
        ),
        ("range(var.size)", "range(var.sise)", "var.sise is not a declared variable"),
        ("local.names[count", "local.nams[count", "local.nams is not a declared local value"),
        (
            "aws_sqs_queue.many[0].url",
            "aws_sqs_queue.many.url",
            r"aws_sqs_queue.many has count or for_each: select an instance",
        ),
        (
            "aws_sqs_queue.dlq.arn\n",
            "aws_sqs_queue.dlq[0].arn\n",
            r"aws_sqs_queue.dlq has no count or for_each: it cannot be indexed",
        ),
        (
            "for_each = aws_sqs_queue.many",
            "for_each = data.aws_sqs_queue.many",
            "data.aws_sqs_queue.many is not",
        ),
    ],
)
def test_unresolved_references_are_reported(tmp_path: Path, original: str, broken: str, message: str) -> None:
    assert original in BASE
    write(tmp_path, {"main.tf": BASE.replace(original, broken, 1)})
    with pytest.raises(tfconfig.ConfigError, match=message):
        validate.validate(tmp_path)


def test_variables_need_a_type_and_a_description(tmp_path: Path) -> None:
    write(tmp_path, {"main.tf": BASE, "vars.tf": 'variable "loose" {\n  default = 1\n}\n'})
    with pytest.raises(tfconfig.ConfigError) as raised:
        validate.validate(tmp_path)
    assert "variable loose has no type" in str(raised.value)
    assert "variable loose has no description" in str(raised.value)


def test_a_block_declared_twice_is_rejected(tmp_path: Path) -> None:
    write(
        tmp_path, {"main.tf": BASE, "again.tf.json": {"resource": {"aws_sqs_queue": {"dlq": {"name": "x"}}}}}
    )
    with pytest.raises(tfconfig.ConfigError, match=r"aws_sqs_queue\.dlq is already in"):
        validate.validate(tmp_path)


def test_unparsable_files_are_reported(tmp_path: Path) -> None:
    write(tmp_path, {"main.tf": 'resource "aws_sqs_queue" "q" {\n  name = \n'})
    with pytest.raises(tfconfig.ConfigError, match=r"main\.tf: not HCL"):
        tfconfig.load(tmp_path)
    (tmp_path / "main.tf").unlink()
    write(tmp_path, {"main.tf.json": "{"})
    with pytest.raises(tfconfig.ConfigError, match=r"main\.tf\.json: not JSON"):
        tfconfig.load(tmp_path)


def test_overrides_merge_as_terraform_merges_them(tmp_path: Path) -> None:
    base = {
        "//": "generated",
        "terraform": {
            "required_version": ">= 0.12.26, < 1.4.0",
            "required_providers": {"aws": {"version": "< 5"}, "null": {"version": "< 4"}},
        },
        "resource": {
            "aws_lambda_function": {
                "f": {
                    "function_name": "f",
                    "timeout": 300,
                    "environment": {"variables": {"A": "1", "B": "2"}},
                    "lifecycle": {"create_before_destroy": True},
                }
            }
        },
    }
    override = {
        "terraform": {"required_version": ">= 1.5.0", "required_providers": {"aws": {"version": "~> 5.100"}}},
        "resource": {
            "aws_lambda_function": {
                "f": {
                    "//": ["checkov:skip=CKV_AWS_1:reason"],
                    "environment": {"variables": {"A": "3"}},
                    "lifecycle": {"ignore_changes": ["tags"]},
                }
            }
        },
    }
    config = validate.validate(write(tmp_path, {"chalice.tf.json": base, "x_override.tf.json": override}))
    function = config.resource_body("aws_lambda_function", "f")
    assert function["environment"] == {"variables": {"A": "3"}}  # a nested block is replaced whole
    assert function["timeout"] == 300  # untouched arguments stay
    assert function["lifecycle"] == {"create_before_destroy": True, "ignore_changes": ["tags"]}
    (terraform,) = config.terraform
    assert terraform.body["required_version"] == ">= 1.5.0"
    assert terraform.body["required_providers"] == {
        "aws": {"version": "~> 5.100"},
        "null": {"version": "< 4"},
    }


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            {"resource": {"aws_sqs_queue": {"nope": {"name": "x"}}}},
            "aws_sqs_queue.nope, which is not declared",
        ),
        ({"output": {"nope": {"value": "x"}}}, "output nope, which is not declared"),
        ({"locals": {"nope": 1}}, "local.nope, which is not declared"),
        (
            {"resource": {"aws_sqs_queue": {"dlq": {"depends_on": ["aws_sqs_queue.many"]}}}},
            "an override cannot set depends_on",
        ),
        ({"terraform": {"required_providers": {"google": {"version": "1"}}}}, "'google', not declared"),
    ],
)
def test_an_override_must_target_an_existing_block(tmp_path: Path, override: dict, message: str) -> None:
    write(tmp_path, {"main.tf": BASE + '\nterraform {\n  required_version = ">= 1.5"\n}\n'})
    write(tmp_path, {"broken_override.tf.json": override})
    with pytest.raises(tfconfig.ConfigError, match=message):
        tfconfig.load(tmp_path)


def test_interpolations_find_templates_nested_in_quoted_strings() -> None:
    text = 'arn:${local.p}:s3:::${join("/", ["a.b", "${aws_s3_bucket.raw.id}-x"])}/*'
    expressions = validate.interpolations(text)
    assert "local.p" in expressions
    assert "aws_s3_bucket.raw.id" in expressions
    assert all("a.b" not in e for e in expressions)  # string literals are blanked out
    assert validate.interpolations("$${literal.not_a_reference}") == []
