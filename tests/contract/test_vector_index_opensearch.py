"""The shared VectorIndex contract against OpenSearchVectorIndex on osmem-server, a real in-memory
OpenSearch-compatible engine (BM25, mappings, bulk, search_after, deletes by _id) without k-NN.

Every keyword-mode test runs; the vector-mode ones are skipped, and the k-NN request they would send is
pinned instead by recorded requests in test_opensearch_contract.py. OpenSearch-only behaviour on
osmem (mapping, paging, rejected bulk items, AOSS's lag) is in test_opensearch_osmem.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

import pytest
from opensearchpy import OpenSearch

from chalicelib.adapters.opensearch import OpenSearchVectorIndex
from tests.contract.conftest import FakeTime, osmem_index

# The contract module holds assertions but is not a test_ module: ask pytest to rewrite them too,
# so a failure there shows its values.
pytest.register_assert_rewrite("tests.contract.vector_index_contract")

from tests.contract.vector_index_contract import VectorIndexContract  # noqa: E402

OSMEM_HAS_NO_KNN = (
    "osmem-server has no k-NN: it maps knn_vector fields but answers every knn query with "
    "unsupported_operation_exception (the k-NN request is pinned in test_opensearch_contract.py)"
)


class TestOpenSearchIndexContract(VectorIndexContract):
    cannot_run: ClassVar[Mapping[str, str]] = {
        "test_vector_search_puts_the_nearest_chunk_first_with_cosine_scores": OSMEM_HAS_NO_KNN,
        "test_replacing_with_the_same_version_twice_changes_nothing[vector]": OSMEM_HAS_NO_KNN,
        "test_replacing_with_a_new_version_removes_the_old_chunks[vector]": OSMEM_HAS_NO_KNN,
        "test_delete_removes_every_chunk_of_the_document_only[vector]": OSMEM_HAS_NO_KNN,
        "test_k_is_respected_in_both_modes[vector]": OSMEM_HAS_NO_KNN,
        "test_hits_carry_the_chunk_fields[vector]": OSMEM_HAS_NO_KNN,
        "test_filters_apply_in_both_modes[vector]": OSMEM_HAS_NO_KNN,
        "test_filters_apply_before_the_top_k_cut[vector]": OSMEM_HAS_NO_KNN,
        "test_a_tenant_sees_only_its_own_chunks[vector]": OSMEM_HAS_NO_KNN,
        "test_the_tenant_scope_applies_before_the_top_k_cut[vector]": OSMEM_HAS_NO_KNN,
        "test_filters_combine_with_the_tenant_scope[vector]": OSMEM_HAS_NO_KNN,
        "test_deleting_one_tenants_document_leaves_the_others[vector]": OSMEM_HAS_NO_KNN,
    }

    @pytest.fixture(autouse=True)
    def _on_osmem(self, osmem_engine: OpenSearch, fake_time: FakeTime) -> None:
        self.engine = osmem_engine
        self.fake_time = fake_time

    def make_index(self, tmp_path: Path) -> OpenSearchVectorIndex:
        return osmem_index(self.engine, self.fake_time, self.dimensions, model_id=self.model.model_id)
