"""The API's batch read of the catalog (search's hit check) is allowed on the table alone and only for
the attributes the adapter projects, and the worker has no batch read at all."""

from __future__ import annotations

from chalicelib.adapters.dynamo_catalog import STATE_ATTRIBUTES
from infra.tools import tfconfig
from tests.infra.test_assembled import identity_policies, resources_of


def test_only_the_api_batch_reads_the_catalog_and_only_the_checked_attributes(
    config: tfconfig.Config,
) -> None:
    policies = identity_policies(config)
    assert not [s for s in policies["ingest"] if "dynamodb:BatchGetItem" in s["actions"]]
    (batch,) = [s for s in policies["api"] if "dynamodb:BatchGetItem" in s["actions"]]
    assert batch["actions"] == ["dynamodb:BatchGetItem"]
    assert resources_of(batch) == ["${aws_dynamodb_table.documents.arn}"]
    conditions = {(c["test"], c["variable"]): c["values"] for c in batch["condition"]}
    assert conditions == {
        ("ForAllValues:StringEquals", "dynamodb:Attributes"): list(STATE_ATTRIBUTES),
        ("StringEqualsIfExists", "dynamodb:Select"): ["SPECIFIC_ATTRIBUTES"],
    }
