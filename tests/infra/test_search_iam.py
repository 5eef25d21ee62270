"""The API's batch reads of the catalog are allowed on the table alone: search's hit check only for the
attributes the adapter projects, GET /usage only for the ledger's items; the worker has no batch read."""

from __future__ import annotations

from chalicelib.adapters.dynamo_catalog import STATE_ATTRIBUTES
from chalicelib.adapters.dynamo_ledger import LEDGER_PREFIX
from infra.tools import tfconfig
from tests.infra.test_assembled import identity_policies, resources_of


def test_only_the_api_batch_reads_the_catalog_and_only_the_checked_attributes(
    config: tfconfig.Config,
) -> None:
    policies = identity_policies(config)
    assert not [s for s in policies["ingest"] if "dynamodb:BatchGetItem" in s["actions"]]
    batches = [s for s in policies["api"] if "dynamodb:BatchGetItem" in s["actions"]]
    assert len(batches) == 2
    limits = []
    for batch in batches:
        assert batch["actions"] == ["dynamodb:BatchGetItem"]
        assert resources_of(batch) == ["${aws_dynamodb_table.documents.arn}"]
        limits.append({(c["test"], c["variable"]): c["values"] for c in batch["condition"]})
    assert {
        ("ForAllValues:StringEquals", "dynamodb:Attributes"): list(STATE_ATTRIBUTES),
        ("StringEqualsIfExists", "dynamodb:Select"): ["SPECIFIC_ATTRIBUTES"],
    } in limits
    assert {("ForAllValues:StringLike", "dynamodb:LeadingKeys"): [f"{LEDGER_PREFIX}*"]} in limits
