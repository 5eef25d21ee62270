"""Catalog on a DynamoDB table (or the moto server): one item per document.

Table: partition key `document_id`. Listings are per tenant, each a Query on a GSI whose partition is
the tenant: `by-tenant` (tenant, updated_at) for all of a tenant's documents, `by-tenant-status`
(tenant_status = "{tenant}#{status}", updated_at) for one status. GSI `by-status` (status, updated_at)
stays for work across tenants. The rate limiter's counters share the table but carry neither
attribute, so no listing ever sees them.
Free-form JSON (extraction, timings, typed metadata) is stored as strings: DynamoDB has no floats
and user extraction schemas may hold any JSON. (Records written when metadata was a map of strings
still read back.)
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import asdict, fields
from typing import Any

from chalicelib.adapters.aws_retry import Backoff
from chalicelib.adapters.dynamo_ledger import (
    day_usage_update,
    document_usage_update,
    ledger_key,
    read_day_totals,
)
from chalicelib.model import ClaimLost, ClaimOutcome, DocumentRecord, DocumentState, InvalidRequest, Status
from chalicelib.ports import Catalog

STATUS_INDEX = "by-status"
TENANT_INDEX = "by-tenant"
TENANT_STATUS_INDEX = "by-tenant-status"
# The table's TTL attribute (infra/storage.tf), epoch seconds: DocumentRecord.expires_at.
TTL_ATTRIBUTE = "expires_at"
_JSON_FIELDS = {"extraction", "timings_ms", "extraction_schema", "usage", "metadata"}
_INT_FIELDS = {"size", "chunk_count", "attempts", "expires_at"}
# BatchGetItem reads at most 100 keys a request.
BATCH_GET_KEYS = 100
# What get_many reads of each item: the fields of DocumentState, nothing of the (large) extraction.
STATE_ATTRIBUTES = ("document_id", "tenant", "status", "etag", "indexed_etag")


def _encode_cursor(last_key: dict[str, Any] | None) -> str | None:
    if not last_key:
        return None
    return base64.urlsafe_b64encode(json.dumps(last_key).encode()).decode()


def _decode_cursor(cursor: str | None, partition: str, partition_value: str) -> dict[str, Any] | None:
    """The ExclusiveStartKey a cursor stands for, accepted only when it is a key of the listing being
    asked for: the GSI's partition attribute holding this caller's value. A cursor forged, or taken
    from another tenant's (or another status's) listing, is a 400, and reaches no DynamoDB call."""
    if not cursor:
        return None
    try:
        decoded = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except ValueError as error:
        raise InvalidRequest("invalid_cursor", "cursor is not one this API returned") from error
    # A cursor is echoed back to DynamoDB as ExclusiveStartKey: accept only the shape we hand out
    # (string attributes of the table and index keys), so a forged one is a 400, not a failed call.
    well_formed = (
        isinstance(decoded, dict)
        and set(decoded) == {"document_id", partition, "updated_at"}
        and all(isinstance(v, dict) and set(v) == {"S"} and isinstance(v["S"], str) for v in decoded.values())
    )
    if not well_formed:
        raise InvalidRequest("invalid_cursor", "cursor is not one this API returned")
    if decoded[partition]["S"] != partition_value:
        raise InvalidRequest("invalid_cursor", "cursor belongs to another listing: list again without it")
    return decoded


def tenant_status(tenant: str, status: Status) -> str:
    return f"{tenant}#{status.value}"


class DynamoCatalog(Catalog):
    def __init__(
        self,
        client: Any,
        table: str,
        *,
        unprocessed_deadline_s: float = 2.0,
        sleep: Callable[[float], None] = time.sleep,
    ):
        from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

        self._db = client
        self._table = table
        # get_many serves a search request: keys DynamoDB leaves unprocessed (throttling) are asked
        # again with short jittered waits, for at most this long, then the search fails as transient.
        self._unprocessed_deadline_s = unprocessed_deadline_s
        self._sleep = sleep
        self._serialize = TypeSerializer().serialize
        self._deserialize = TypeDeserializer().deserialize

    def _to_item(self, record: DocumentRecord) -> dict[str, Any]:
        plain = asdict(record)
        plain["status"] = record.status.value
        if record.tenant is not None:
            plain["tenant_status"] = tenant_status(record.tenant, record.status)
        for name in _JSON_FIELDS:
            plain[name] = json.dumps(plain[name]) if plain[name] is not None else None
        return {k: self._serialize(v) for k, v in plain.items() if v is not None}

    def _from_item(self, item: dict[str, Any]) -> DocumentRecord:
        plain = {k: self._deserialize(v) for k, v in item.items()}
        known = {f.name for f in fields(DocumentRecord)}
        values: dict[str, Any] = {k: v for k, v in plain.items() if k in known}
        for name in _JSON_FIELDS & values.keys():
            if isinstance(values[name], str):  # not a map of strings from before metadata was JSON
                values[name] = json.loads(values[name])
        for name in _INT_FIELDS & values.keys():
            values[name] = int(values[name])
        values["status"] = Status(values["status"])
        values.setdefault("tenant", None)  # absent: a document of no tenant (FAILED/NO_TENANT)
        return DocumentRecord(**values)

    def get(self, document_id: str) -> DocumentRecord | None:
        response = self._db.get_item(
            TableName=self._table, Key={"document_id": {"S": document_id}}, ConsistentRead=True
        )
        item = response.get("Item")
        return self._from_item(item) if item else None

    def get_many(self, document_ids: Collection[str]) -> dict[str, DocumentState]:
        unique = list(dict.fromkeys(document_ids))
        found: dict[str, DocumentState] = {}
        for start in range(0, len(unique), BATCH_GET_KEYS):
            keys = [{"document_id": {"S": i}} for i in unique[start : start + BATCH_GET_KEYS]]
            for item in self._batch_get(keys):
                if "status" in item:  # the rate limiter's counters share the table; no id names one
                    state = self._state_from_item(item)
                    found[state.document_id] = state
        return found

    def _batch_get(self, keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Every item of one page of keys, asking again for the keys DynamoDB left unprocessed (it
        may return any subset under throttling, and botocore does not retry those)."""
        names = {f"#f{n}": name for n, name in enumerate(STATE_ATTRIBUTES)}
        request = {
            self._table: {
                "Keys": keys,
                "ProjectionExpression": ", ".join(names),
                "ExpressionAttributeNames": names,
                # A document deleted or failed a moment ago must not still read as INDEXED.
                "ConsistentRead": True,
            }
        }
        backoff = Backoff(deadline_s=self._unprocessed_deadline_s, base_s=0.05, max_s=0.5, sleep=self._sleep)
        items: list[dict[str, Any]] = []
        while True:
            response = self._db.batch_get_item(RequestItems=request)
            items.extend(response.get("Responses", {}).get(self._table, []))
            request = response.get("UnprocessedKeys") or {}
            if not request.get(self._table, {}).get("Keys"):
                return items
            left = len(request[self._table]["Keys"])
            backoff.wait(f"DynamoDB left {left} keys of a BatchGetItem unprocessed")

    def _state_from_item(self, item: dict[str, Any]) -> DocumentState:
        plain = {k: self._deserialize(v) for k, v in item.items()}
        return DocumentState(
            document_id=plain["document_id"],
            tenant=plain.get("tenant"),
            status=Status(plain["status"]),
            etag=plain.get("etag"),
            indexed_etag=plain.get("indexed_etag"),
        )

    def put(self, record: DocumentRecord, claim_token: str | None = None) -> None:
        if claim_token is None:
            self._db.put_item(TableName=self._table, Item=self._to_item(record))
            return
        try:
            self._db.put_item(
                TableName=self._table,
                Item=self._to_item(record),
                ConditionExpression="claim_token = :token",
                ExpressionAttributeValues={":token": {"S": claim_token}},
            )
        except self._db.exceptions.ConditionalCheckFailedException as error:
            raise ClaimLost(record.document_id) from error

    def claim(self, record: DocumentRecord, now: str, force: bool = False) -> ClaimOutcome:
        live_lease = "NOT (#s = :processing AND lease_expires_at > :now)"
        values = {":processing": {"S": Status.PROCESSING.value}, ":now": {"S": now}}
        if not force:
            live_lease += " AND NOT (#s = :indexed AND etag = :etag)"
            values |= {":indexed": {"S": Status.INDEXED.value}, ":etag": {"S": record.etag or ""}}
        try:
            self._db.put_item(
                TableName=self._table,
                Item=self._to_item(record),
                ConditionExpression=f"attribute_not_exists(document_id) OR ({live_lease})",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues=values,
            )
            return ClaimOutcome.CLAIMED
        except self._db.exceptions.ConditionalCheckFailedException:
            current = self.get(record.document_id)
            if not force and current and current.status == Status.INDEXED and current.etag == record.etag:
                return ClaimOutcome.ALREADY_INDEXED
            return ClaimOutcome.BUSY

    def list_by_status(
        self, status: Status, limit: int, cursor: str | None
    ) -> tuple[list[DocumentRecord], str | None]:
        page: dict[str, Any] = {"TableName": self._table, "Limit": limit}
        start = _decode_cursor(cursor, "status", status.value)
        if start:
            page["ExclusiveStartKey"] = start
        response = self._db.query(
            IndexName=STATUS_INDEX,
            KeyConditionExpression="#s = :s",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":s": {"S": status.value}},
            **page,
        )
        records = [self._from_item(item) for item in response.get("Items", [])]
        return records, _encode_cursor(response.get("LastEvaluatedKey"))

    def list(
        self, tenant: str, status: Status | None, limit: int, cursor: str | None
    ) -> tuple[list[DocumentRecord], str | None]:
        if status is None:
            index, partition, value = TENANT_INDEX, "tenant", tenant
        else:
            index, partition, value = TENANT_STATUS_INDEX, "tenant_status", tenant_status(tenant, status)
        page: dict[str, Any] = {"TableName": self._table, "Limit": limit}
        start = _decode_cursor(cursor, partition, value)
        if start:
            page["ExclusiveStartKey"] = start
        response = self._db.query(
            IndexName=index,
            KeyConditionExpression="#p = :p",
            ExpressionAttributeNames={"#p": partition},
            ExpressionAttributeValues={":p": {"S": value}},
            ScanIndexForward=False,
            **page,
        )
        records = [self._from_item(item) for item in response.get("Items", [])]
        return records, _encode_cursor(response.get("LastEvaluatedKey"))

    def delete(self, document_id: str) -> None:
        self._db.delete_item(TableName=self._table, Key={"document_id": {"S": document_id}})

    def record_usage(self, document_id: str, usage: dict[str, Any]) -> None:
        try:
            self._db.update_item(**document_usage_update(self._table, document_id, usage))
        except self._db.exceptions.ConditionalCheckFailedException as error:
            raise ClaimLost(document_id) from error

    def add_day_usage(self, tenant: str, day: str, documents: dict[str, int], usage: dict[str, Any]) -> None:
        self._db.update_item(**day_usage_update(self._table, tenant, day, documents, usage))

    def usage_by_day(self, tenant: str, days: Sequence[str]) -> dict[str, dict[str, Any]]:
        keys = {ledger_key(tenant, day): day for day in days}
        totals: dict[str, dict[str, Any]] = {}
        wanted = list(keys)
        # BatchGetItem takes 100 keys a call; a day with nothing recorded has no item.
        for start in range(0, len(wanted), 100):
            request = {
                self._table: {"Keys": [{"document_id": {"S": k}} for k in wanted[start : start + 100]]}
            }
            while request:
                response = self._db.batch_get_item(RequestItems=request)
                for item in response.get("Responses", {}).get(self._table, []):
                    totals[keys[item["document_id"]["S"]]] = read_day_totals(item)
                request = response.get("UnprocessedKeys") or {}
        return totals


def table_definition(table: str) -> dict[str, Any]:
    """The CreateTable request the local stack sends; infra/ declares the same table for AWS."""
    return {
        "TableName": table,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [
            {"AttributeName": "document_id", "AttributeType": "S"},
            {"AttributeName": "status", "AttributeType": "S"},
            {"AttributeName": "updated_at", "AttributeType": "S"},
            {"AttributeName": "tenant", "AttributeType": "S"},
            {"AttributeName": "tenant_status", "AttributeType": "S"},
        ],
        "KeySchema": [{"AttributeName": "document_id", "KeyType": "HASH"}],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": STATUS_INDEX,
                "KeySchema": [
                    {"AttributeName": "status", "KeyType": "HASH"},
                    {"AttributeName": "updated_at", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            },
            *(
                {
                    "IndexName": name,
                    "KeySchema": [
                        {"AttributeName": partition, "KeyType": "HASH"},
                        {"AttributeName": "updated_at", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "ALL"},
                }
                for name, partition in ((TENANT_INDEX, "tenant"), (TENANT_STATUS_INDEX, "tenant_status"))
            ),
        ],
    }
