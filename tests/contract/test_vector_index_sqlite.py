"""The shared VectorIndex contract against SqliteVectorIndex, the embedded backend (its own tests, of
what only an embedded, shared file has to do, are in tests/unit/test_sqlite_index.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from chalicelib.adapters.sqlite import SqliteVectorIndex

# The contract module holds assertions but is not a test_ module: ask pytest to rewrite them too,
# so a failure there shows its values.
pytest.register_assert_rewrite("tests.contract.vector_index_contract")

from tests.contract.vector_index_contract import VectorIndexContract  # noqa: E402


class TestSqliteIndexContract(VectorIndexContract):
    def make_index(self, tmp_path: Path) -> SqliteVectorIndex:
        return SqliteVectorIndex(tmp_path / "index.db", self.dimensions, model_id=self.model.model_id)
