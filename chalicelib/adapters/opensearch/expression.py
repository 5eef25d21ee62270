"""A typed `filter` (model.FilterCondition / FilterGroup) as an OpenSearch query clause, and the
`attributes` entries of a chunk it is tested against.

Metadata keys are the users' own, so they cannot be mapped fields (AOSS caps the fields of an index,
and the mapping is strict). Each metadata value is instead one or more entries of a `nested` field,
`{"name", "kind", "s" | "n" | "b"}` (kind: string, number, boolean or list; a list gives one entry per
member), and a condition on a key is a nested query over that key's entries. Built-in keys are keyword
fields of the chunk. chalicelib/filtering.py says what each operator means; the SQLite adapter's
expression.py is the other translation, and tests/contract/filter_contract.py checks they agree.
"""

from __future__ import annotations

from typing import Any

from chalicelib.model import BUILTIN_FILTER_KEYS, FilterCondition, FilterExpression, FilterGroup

ATTRIBUTES_FIELD = "attributes"
ATTRIBUTES_MAPPING = {
    "type": "nested",
    "properties": {
        "name": {"type": "keyword"},
        "kind": {"type": "keyword"},
        "s": {"type": "keyword"},
        "n": {"type": "double"},
        "b": {"type": "boolean"},
    },
}
_NEGATED = {"notEquals": "equals", "notIn": "in"}
_RANGE = {"greaterThan": "gt", "greaterThanOrEquals": "gte", "lessThan": "lt", "lessThanOrEquals": "lte"}
_NOTHING: dict[str, Any] = {"match_none": {}}


def attribute_entries(metadata: dict[str, Any]) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    for name, value in sorted(metadata.items()):
        if isinstance(value, bool):
            entries.append({"name": name, "kind": "boolean", "b": value})
        elif isinstance(value, int | float):
            entries.append({"name": name, "kind": "number", "n": value})
        elif isinstance(value, list):
            # An empty list leaves a marker entry, so the key still exists (listContains finds nothing).
            entries.extend({"name": name, "kind": "list", "s": item} for item in value)
            if not value:
                entries.append({"name": name, "kind": "list"})
        else:
            entries.append({"name": name, "kind": "string", "s": str(value)})
    return entries


def expression_clause(expression: FilterExpression) -> dict[str, Any]:
    if isinstance(expression, FilterGroup):
        members = [expression_clause(member) for member in expression.members]
        if expression.every:
            return {"bool": {"filter": members}}
        return {"bool": {"should": members, "minimum_should_match": 1}}
    return _leaf(expression)


def _leaf(condition: FilterCondition) -> dict[str, Any]:
    op, key, value = condition.op, condition.key, condition.value
    if op in _NEGATED:
        return {"bool": {"must_not": [_leaf(FilterCondition(_NEGATED[op], key, value))]}}
    if key in BUILTIN_FILTER_KEYS:
        return _builtin(op, key, value)
    tests = _attribute_tests(op, value)
    if tests is None:
        return _NOTHING
    entry = [{"term": {f"{ATTRIBUTES_FIELD}.name": key}}, *tests]
    return {"nested": {"path": ATTRIBUTES_FIELD, "query": {"bool": {"filter": entry}}}}


def _builtin(op: str, field: str, value: Any) -> dict[str, Any]:
    """A test of a built-in keyword field, which always holds a string."""
    if op == "equals":
        return {"term": {field: value}} if isinstance(value, str) else _NOTHING
    if op == "in":
        strings = [item for item in value if isinstance(item, str)]
        return {"terms": {field: strings}} if strings else _NOTHING
    if op in _RANGE:
        return {"range": {field: {_RANGE[op]: value}}} if isinstance(value, str) else _NOTHING
    if op == "startsWith":
        return {"prefix": {field: value}}
    if op == "stringContains":
        return {"wildcard": {field: {"value": _contains_pattern(value)}}}
    return _NOTHING  # listContains: a built-in is never a list


def _attribute_tests(op: str, value: Any) -> list[dict[str, Any]] | None:
    """The tests one attribute entry must pass (besides its name); None when none can."""
    kind = f"{ATTRIBUTES_FIELD}.kind"
    if op == "equals":
        return _equals(value)
    if op == "in":
        alternatives = [{"bool": {"filter": _equals(item)}} for item in value]
        return [{"bool": {"should": alternatives, "minimum_should_match": 1}}] if alternatives else None
    if op in _RANGE:
        if isinstance(value, str):
            return [{"term": {kind: "string"}}, {"range": {f"{ATTRIBUTES_FIELD}.s": {_RANGE[op]: value}}}]
        return [{"term": {kind: "number"}}, {"range": {f"{ATTRIBUTES_FIELD}.n": {_RANGE[op]: value}}}]
    if op == "startsWith":
        return [{"term": {kind: "string"}}, {"prefix": {f"{ATTRIBUTES_FIELD}.s": value}}]
    if op == "listContains":
        return [{"term": {kind: "list"}}, {"term": {f"{ATTRIBUTES_FIELD}.s": value}}]
    if op == "stringContains":
        return [
            {"terms": {kind: ["string", "list"]}},
            {"wildcard": {f"{ATTRIBUTES_FIELD}.s": {"value": _contains_pattern(value)}}},
        ]
    raise ValueError(f"unknown filter operator {op}")


def _equals(value: Any) -> list[dict[str, Any]]:
    kind = f"{ATTRIBUTES_FIELD}.kind"
    if isinstance(value, bool):
        return [{"term": {kind: "boolean"}}, {"term": {f"{ATTRIBUTES_FIELD}.b": value}}]
    if isinstance(value, int | float):
        return [{"term": {kind: "number"}}, {"term": {f"{ATTRIBUTES_FIELD}.n": value}}]
    return [{"term": {kind: "string"}}, {"term": {f"{ATTRIBUTES_FIELD}.s": value}}]


def _contains_pattern(value: str) -> str:
    """A wildcard pattern matching `value` anywhere, its own wildcard characters escaped."""
    escaped = value.replace("\\", "\\\\").replace("*", "\\*").replace("?", "\\?")
    return f"*{escaped}*"
