"""The `filter` of a search request, in Amazon Bedrock Knowledge Bases' RetrievalFilter shape, parsed
into the model's small typed tree (FilterCondition / FilterGroup) that each index adapter translates.

Each clause is one operator: `{"equals": {"key": "year", "value": 2021}}`, or `{"andAll": [...]}` /
`{"orAll": [...]}` of two or more clauses. Leaves are validated with pydantic; the tree walk is ours,
so that a malformed filter's 400 names the clause at fault (`filter.andAll[1].greaterThan`).

What the operators mean, the same on every index (tests/contract/filter_contract.py proves it):
- equals: the attribute exists and holds the value, of the same type (the string "2021" is not the
  number 2021, true is not 1; a list never equals a scalar). notEquals is its negation, so a chunk
  without the attribute matches it.
- greaterThan(OrEquals), lessThan(OrEquals): number attributes against a number; `created_at`, an
  ISO-8601 string, against an ISO-8601 string (compared as text, which orders ISO dates).
- in: equals one of the listed values (none, for an empty list); notIn is its negation.
- startsWith: a string attribute starting with the value. listContains: a list attribute holding the
  string. stringContains: a string attribute, or a member of a list attribute, containing the value.
All string tests are case-sensitive. Built-in keys (content_type, key, document_id, created_at) are
strings and win over metadata keys of the same name.
"""

from __future__ import annotations

from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
)

from chalicelib.model import FilterCondition, FilterExpression, FilterGroup

# The leaf operators of a `filter` (Amazon Bedrock Knowledge Bases' RetrievalFilter names).
FILTER_OPERATORS = (
    "equals",
    "notEquals",
    "greaterThan",
    "greaterThanOrEquals",
    "lessThan",
    "lessThanOrEquals",
    "in",
    "notIn",
    "startsWith",
    "listContains",
    "stringContains",
)

MAX_DEPTH = 5
MAX_CLAUSES = 50
MAX_GROUP_MEMBERS = 20
MAX_LIST_VALUES = 100
MAX_STRING = 512
# Beyond 2**53 a double cannot hold every integer, and the indexes store numbers as doubles.
MAX_ABS_NUMBER = 2**53

_RANGE = {"greaterThan", "greaterThanOrEquals", "lessThan", "lessThanOrEquals"}
_STRING_ONLY = {"startsWith", "listContains", "stringContains"}
_LISTS = {"in", "notIn"}

Scalar = StrictStr | StrictBool | StrictInt | StrictFloat


class _Attribute(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: StrictStr = Field(min_length=1, max_length=64)
    value: Scalar | list[StrictStr | StrictInt | StrictFloat]


def filter_json_schema(ref: str) -> dict[str, Any]:
    """The JSON schema of a filter clause, for the OpenAPI document; `ref` names this schema itself."""
    scalar = [{"type": "string", "maxLength": MAX_STRING}, {"type": "number"}, {"type": "boolean"}]
    listed = {"type": "array", "maxItems": MAX_LIST_VALUES, "items": {"anyOf": scalar[:2]}}
    attribute = {
        "type": "object",
        "required": ["key", "value"],
        "properties": {
            "key": {"type": "string", "minLength": 1, "maxLength": 64},
            "value": {"anyOf": [*scalar, listed]},
        },
        "additionalProperties": False,
    }
    group = {"type": "array", "minItems": 2, "maxItems": MAX_GROUP_MEMBERS, "items": {"$ref": ref}}
    return {
        "description": "Amazon Bedrock Knowledge Bases' RetrievalFilter: one operator per clause",
        "type": "object",
        "minProperties": 1,
        "maxProperties": 1,
        "properties": {**{op: attribute for op in FILTER_OPERATORS}, "andAll": group, "orAll": group},
        "additionalProperties": False,
    }


class FilterError(ValueError):
    """A malformed filter; the message starts with the path of the clause at fault."""


def parse_filter(raw: Any, path: str = "filter") -> FilterExpression:
    counter = [0]
    return _clause(raw, path, 1, counter)


def _clause(raw: Any, path: str, depth: int, counter: list[int]) -> FilterExpression:
    counter[0] += 1
    if counter[0] > MAX_CLAUSES:
        raise FilterError(f"{path}: a filter may hold at most {MAX_CLAUSES} clauses")
    if depth > MAX_DEPTH:
        raise FilterError(f"{path}: filters nest at most {MAX_DEPTH} levels deep")
    if not isinstance(raw, dict) or len(raw) != 1:
        raise FilterError(f"{path}: a clause is an object with exactly one operator")
    op, body = next(iter(raw.items()))
    here = f"{path}.{op}"
    if op in ("andAll", "orAll"):
        if not isinstance(body, list) or not 2 <= len(body) <= MAX_GROUP_MEMBERS:
            raise FilterError(f"{here}: a list of 2 to {MAX_GROUP_MEMBERS} clauses")
        members = tuple(_clause(item, f"{here}[{i}]", depth + 1, counter) for i, item in enumerate(body))
        return FilterGroup(every=op == "andAll", members=members)
    if op not in FILTER_OPERATORS:
        known = ", ".join((*FILTER_OPERATORS, "andAll", "orAll"))
        raise FilterError(f"{here}: unknown operator (one of {known})")
    try:
        attribute = _Attribute.model_validate(body)
    except ValidationError as error:
        first = error.errors()[0]
        if first["loc"] and first["loc"][0] == "value" and first["type"] != "missing":
            # The union's own errors name each alternative it tried: say what a value may be instead.
            raise FilterError(
                f"{here}.value: a string, number, boolean or a list of strings and numbers"
            ) from None
        where = ".".join(str(p) for p in first["loc"])
        raise FilterError(f"{here}{'.' + where if where else ''}: {first['msg']}") from None
    return FilterCondition(op=op, key=attribute.key, value=_checked_value(op, attribute, here))


def _checked_value(op: str, attribute: _Attribute, here: str) -> Any:
    value = attribute.value
    if op in _LISTS:
        if not isinstance(value, list):
            raise FilterError(f"{here}.value: {op} needs a list of strings or numbers")
        if len(value) > MAX_LIST_VALUES:
            raise FilterError(f"{here}.value: at most {MAX_LIST_VALUES} values")
        for item in value:
            _check_scalar(item, here)
        return tuple(value)
    if isinstance(value, list):
        raise FilterError(f"{here}.value: {op} needs a single value, not a list")
    _check_scalar(value, here)
    if op in _RANGE:
        if attribute.key == "created_at":
            if not isinstance(value, str):
                raise FilterError(f"{here}.value: created_at is compared with an ISO-8601 date string")
        elif isinstance(value, bool) or not isinstance(value, int | float):
            raise FilterError(f"{here}.value: {op} needs a number")
    if op in _STRING_ONLY and (not isinstance(value, str) or not value):
        raise FilterError(f"{here}.value: {op} needs a non-empty string")
    return value


def _check_scalar(value: Any, here: str) -> None:
    if isinstance(value, str) and len(value) > MAX_STRING:
        raise FilterError(f"{here}.value: strings are at most {MAX_STRING} characters")
    if isinstance(value, float) and value != value:  # NaN compares with nothing
        raise FilterError(f"{here}.value: not a number")
    if not isinstance(value, bool | str) and abs(value) > MAX_ABS_NUMBER:
        raise FilterError(f"{here}.value: numbers are at most 2**53 in magnitude")
