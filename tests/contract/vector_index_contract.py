"""What every VectorIndex must do, whichever engine is behind it.

A backend's test module subclasses VectorIndexContract and implements make_index; pytest then runs
every test below against that backend, except those its engine under test cannot run, which the
subclass names in `cannot_run`, each with the reason. Tests of both search modes run once per mode, so
that an engine without one mode still runs the other. Vectors are hand-made in a small space so the
expected nearest neighbour is obvious, and texts are chosen so the expected BM25 winner is too.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import ClassVar

import pytest

from chalicelib.model import (
    Chunk,
    ConfigurationError,
    EmbeddingModel,
    Hit,
    IndexedChunk,
    IndexModelMismatch,
    SearchFilters,
)
from chalicelib.ports import VectorIndex

DIMENSIONS = 8
# The model every fixture chunk is of; OTHER_MODEL makes vectors of the same size that mean otherwise.
MODEL = EmbeddingModel("contract/model-a", DIMENSIONS)
OTHER_MODEL = EmbeddingModel("contract/model-b", DIMENSIONS)
# The tenant of every chunk the fixtures load; RIVAL's chunks are written only by the tenant tests.
TENANT = "acme"
RIVAL = "globex"


def unit(*components: float) -> list[float]:
    """A unit vector in the contract's space from its first few components."""
    padded = list(components) + [0.0] * (DIMENSIONS - len(components))
    norm = math.sqrt(sum(c * c for c in padded))
    return [c / norm for c in padded]


def axis(i: int, wobble: float = 0.0) -> list[float]:
    """Unit vector along axis i, tilted slightly towards the next axis by `wobble`."""
    components = [0.0] * DIMENSIONS
    components[i] = 1.0
    components[(i + 1) % DIMENSIONS] = wobble
    return unit(*components)


def indexed(
    document_id: str,
    ordinal: int,
    text: str,
    vector: list[float],
    *,
    version: str = "v1",
    key: str = "misc/file.txt",
    content_type: str = "text/plain",
    metadata: dict[str, str] | None = None,
    page: int | None = None,
    tenant: str = TENANT,
    model_id: str = MODEL.model_id,
) -> IndexedChunk:
    return IndexedChunk(
        chunk=Chunk(
            chunk_id=f"{document_id}:{version}:{ordinal}",
            document_id=document_id,
            ordinal=ordinal,
            text=text,
            page=page,
        ),
        vector=vector,
        version=version,
        key=key,
        content_type=content_type,
        metadata=metadata or {},
        tenant=tenant,
        model_id=model_id,
        dimensions=len(vector),
    )


def pets(version: str = "v1") -> list[IndexedChunk]:
    meta = {"team": "pets", "lang": "en"}
    return [
        indexed("pets", 0, "The cat sat on the mat and purred.", axis(0), version=version,
                key="pets/cats.txt", metadata=meta),
        indexed("pets", 1, "Kittens chase a ball of yarn across the rug.", axis(1, 0.2), version=version,
                key="pets/cats.txt", metadata=meta),
    ]  # fmt: skip


def finance() -> list[IndexedChunk]:
    meta = {"team": "finance", "lang": "en"}
    return [
        indexed("finance", 0, "Quarterly revenue grew five percent on strong subscription sales.", axis(2),
                key="reports/q3.pdf", content_type="application/pdf", metadata=meta, page=1),
        indexed("finance", 1, "Operating margin improved in the third quarter; costs were flat.", axis(3),
                key="reports/q3.pdf", content_type="application/pdf", metadata=meta, page=2),
    ]  # fmt: skip


def garden() -> list[IndexedChunk]:
    # Its key starts with "pets" but not with "pets/": a prefix filter must not confuse the two.
    # A metadata key may hold "=": ("a=b", "c") must not match ("a", "b=c").
    meta = {"team": "garden", "lang": "de", "a=b": "c"}
    return [
        indexed("garden", 0, "Tomatoes need sun, water and a cat to keep the mice away.", axis(4),
                key="pets-and-plants/garden.html", content_type="text/html", metadata=meta),
    ]  # fmt: skip


def scoped(tenant: str = TENANT, **filters) -> SearchFilters:
    """Filters for a search by `tenant`, as the search service makes them for a signed-in caller."""
    return SearchFilters(tenant=tenant, **filters)


