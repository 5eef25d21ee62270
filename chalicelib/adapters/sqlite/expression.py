"""A typed `filter` (model.FilterCondition / FilterGroup) two ways that must agree: as an SQL condition
for keyword search, and as a Python test of one facet group's attributes for vector search's mask.
chalicelib/filtering.py says what each operator means; tests/contract/filter_contract.py checks that
these two and the OpenSearch translation agree.
"""

from __future__ import annotations

from typing import Any

from chalicelib.model import BUILTIN_FILTER_KEYS, FilterCondition, FilterExpression, FilterGroup

_NEGATED = {"notEquals": "equals", "notIn": "in"}
_COMPARE = {"greaterThan": ">", "greaterThanOrEquals": ">=", "lessThan": "<", "lessThanOrEquals": "<="}


# -- Python, over one group's attributes ----------------------------------------------------------


def attributes(metadata: dict[str, Any], key: str, content_type: str, document_id: str, created_at: str):
    """What a filter sees of a chunk: its metadata, the built-in keys winning."""
    return {
        **metadata,
        "key": key,
        "content_type": content_type,
        "document_id": document_id,
        "created_at": created_at,
    }


def matches(expression: FilterExpression, attrs: dict[str, Any]) -> bool:
    if isinstance(expression, FilterGroup):
        test = all if expression.every else any
        return test(matches(member, attrs) for member in expression.members)
    return _leaf(expression, attrs)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _same(stored: Any, wanted: Any) -> bool:
    """Equal and of the same JSON type: "1" is not 1, true is not 1."""
    if isinstance(wanted, bool) or isinstance(stored, bool):
        return isinstance(wanted, bool) and isinstance(stored, bool) and stored == wanted
    if _is_number(wanted):
        return _is_number(stored) and stored == wanted
    return isinstance(stored, str) and stored == wanted


def _leaf(condition: FilterCondition, attrs: dict[str, Any]) -> bool:
    op, value = condition.op, condition.value
    if op in _NEGATED:
        return not _leaf(FilterCondition(_NEGATED[op], condition.key, value), attrs)
    if condition.key not in attrs:
        return False
    stored = attrs[condition.key]
    if op == "equals":
        return _same(stored, value)
    if op == "in":
        return any(_same(stored, item) for item in value)
    if op in _COMPARE:
        comparable = (_is_number(stored) and _is_number(value)) or (
            isinstance(stored, str) and isinstance(value, str)
        )
        if not comparable:
            return False
        return {">": stored > value, ">=": stored >= value, "<": stored < value, "<=": stored <= value}[
            _COMPARE[op]
        ]
    if op == "startsWith":
        return isinstance(stored, str) and stored.startswith(value)
    if op == "listContains":
        return isinstance(stored, list) and value in stored
    if op == "stringContains":
        if isinstance(stored, list):
            return any(isinstance(item, str) and value in item for item in stored)
        return isinstance(stored, str) and value in stored
    raise ValueError(f"unknown filter operator {op}")


# -- SQL, over the chunks table -------------------------------------------------------------------


def expression_sql(expression: FilterExpression, alias: str = "c") -> tuple[str, list[Any]]:
    """An SQL condition (and its parameters) true exactly where `matches` is."""
    if isinstance(expression, FilterGroup):
        parts = [expression_sql(member, alias) for member in expression.members]
        joiner = " AND " if expression.every else " OR "
        return "(" + joiner.join(sql for sql, _ in parts) + ")", [p for _, params in parts for p in params]
    return _leaf_sql(expression, alias)


def _leaf_sql(condition: FilterCondition, alias: str) -> tuple[str, list[Any]]:
    op, key, value = condition.op, condition.key, condition.value
    if op in _NEGATED:
        sql, params = _leaf_sql(FilterCondition(_NEGATED[op], key, value), alias)
        return f"NOT {sql}", params
    if key in BUILTIN_FILTER_KEYS:
        # A built-in is a TEXT column: a string test on it, or false for any other type of value.
        return _test_sql(op, value, f"{alias}.{key}", "'text'")
    # json_each rather than json_extract: a metadata key may hold any character, and a JSON path
    # built from it would need escaping SQLite's path syntax does not offer.
    test, params = _test_sql(op, value, "m.value", "m.type", list_of="m.value")
    return (
        f"EXISTS (SELECT 1 FROM json_each({alias}.metadata) AS m WHERE m.key = ? AND {test})",
        [key, *params],
    )


def _test_sql(
    op: str, value: Any, column: str, json_type: str, list_of: str | None = None
) -> tuple[str, list[Any]]:
    """A test of one stored value (`column`, of JSON type `json_type`) against a condition."""
    if op == "equals":
        return _equals_sql(value, column, json_type)
    if op == "in":
        if not value:
            return "0", []
        parts = [_equals_sql(item, column, json_type) for item in value]
        return "(" + " OR ".join(sql for sql, _ in parts) + ")", [p for _, params in parts for p in params]
    if op in _COMPARE:
        kinds = "'text'" if isinstance(value, str) else "'integer', 'real'"
        return f"({json_type} IN ({kinds}) AND {column} {_COMPARE[op]} ?)", [value]
    if op == "startsWith":
        # substr rather than LIKE: LIKE ignores ASCII case and reads % and _ as wildcards.
        return f"({json_type} = 'text' AND substr({column}, 1, ?) = ?)", [len(value), value]
    if op == "stringContains":
        text = f"({json_type} = 'text' AND instr({column}, ?) > 0)"
        if list_of is None:
            return text, [value]
        member = (
            f"EXISTS (SELECT 1 FROM json_each({list_of}) AS e"
            " WHERE e.type = 'text' AND instr(e.value, ?) > 0)"
        )
        return f"({text} OR ({json_type} = 'array' AND {member}))", [value, value]
    if op == "listContains":
        if list_of is None:
            return "0", []
        member = f"EXISTS (SELECT 1 FROM json_each({list_of}) AS e WHERE e.type = 'text' AND e.value = ?)"
        return f"({json_type} = 'array' AND {member})", [value]
    raise ValueError(f"unknown filter operator {op}")


def _equals_sql(value: Any, column: str, json_type: str) -> tuple[str, list[Any]]:
    if isinstance(value, bool):
        return f"({json_type} = '{'true' if value else 'false'}')", []
    if isinstance(value, int | float):
        return f"({json_type} IN ('integer', 'real') AND {column} = ?)", [value]
    return f"({json_type} = 'text' AND {column} = ?)", [value]
