"""chalicelib.filtering: the Knowledge Bases filter shape parsed into the typed tree, and the 400s a
malformed one gets, each naming the clause at fault."""

from __future__ import annotations

import pytest

from chalicelib.filtering import MAX_CLAUSES, MAX_DEPTH, FilterError, parse_filter
from chalicelib.model import FilterCondition, FilterGroup


def leaf(op, key, value):
    return {op: {"key": key, "value": value}}


def test_a_nested_filter_becomes_the_typed_tree() -> None:
    raw = {
        "andAll": [
            leaf("equals", "team", "pets"),
            {"orAll": [leaf("greaterThan", "year", 2020), leaf("in", "lang", ["en", 3])]},
        ]
    }
    assert parse_filter(raw) == FilterGroup(
        every=True,
        members=(
            FilterCondition("equals", "team", "pets"),
            FilterGroup(
                every=False,
                members=(
                    FilterCondition("greaterThan", "year", 2020),
                    FilterCondition("in", "lang", ("en", 3)),
                ),
            ),
        ),
    )


def test_values_keep_their_json_types() -> None:
    assert parse_filter(leaf("equals", "draft", True)).value is True
    assert (
        parse_filter(leaf("equals", "n", 1)).value == 1
        and type(parse_filter(leaf("equals", "n", 1)).value) is int
    )
    assert parse_filter(leaf("equals", "n", 1.5)).value == 1.5
    assert parse_filter(leaf("greaterThanOrEquals", "created_at", "2024-01-01")).value == "2024-01-01"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({}, "filter: a clause is an object with exactly one operator"),
        ([], "filter: a clause is an object with exactly one operator"),
        (
            {"equals": {"key": "a", "value": 1}, "in": {}},
            "filter: a clause is an object with exactly one operator",
        ),
        (leaf("sameAs", "a", 1), "filter.sameAs: unknown operator"),
        ({"andAll": [leaf("equals", "a", 1)]}, "filter.andAll: a list of 2 to 20 clauses"),
        ({"orAll": "x"}, "filter.orAll: a list of 2 to 20 clauses"),
        (
            {"andAll": [leaf("equals", "a", 1), leaf("greaterThan", "b", "x")]},
            "filter.andAll[1].greaterThan.value: greaterThan needs a number",
        ),
        (leaf("greaterThan", "b", True), "filter.greaterThan.value: greaterThan needs a number"),
        (leaf("lessThan", "created_at", 5), "filter.lessThan.value: created_at is compared with an ISO-8601"),
        ({"equals": {"key": "a"}}, "filter.equals.value: Field required"),
        ({"equals": {"key": "", "value": 1}}, "filter.equals.key: String should have at least 1 character"),
        (
            {"equals": {"key": "a", "value": 1, "other": 2}},
            "filter.equals.other: Extra inputs are not permitted",
        ),
        (leaf("equals", "a", {"x": 1}), "filter.equals.value: a string, number, boolean or a list"),
        (leaf("equals", "a", ["x"]), "filter.equals.value: equals needs a single value, not a list"),
        (leaf("in", "a", "x"), "filter.in.value: in needs a list of strings or numbers"),
        (leaf("in", "a", [True]), "filter.in.value: a string, number, boolean or a list"),
        (leaf("notIn", "a", list(range(101))), "filter.notIn.value: at most 100 values"),
        (leaf("startsWith", "a", ""), "filter.startsWith.value: startsWith needs a non-empty string"),
        (leaf("listContains", "a", 3), "filter.listContains.value: listContains needs a non-empty string"),
        (leaf("equals", "a", "x" * 513), "filter.equals.value: strings are at most 512 characters"),
        (leaf("equals", "a", 2**60), "filter.equals.value: numbers are at most 2**53"),
        (leaf("equals", "a", float("nan")), "filter.equals.value: not a number"),
    ],
)
def test_a_malformed_filter_names_the_bad_clause(raw, message: str) -> None:
    with pytest.raises(FilterError) as raised:
        parse_filter(raw)
    assert str(raised.value).startswith(message), str(raised.value)


def test_depth_is_bounded() -> None:
    raw = leaf("equals", "a", 1)
    for _ in range(MAX_DEPTH):
        raw = {"andAll": [raw, leaf("equals", "b", 2)]}
    with pytest.raises(FilterError, match=f"filters nest at most {MAX_DEPTH} levels deep"):
        parse_filter(raw)


def test_the_number_of_clauses_is_bounded() -> None:
    groups = [
        {"orAll": [leaf("equals", "a", i), leaf("equals", "b", i)]} for i in range(MAX_CLAUSES // 3 + 1)
    ]
    wide = {"andAll": groups[:20]}
    assert isinstance(parse_filter({"andAll": groups[:16]}), FilterGroup)  # 49 clauses
    with pytest.raises(FilterError, match=f"at most {MAX_CLAUSES} clauses"):
        parse_filter({"andAll": [wide, wide]})
