"""What a typed `filter` (Knowledge Bases' RetrievalFilter shape) selects, on every VectorIndex.

One suite, run on each backend (test_filter_contract_sqlite.py, test_filter_contract_opensearch.py),
in both search modes where the engine has them: the SQLite adapter translates a filter to SQL for
keyword search and tests it in Python for vector search, the OpenSearch adapter to a query clause for
both; every case below must select the same documents through each. The corpus mixes types on purpose:
the number 2021 beside the string "2021", true beside 1, lists beside scalars, a missing key, an empty
list, wildcard characters in values, and a metadata key named like a built-in.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import pytest

from chalicelib.filtering import parse_filter
from chalicelib.model import Hit, SearchFilters
from chalicelib.ports import VectorIndex
from tests.contract.vector_index_contract import DIMENSIONS, RIVAL, TENANT, axis, indexed

MODES = ["vector", "keyword"]
ALL = {"a", "b", "c", "d", "e"}

# document id -> (key, content type, created_at, metadata); every text holds "report".
CORPUS: dict[str, tuple[str, str, str, dict[str, Any]]] = {
    "a": ("pets/a.txt", "text/plain", "2024-01-10T00:00:00.000Z",
          {"year": 2021, "team": "pets", "tags": ["red", "blue"], "draft": False, "score": 4.5}),
    "b": ("reports/b.pdf", "application/pdf", "2024-06-01T12:00:00.000Z",
          {"year": "2021", "team": "Pets", "tags": ["green"], "draft": True}),
    "c": ("pets-and/c.html", "text/html", "2025-01-01T00:00:00.000Z",
          {"year": 2023, "team": "finance", "tags": [], "note": "50% off*"}),
    "d": ("misc/d.txt", "text/plain", "2025-06-01T00:00:00.000Z", {"key": "shadow"}),
    "e": ("misc/e.md", "text/markdown", "2023-12-31T23:59:59.999Z",
          {"year": 2019.5, "team": "pets and finance", "tags": ["red"], "draft": 1}),
}  # fmt: skip


def leaf(op: str, key: str, value: Any) -> dict[str, Any]:
    return {op: {"key": key, "value": value}}


CASES: list[tuple[str, dict[str, Any], set[str]]] = [
    ("equals a number, not the same digits as a string", leaf("equals", "year", 2021), {"a"}),
    ("equals a string, not the same number", leaf("equals", "year", "2021"), {"b"}),
    ("equals an integer matches the float of the same value", leaf("equals", "score", 4.5), {"a"}),
    ("equals true, not the number 1", leaf("equals", "draft", True), {"b"}),
    ("equals 1, not true", leaf("equals", "draft", 1), {"e"}),
    ("equals false", leaf("equals", "draft", False), {"a"}),
    ("a list never equals one of its members", leaf("equals", "tags", "red"), set()),
    ("equals is case-sensitive", leaf("equals", "team", "PETS"), set()),
    ("notEquals keeps chunks without the key", leaf("notEquals", "team", "pets"), {"b", "c", "d", "e"}),
    ("greaterThan skips string values", leaf("greaterThan", "year", 2020), {"a", "c"}),
    ("greaterThanOrEquals", leaf("greaterThanOrEquals", "year", 2021), {"a", "c"}),
    ("lessThan a float", leaf("lessThan", "year", 2021), {"e"}),
    ("lessThanOrEquals", leaf("lessThanOrEquals", "year", 2021), {"a", "e"}),
    ("greaterThan over a float attribute", leaf("greaterThan", "score", 4), {"a"}),
    ("in strings", leaf("in", "team", ["pets", "finance"]), {"a", "c"}),
    ("in mixed types, each matching its own type", leaf("in", "year", [2021, "2021"]), {"a", "b"}),
    ("in an empty list matches nothing", leaf("in", "team", []), set()),
    ("notIn an empty list matches everything", leaf("notIn", "team", []), ALL),
    ("notIn keeps chunks without the key", leaf("notIn", "team", ["pets", "finance"]), {"b", "d", "e"}),
    ("startsWith is case-sensitive", leaf("startsWith", "team", "pets"), {"a", "e"}),
    ("listContains", leaf("listContains", "tags", "red"), {"a", "e"}),
    ("listContains wants a whole member", leaf("listContains", "tags", "re"), set()),
    ("listContains on a string attribute", leaf("listContains", "team", "pets"), set()),
    ("stringContains in a string", leaf("stringContains", "team", "and"), {"e"}),
    ("stringContains in a list member", leaf("stringContains", "tags", "ee"), {"b"}),
    ("stringContains reads * literally", leaf("stringContains", "note", "% off*"), {"c"}),
    ("stringContains reads ? literally", leaf("stringContains", "note", "off?"), set()),
    ("a missing key equals nothing", leaf("equals", "nokey", "x"), set()),
    ("a missing key is notEquals everything", leaf("notEquals", "nokey", "x"), ALL),
    ("an empty list contains nothing", leaf("stringContains", "tags", "e"), {"a", "b", "e"}),
    ("an empty list is still a key", leaf("notEquals", "tags", "x"), ALL),
    ("built-in content_type", leaf("equals", "content_type", "application/pdf"), {"b"}),
    ("notEquals a built-in", leaf("notEquals", "content_type", "text/plain"), {"b", "c", "e"}),
    ("built-in key prefix", leaf("startsWith", "key", "pets"), {"a", "c"}),
    ("built-in key prefix with the slash", leaf("startsWith", "key", "pets/"), {"a"}),
    ("built-in key contains", leaf("stringContains", "key", ".pd"), {"b"}),
    ("a built-in wins over a metadata key of its name", leaf("equals", "key", "shadow"), set()),
    ("a built-in is no number", leaf("equals", "key", 5), set()),
    ("a built-in is no list", leaf("listContains", "key", "misc/d.txt"), set()),
    ("built-in document_id in", leaf("in", "document_id", ["a", "d", "zz"]), {"a", "d"}),
    ("created_at from a date", leaf("greaterThanOrEquals", "created_at", "2025-01-01"), {"c", "d"}),
    ("created_at before a year", leaf("lessThan", "created_at", "2024"), {"e"}),
    (
        "andAll",
        {"andAll": [leaf("equals", "team", "pets"), leaf("greaterThan", "year", 2020)]},
        {"a"},
    ),
    (
        "orAll",
        {"orAll": [leaf("equals", "team", "finance"), leaf("listContains", "tags", "green")]},
        {"b", "c"},
    ),
    (
        "nested groups",
        {
            "andAll": [
                {
                    "orAll": [
                        leaf("startsWith", "key", "pets"),
                        leaf("equals", "content_type", "application/pdf"),
                    ]
                },
                leaf("notEquals", "draft", True),
            ]
        },
        {"a", "c"},
    ),
]


class FilterContract(abc.ABC):
    dimensions = DIMENSIONS
    # As in VectorIndexContract: "name[vector]" / "name[keyword]" entries the engine cannot run.
    cannot_run_modes: ClassVar[Mapping[str, str]] = {}

    @abc.abstractmethod
    def make_index(self, tmp_path: Path) -> VectorIndex: ...

    @pytest.fixture(autouse=True)
    def _skip_modes_the_engine_lacks(self, request: pytest.FixtureRequest) -> None:
        callspec = getattr(request.node, "callspec", None)
        mode = callspec.params.get("mode") if callspec else None
        if mode in self.cannot_run_modes:
            pytest.skip(f"{mode}: {self.cannot_run_modes[mode]}")

    @pytest.fixture
    def corpus(self, tmp_path: Path) -> VectorIndex:
        index = self.make_index(tmp_path)
        for i, (document_id, (key, content_type, created_at, metadata)) in enumerate(sorted(CORPUS.items())):
            chunk = indexed(
                document_id, 0, f"quarterly report number {i}", axis(i), key=key,
                content_type=content_type, metadata=metadata,
            )  # fmt: skip
            index.replace_document(document_id, "v1", [_created(chunk, created_at)])
        return index

    @pytest.mark.parametrize("mode", MODES)
    @pytest.mark.parametrize(("case", "raw", "expected"), CASES, ids=[c[0] for c in CASES])
    def test_the_filter_selects_the_same_documents(
        self, corpus: VectorIndex, mode: str, case: str, raw: dict[str, Any], expected: set[str]
    ) -> None:
        hits = _search(corpus, mode, 10, SearchFilters(tenant=TENANT, expression=parse_filter(raw)))
        assert {h.document_id for h in hits} == expected, case

    @pytest.mark.parametrize("mode", MODES)
    def test_typed_metadata_comes_back_typed(self, corpus: VectorIndex, mode: str) -> None:
        expression = parse_filter(leaf("equals", "document_id", "a"))
        [hit] = _search(corpus, mode, 10, SearchFilters(tenant=TENANT, expression=expression))
        assert hit.metadata == CORPUS["a"][3]

    @pytest.mark.parametrize("mode", MODES)
    def test_the_filter_combines_with_the_old_filters(self, corpus: VectorIndex, mode: str) -> None:
        filters = SearchFilters(
            tenant=TENANT,
            content_types=("text/plain",),
            expression=parse_filter(leaf("notEquals", "team", "x")),
        )
        assert {h.document_id for h in _search(corpus, mode, 10, filters)} == {"a", "d"}

    @pytest.mark.parametrize("mode", MODES)
    def test_the_old_metadata_filter_matches_only_string_values(self, corpus: VectorIndex, mode: str) -> None:
        for pair, expected in (
            (("year", "2021"), {"b"}),
            (("draft", "true"), set()),
            (("tags", '["green"]'), set()),
        ):
            hits = _search(corpus, mode, 10, SearchFilters(tenant=TENANT, metadata=(pair,)))
            assert {h.document_id for h in hits} == expected, pair

    @pytest.mark.parametrize("mode", MODES)
    def test_the_filter_applies_before_the_top_k_cut_and_within_the_tenant(
        self, corpus: VectorIndex, mode: str
    ) -> None:
        # 30 of the rival's chunks and 30 unfiltered ones of ours, all nearer and more on-topic.
        for tenant, name in ((RIVAL, "rival"), (TENANT, "crowd")):
            crowd = [
                indexed(name, i, f"report report report {i}", axis(0, 0.001 * i), tenant=tenant,
                        metadata={"year": 2021, "team": "pets"} if tenant == RIVAL else {})
                for i in range(30)
            ]  # fmt: skip
            corpus.replace_document(name, "v1", crowd)
        expression = parse_filter({"andAll": [leaf("equals", "team", "pets"), leaf("equals", "year", 2021)]})
        hits = _search(corpus, mode, 1, SearchFilters(tenant=TENANT, expression=expression))
        assert [h.document_id for h in hits] == ["a"]


def _created(chunk, created_at: str):
    from dataclasses import replace

    return replace(chunk, created_at=created_at)


def _search(index: VectorIndex, mode: str, k: int, filters: SearchFilters) -> list[Hit]:
    if mode == "vector":
        return index.search_vector(axis(0), k, filters)
    return index.search_keyword("report", k, filters)
