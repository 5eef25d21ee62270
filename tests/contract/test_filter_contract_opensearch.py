"""The shared typed-filter contract against OpenSearchVectorIndex on osmem-server: every keyword-mode
case runs on a real engine. osmem has no k-NN, so vector mode is skipped here; the k-NN request carries
the very same filter clause inside its `filter` (pinned in test_opensearch_contract.py)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

import pytest
from opensearchpy import OpenSearch

from chalicelib.adapters.opensearch import OpenSearchVectorIndex
from tests.contract.conftest import FakeTime, osmem_index

pytest.register_assert_rewrite("tests.contract.filter_contract")

from tests.contract.filter_contract import FilterContract  # noqa: E402

OSMEM_HAS_NO_KNN = "osmem-server has no k-NN: it answers every knn query with unsupported_operation_exception"


class TestOpenSearchFilterContract(FilterContract):
    cannot_run_modes: ClassVar[Mapping[str, str]] = {"vector": OSMEM_HAS_NO_KNN}

    @pytest.fixture(autouse=True)
    def _on_osmem(self, osmem_engine: OpenSearch, fake_time: FakeTime) -> None:
        self.engine = osmem_engine
        self.fake_time = fake_time

    def make_index(self, tmp_path: Path) -> OpenSearchVectorIndex:
        return osmem_index(self.engine, self.fake_time, self.dimensions)