NO_FILTER = scoped()
SEARCH_MODES = ["vector", "keyword"]
HOSTILE_QUERIES = [
    'cat AND "',
    '"',
    "NEAR(cat mat",
    "cat*",
    "-cat",
    "cat OR",
    "text: cat",
    "^cat",
    "(((",
    "cat's mat",
    "'; DROP TABLE chunks; --",
    "\x00cat",
    "cät",
    "🐈 cat",
    "a" * 5000,
]


class VectorIndexContract(abc.ABC):
    dimensions = DIMENSIONS
    model = MODEL
    # The tests the engine under test cannot run, each with the reason: a test's name, or
    # "name[vector]" / "name[keyword]" for one mode of a test run in both search modes.
    cannot_run: ClassVar[Mapping[str, str]] = {}

    @abc.abstractmethod
    def make_index(self, tmp_path: Path) -> VectorIndex:
        """A new, empty index for `self.model`'s vectors (`self.dimensions` of them), its model
        recorded at creation. Called again with the same `tmp_path`, it opens the same storage."""

    @pytest.fixture(autouse=True)
    def _skip_what_the_engine_cannot_run(self, request: pytest.FixtureRequest) -> None:
        name = request.function.__name__
        callspec = getattr(request.node, "callspec", None)
        mode = callspec.params.get("mode") if callspec else None
        for entry in (name, f"{name}[{mode}]"):
            if entry in self.cannot_run:
                pytest.skip(f"{entry}: {self.cannot_run[entry]}")

    def test_cannot_run_names_only_tests_of_the_contract(self) -> None:
        tests = {name for name in dir(VectorIndexContract) if name.startswith("test_")}
        for entry in self.cannot_run:
            name, _, mode = entry.partition("[")
            assert name in tests, f"cannot_run names {name}, which the contract does not have"
            assert mode in ("", "vector]", "keyword]"), f"cannot_run: {entry} names no search mode"

    @pytest.fixture
    def index(self, tmp_path: Path) -> VectorIndex:
        return self.make_index(tmp_path)

    @pytest.fixture
    def loaded(self, index: VectorIndex) -> VectorIndex:
        index.replace_document("pets", "v1", pets())
        index.replace_document("finance", "v1", finance())
        index.replace_document("garden", "v1", garden())
        return index

    # -- the embedding model --------------------------------------------------------------------

    def test_the_index_records_its_model_and_keeps_it_when_reopened(
        self, loaded: VectorIndex, tmp_path: Path
    ) -> None:
        assert loaded.embedding_model() == MODEL
        assert self.make_index(tmp_path).embedding_model() == MODEL

    def test_chunks_of_another_model_are_refused_and_the_document_keeps_its_chunks(
        self, loaded: VectorIndex, tmp_path: Path
    ) -> None:
        other = [replace(c, version="v2", model_id=OTHER_MODEL.model_id) for c in pets("v2")]
        for index in (loaded, self.make_index(tmp_path)):  # this handle, and one opened afresh
            with pytest.raises(IndexModelMismatch, match="contract/model-a") as refused:
                index.replace_document("pets", "v2", other)
            assert refused.value.holds == MODEL and refused.value.offered == OTHER_MODEL
        # A deployment fault, not the file's: the worker retries it rather than failing the document.
        assert isinstance(refused.value, ConfigurationError)
        assert loaded.count("pets") == 2
        assert {h.text for h in loaded.search_keyword("kittens", 5, NO_FILTER)} == {
            "Kittens chase a ball of yarn across the rug."
        }

    def test_one_write_mixing_two_models_is_refused_whole(self, loaded: VectorIndex) -> None:
        mixed = pets("v2")
        mixed[1] = replace(mixed[1], model_id=OTHER_MODEL.model_id)
        with pytest.raises(IndexModelMismatch):
            loaded.replace_document("pets", "v2", mixed)
        assert loaded.count("pets") == 2

    def test_a_query_vector_of_other_dimensions_is_refused(self, loaded: VectorIndex) -> None:
        with pytest.raises(IndexModelMismatch, match="query vector"):
            loaded.search_vector([1.0] + [0.0] * DIMENSIONS, 3, NO_FILTER)

    def test_a_query_of_another_model_is_refused_even_of_the_same_size(self, loaded: VectorIndex) -> None:
        with pytest.raises(IndexModelMismatch, match="contract/model-b"):
            loaded.search_vector(axis(0), 3, NO_FILTER, OTHER_MODEL)

    # -- writes --------------------------------------------------------------------------------

    def test_count_overall_and_per_document(self, loaded: VectorIndex) -> None:
        assert loaded.count() == 5
        assert loaded.count("pets") == 2
        assert loaded.count("garden") == 1
        assert loaded.count("nobody") == 0

    @pytest.mark.parametrize("mode", SEARCH_MODES)
    def test_replacing_with_the_same_version_twice_changes_nothing(
        self, loaded: VectorIndex, mode: str
    ) -> None:
        # A query vector with a distinct cosine to every chunk, so the order has no ties to break.
        near = unit(1.0, 0.5, 0.3, 0.2, 0.1)
        before = search(loaded, mode, 10, near=near, words="cat kittens")
        loaded.replace_document("pets", "v1", pets())
        assert loaded.count() == 5
        assert loaded.count("pets") == 2
        assert search(loaded, mode, 10, near=near, words="cat kittens") == before

    @pytest.mark.parametrize("mode", SEARCH_MODES)
    def test_replacing_with_a_new_version_removes_the_old_chunks(
        self, loaded: VectorIndex, mode: str
    ) -> None:
        new = [
            indexed("pets", 0, "Dogs fetch sticks in the park.", axis(5), version="v2", key="pets/cats.txt")
        ]
        loaded.replace_document("pets", "v2", new)
        assert loaded.count("pets") == 1
        assert loaded.count() == 4
        found = ids(search(loaded, mode, 10, near=axis(0), words="cat kittens dogs"))
        assert "pets:v2:0" in found
        assert not any(chunk_id.startswith("pets:v1") for chunk_id in found)
        versions = {
            h.version for h in search(loaded, mode, 10, near=axis(5), words="dogs") if h.document_id == "pets"
        }
        assert versions == {"v2"}
        if mode == "keyword":
            assert found == ["pets:v2:0", "garden:v1:0"]

    def test_replacing_with_no_chunks_leaves_the_document_empty(self, loaded: VectorIndex) -> None:
        loaded.replace_document("pets", "v2", [])
        assert loaded.count("pets") == 0
        assert loaded.count() == 3

    @pytest.mark.parametrize("mode", SEARCH_MODES)
    def test_delete_removes_every_chunk_of_the_document_only(self, loaded: VectorIndex, mode: str) -> None:
        assert loaded.delete_document("finance") == 2
        assert loaded.count() == 3
        if mode == "vector":
            assert {h.document_id for h in loaded.search_vector(axis(2), 10, NO_FILTER)} == {"pets", "garden"}
        else:
            assert loaded.search_keyword("revenue quarter", 10, NO_FILTER) == []
        assert loaded.delete_document("finance") == 0

    def test_sweep_keeps_only_the_version_named_and_only_touches_its_document(
        self, loaded: VectorIndex
    ) -> None:
        assert loaded.sweep("pets", "v1") == 0
        assert loaded.count("pets") == 2
        # The catalog names another version: every chunk of this one is a leftover.
        assert loaded.sweep("pets", "v2") == 2
        assert loaded.count("pets") == 0
        assert loaded.sweep("finance", None) == 2
        assert loaded.count() == 1 and loaded.count("garden") == 1
        assert ids(loaded.search_keyword("revenue quarter cat kittens", 10, NO_FILTER)) == ["garden:v1:0"]
        assert loaded.sweep("finance", None) == 0
        assert loaded.sweep("nobody", None) == 0

    # -- ranking -------------------------------------------------------------------------------

    def test_vector_search_puts_the_nearest_chunk_first_with_cosine_scores(self, loaded: VectorIndex) -> None:
        hits = loaded.search_vector(axis(1, 0.1), 10, NO_FILTER)
        assert hits[0].chunk_id == "pets:v1:1"
        assert hits[0].score == pytest.approx(cosine(axis(1, 0.1), axis(1, 0.2)), abs=1e-5)
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)

    def test_keyword_search_puts_the_best_bm25_match_first(self, loaded: VectorIndex) -> None:
        hits = loaded.search_keyword("quarterly revenue", 10, NO_FILTER)
        assert hits[0].chunk_id == "finance:v1:0"
        assert all(h.score > 0 for h in hits)
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)

    def test_keyword_search_finds_word_forms_and_ignores_case(self, loaded: VectorIndex) -> None:
        assert ids(loaded.search_keyword("TOMATO", 10, NO_FILTER)) == ["garden:v1:0"]

    def test_keyword_query_of_only_stop_words_returns_nothing(self, loaded: VectorIndex) -> None:
        assert loaded.search_keyword("the and of a", 10, NO_FILTER) == []
        assert loaded.search_keyword("   ", 10, NO_FILTER) == []

    @pytest.mark.parametrize("query", HOSTILE_QUERIES)
    def test_hostile_keyword_queries_do_not_raise(self, loaded: VectorIndex, query: str) -> None:
        hits = loaded.search_keyword(query, 10, NO_FILTER)
        if "cat" in query.lower():
            assert "pets:v1:0" in ids(hits)

    @pytest.mark.parametrize("mode", SEARCH_MODES)
    def test_k_is_respected_in_both_modes(self, loaded: VectorIndex, mode: str) -> None:
        if mode == "vector":
            assert len(loaded.search_vector(axis(0), 2, NO_FILTER)) == 2
            assert len(loaded.search_vector(axis(0), 100, NO_FILTER)) == 5
        else:
            assert len(loaded.search_keyword("cat", 1, NO_FILTER)) == 1
            assert len(loaded.search_keyword("cat", 100, NO_FILTER)) == 2

    @pytest.mark.parametrize("mode", SEARCH_MODES)
    def test_hits_carry_the_chunk_fields(self, loaded: VectorIndex, mode: str) -> None:
        hit = search(loaded, mode, 1, near=axis(3), words="operating margin")[0]
        assert hit.chunk_id == "finance:v1:1"
        assert hit.document_id == "finance"
        assert hit.text == "Operating margin improved in the third quarter; costs were flat."
        assert hit.key == "reports/q3.pdf"
        assert hit.page == 2
        assert hit.content_type == "application/pdf"
        assert hit.metadata == {"team": "finance", "lang": "en"}
        # The version the chunk was indexed from: search checks it against the catalog.
        assert hit.version == "v1"

    # -- filters -------------------------------------------------------------------------------

    @pytest.mark.parametrize("mode", SEARCH_MODES)
    @pytest.mark.parametrize(
        ("filters", "expected_documents"),
        [
            (scoped(content_types=("application/pdf", "text/html")), {"finance", "garden"}),
            (scoped(key_prefix="pets/"), {"pets"}),
            (scoped(key_prefix="pets"), {"pets", "garden"}),
            (scoped(metadata=(("lang", "en"),)), {"pets", "finance"}),
            (scoped(metadata=(("lang", "en"), ("team", "pets"))), {"pets"}),
            (scoped(metadata=(("lang", "fr"),)), set()),
            (scoped(metadata=(("a=b", "c"),)), {"garden"}),
            (scoped(metadata=(("a", "b=c"),)), set()),
            (scoped(document_ids=("garden", "finance")), {"finance", "garden"}),
            (scoped(content_types=("text/plain",), document_ids=("finance",)), set()),
        ],
    )
    def test_filters_apply_in_both_modes(
        self, loaded: VectorIndex, mode: str, filters: SearchFilters, expected_documents: set[str]
    ) -> None:
        # Every chunk holds one of these words, so only the filter decides what comes back.
        hits = search(loaded, mode, 10, filters, near=axis(0), words="cat kittens revenue margin tomatoes")
        assert {h.document_id for h in hits} == expected_documents

    @pytest.mark.parametrize("mode", SEARCH_MODES)
    def test_filters_apply_before_the_top_k_cut(self, index: VectorIndex, mode: str) -> None:
        # 30 plain-text chunks beat the 3 PDF chunks on both rankings; asking for 3 PDF chunks
        # must still return 3, which fails if the filter runs after taking the top 3.
        crowd = [indexed("crowd", i, f"solar solar solar panel {i}", axis(0, 0.01 * i)) for i in range(30)]
        index.replace_document("crowd", "v1", crowd)
        index.replace_document(
            "pdfs",
            "v1",
            [
                indexed("pdfs", i, f"panel number {i} with many other words around", axis(6, 0.1 * i),
                        content_type="application/pdf")
                for i in range(3)
            ],
        )  # fmt: skip
        only_pdf = scoped(content_types=("application/pdf",))
        if mode == "vector":
            hits = index.search_vector(axis(0), 3, only_pdf)
        else:
            hits = index.search_keyword("solar panel", 3, only_pdf)
        assert sorted(ids(hits)) == ["pdfs:v1:0", "pdfs:v1:1", "pdfs:v1:2"]

    # -- tenants -------------------------------------------------------------------------------

    @pytest.fixture
    def shared(self, loaded: VectorIndex) -> VectorIndex:
        """The fixtures' documents of TENANT beside RIVAL's copies of them: the same texts, vectors,
        keys, types and metadata, under other document ids."""
        for document, chunks in (("pets", pets()), ("finance", finance()), ("garden", garden())):
            loaded.replace_document(f"rival-{document}", "v1", [rival_copy(c) for c in chunks])
        return loaded

    @pytest.mark.parametrize("mode", SEARCH_MODES)
    def test_a_tenant_sees_only_its_own_chunks(self, shared: VectorIndex, mode: str) -> None:
        words = "cat kittens revenue margin tomatoes"
        own = search(shared, mode, 100, scoped(TENANT), near=axis(0), words=words)
        rival = search(shared, mode, 100, scoped(RIVAL), near=axis(0), words=words)
        assert {h.document_id for h in own} == {"pets", "finance", "garden"}
        assert {h.document_id for h in rival} == {"rival-pets", "rival-finance", "rival-garden"}
        assert search(shared, mode, 100, scoped("nobody"), near=axis(0), words=words) == []
        # The same chunks, ranked alike: each tenant's search is the search it would be alone.
        assert [h.chunk_id for h in rival] == ["rival-" + h.chunk_id for h in own]

    @pytest.mark.parametrize("mode", SEARCH_MODES)
    def test_the_tenant_scope_applies_before_the_top_k_cut(self, loaded: VectorIndex, mode: str) -> None:
        # The rival's 30 chunks beat all of TENANT's on both rankings; TENANT asking for 2 still gets 2.
        crowd = [
            indexed("crowd", i, f"cat cat cat kittens mat {i}", axis(0, 0.001 * i), tenant=RIVAL)
            for i in range(30)
        ]
        loaded.replace_document("crowd", "v1", crowd)
        hits = search(loaded, mode, 2, near=axis(0), words="cat kittens mat")
        assert len(hits) == 2 and {h.document_id for h in hits} <= {"pets", "finance", "garden"}
        assert hits[0].chunk_id == "pets:v1:0"

    @pytest.mark.parametrize("mode", SEARCH_MODES)
    @pytest.mark.parametrize(
        ("filters", "expected_documents"),
        [
            (scoped(content_types=("application/pdf",)), {"finance"}),
            (scoped(RIVAL, content_types=("application/pdf",)), {"rival-finance"}),
            (scoped(metadata=(("team", "pets"),)), {"pets"}),
            (scoped(RIVAL, key_prefix="pets/"), {"rival-pets"}),
            # Naming another tenant's documents finds nothing: the scope is not a default to override.
            (scoped(document_ids=("rival-pets", "rival-finance")), set()),
            (scoped(RIVAL, document_ids=("pets", "rival-garden")), {"rival-garden"}),
        ],
    )
    def test_filters_combine_with_the_tenant_scope(
        self, shared: VectorIndex, mode: str, filters: SearchFilters, expected_documents: set[str]
    ) -> None:
        hits = search(shared, mode, 100, filters, near=axis(0), words="cat kittens revenue margin tomatoes")
        assert {h.document_id for h in hits} == expected_documents

    @pytest.mark.parametrize("mode", SEARCH_MODES)
    def test_deleting_one_tenants_document_leaves_the_others(self, shared: VectorIndex, mode: str) -> None:
        words = "cat kittens revenue margin tomatoes"
        before = ids(search(shared, mode, 100, scoped(TENANT), near=axis(0), words=words))
        assert shared.delete_document("rival-pets") == 2
        assert shared.count("pets") == 2 and shared.count() == 8
        # The same chunks (BM25 scores move: the corpus statistics lost the rival's chunks).
        after = ids(search(shared, mode, 100, scoped(TENANT), near=axis(0), words=words))
        assert sorted(after) == sorted(before)
        rival = search(shared, mode, 100, scoped(RIVAL), near=axis(0), words=words)
        assert {h.document_id for h in rival} == {"rival-finance", "rival-garden"}


def rival_copy(item: IndexedChunk) -> IndexedChunk:
    """`item` as RIVAL's: the same chunk under the document id "rival-{id}"."""
    chunk = item.chunk
    copy = replace(chunk, chunk_id=f"rival-{chunk.chunk_id}", document_id=f"rival-{chunk.document_id}")
    return replace(item, chunk=copy, tenant=RIVAL)


def search(
    index: VectorIndex,
    mode: str,
    k: int,
    filters: SearchFilters = NO_FILTER,
    *,
    near: list[float],
    words: str,
) -> list[Hit]:
    """A search in `mode`: for the chunks nearest the vector `near`, or for `words`."""
    if mode == "vector":
        return index.search_vector(near, k, filters)
    return index.search_keyword(words, k, filters)


def ids(hits: list[Hit]) -> list[str]:
    return [h.chunk_id for h in hits]


def cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))
