"""The shared typed-filter contract against SqliteVectorIndex, in both search modes (SQL for keyword
search, the facet mask for vector search)."""

from __future__ import annotations

from pathlib import Path

import pytest

from chalicelib.adapters.sqlite import SqliteVectorIndex

pytest.register_assert_rewrite("tests.contract.filter_contract")

from tests.contract.filter_contract import FilterContract  # noqa: E402


class TestSqliteFilterContract(FilterContract):
    def make_index(self, tmp_path: Path) -> SqliteVectorIndex:
        return SqliteVectorIndex(tmp_path / "index.db", self.dimensions)
