"""SqliteVectorIndex: what only an embedded, shared file has to do (the shared VectorIndex contract runs
against it in tests/contract/test_vector_index_sqlite.py)."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from chalicelib.adapters.local_embedders import HashingEmbedder
from chalicelib.adapters.sqlite import SqliteVectorIndex
from chalicelib.adapters.sqlite import changes as index_module
from chalicelib.adapters.sqlite import keyword as keyword_module
from chalicelib.adapters.sqlite.keyword import (
    english_stop_words,
    fts_match_expression,
    keyword_query_plan,
    query_terms,
)
from chalicelib.model import SearchFilters

# The contract module holds assertions but is not a test_ module: ask pytest to rewrite them too,
# so a failure there shows its values.
pytest.register_assert_rewrite("tests.contract.vector_index_contract")

from tests.contract.vector_index_contract import (  # noqa: E402
    DIMENSIONS,
    NO_FILTER,
    TENANT,
    axis,
    finance,
    ids,
    indexed,
    pets,
)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "shared.db"


def test_a_write_through_one_instance_is_seen_by_another_on_the_same_file(path: Path) -> None:
    api = SqliteVectorIndex(path, DIMENSIONS)
    worker = SqliteVectorIndex(path, DIMENSIONS)
    assert api.search_vector(axis(0), 10, NO_FILTER) == []  # the API's matrix is now loaded, and empty

    worker.replace_document("pets", "v1", pets())
    assert ids(api.search_vector(axis(0), 1, NO_FILTER)) == ["pets:v1:0"]
    assert ids(api.search_keyword("kittens", 10, NO_FILTER)) == ["pets:v1:1"]

    worker.replace_document("pets", "v2", [indexed("pets", 0, "a parrot", axis(0), version="v2")])
    assert ids(api.search_vector(axis(0), 10, NO_FILTER)) == ["pets:v2:0"]

    worker.delete_document("pets")
    assert api.search_vector(axis(0), 10, NO_FILTER) == []
    assert api.count() == 0


def test_the_index_persists_across_reopening(path: Path) -> None:
    first = SqliteVectorIndex(path, DIMENSIONS)
    first.replace_document("finance", "v1", finance())
    first.close()

    reopened = SqliteVectorIndex(path, DIMENSIONS)
    assert reopened.count() == 2
    assert ids(reopened.search_vector(axis(2), 1, NO_FILTER)) == ["finance:v1:0"]
    assert ids(reopened.search_keyword("operating margin", 1, NO_FILTER)) == ["finance:v1:1"]


def test_the_file_is_in_wal_mode(path: Path) -> None:
    SqliteVectorIndex(path, DIMENSIONS)
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_opening_a_file_with_other_dimensions_is_refused(path: Path) -> None:
    SqliteVectorIndex(path, DIMENSIONS)
    with pytest.raises(ValueError, match="dimensional"):
        SqliteVectorIndex(path, DIMENSIONS * 2)


def test_a_vector_of_the_wrong_size_is_refused_and_the_old_version_kept(path: Path) -> None:
    index = SqliteVectorIndex(path, DIMENSIONS)
    index.replace_document("pets", "v1", pets())
    bad = [indexed("pets", 0, "short vector", [1.0, 0.0], version="v2")]
    with pytest.raises(ValueError):
        index.replace_document("pets", "v2", bad)
    assert ids(index.search_vector(axis(0), 1, NO_FILTER)) == ["pets:v1:0"]


def test_a_failed_replacement_rolls_back_to_the_previous_version(path: Path) -> None:
    index = SqliteVectorIndex(path, DIMENSIONS)
    index.replace_document("pets", "v1", pets())
    duplicate_ids = [
        indexed("pets", 0, "one", axis(0), version="v2"),
        indexed("pets", 0, "two", axis(1), version="v2"),
    ]
    with pytest.raises(sqlite3.IntegrityError):
        index.replace_document("pets", "v2", duplicate_ids)
    assert sorted(ids(index.search_keyword("cat kittens one two", 10, NO_FILTER))) == [
        "pets:v1:0",
        "pets:v1:1",
    ]


def test_readers_never_see_two_versions_or_none_while_a_writer_replaces(path: Path) -> None:
    writer = SqliteVectorIndex(path, DIMENSIONS)
    reader = SqliteVectorIndex(path, DIMENSIONS)

    def version(n: int) -> list:
        return [
            indexed("doc", i, f"marker text {n} part {i}", axis(i % 4), version=f"v{n}") for i in range(5)
        ]

    writer.replace_document("doc", "v0", version(0))
    seen: list[set[str]] = []
    errors: list[BaseException] = []
    done = threading.Event()

    def read() -> None:
        try:
            while not done.is_set():
                for hits in (
                    reader.search_vector(axis(0), 50, NO_FILTER),
                    reader.search_keyword("marker", 50, NO_FILTER),
                ):
                    seen.append({h.chunk_id.split(":")[1] for h in hits} | {f"n={len(hits)}"})
        except BaseException as error:  # surfaced below: a thread's exception is otherwise lost
            errors.append(error)

    threads = [threading.Thread(target=read) for _ in range(3)]
    for thread in threads:
        thread.start()
    for n in range(1, 40):
        writer.replace_document("doc", f"v{n}", version(n))
    done.set()
    for thread in threads:
        thread.join()

    assert errors == []
    assert seen
    for versions in seen:
        assert len(versions) == 2 and "n=5" in versions, versions


def test_a_reader_far_behind_the_change_log_reloads_everything(path: Path, monkeypatch) -> None:
    monkeypatch.setattr(index_module, "CHANGE_LOG_KEEP", 3)
    writer = SqliteVectorIndex(path, DIMENSIONS)
    reader = SqliteVectorIndex(path, DIMENSIONS)
    writer.replace_document("pets", "v1", pets())
    assert reader.count() == 2 and reader.search_vector(axis(0), 10, NO_FILTER)
    for n in range(10):
        writer.replace_document(f"doc{n}", "v1", [indexed(f"doc{n}", 0, "filler", axis(5))])
    writer.delete_document("pets")

    assert sorted(h.document_id for h in reader.search_vector(axis(0), 20, NO_FILTER)) == sorted(
        f"doc{n}" for n in range(10)
    )


def test_churn_through_compaction_keeps_vector_results_exact(path: Path) -> None:
    # Each round kills every live row and searches, so the in-memory matrix compacts itself (past
    # 1024 dead rows and a quarter of the matrix) and later rounds update the compacted matrix.
    embedder = HashingEmbedder(dimensions=256)
    index = SqliteVectorIndex(path, 256)
    for round_ in range(4):
        for n in range(200):
            text = f"round {round_} document {n}"
            chunks = [indexed(f"d{n}", i, text, embedder.embed_query(f"{text} {i}"), version=f"r{round_}")
                      for i in range(4)]  # fmt: skip
            index.replace_document(f"d{n}", f"r{round_}", chunks)
        for n in range(0, 200, 2):
            index.delete_document(f"d{n}")
        hits = index.search_vector(embedder.embed_query(f"round {round_} document 7 3"), 5, NO_FILTER)
        assert hits[0].chunk_id == f"d7:r{round_}:3"
        assert {h.chunk_id.split(":")[1] for h in hits} == {f"r{round_}"}
        everything = index.search_vector(embedder.embed_query("x"), 10_000, NO_FILTER)
        assert len(everything) == index.count() == 400
        # Uncompacted, the matrix would reach 1600 rows (400 live, 1200 dead) by the last round.
        assert index._matrix is not None and index._matrix.size <= 1200


def test_vector_search_is_safe_from_several_threads(path: Path) -> None:
    index = SqliteVectorIndex(path, DIMENSIONS)
    index.replace_document("pets", "v1", pets())
    index.replace_document("finance", "v1", finance())
    results: list[list[str]] = []
    errors: list[BaseException] = []

    def search() -> None:
        try:
            for _ in range(50):
                results.append(ids(index.search_vector(axis(2), 1, NO_FILTER)))
                results.append(ids(index.search_keyword("revenue", 1, NO_FILTER)))
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=search) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert results == [["finance:v1:0"]] * 400


def test_the_keyword_plan_keeps_every_present_term_rare_when_they_fit_the_budget() -> None:
    assert keyword_query_plan({"apple": 3, "pear": 2, "absent": 0}, budget=10) == (["pear", "apple"], [])
    assert keyword_query_plan({"absent": 0}, budget=10) == ([], [])


def test_the_keyword_plan_splits_rare_from_common_terms_past_the_budget() -> None:
    plan = keyword_query_plan({"common": 900, "rare": 3, "middling": 40, "never": 0}, budget=50)
    assert plan == (["rare", "middling"], ["common"])


def test_the_keyword_plan_keeps_the_rarest_term_even_when_it_alone_is_over_budget() -> None:
    assert keyword_query_plan({"b": 500, "a": 400}, budget=50) == (["a"], ["b"])


def test_the_keyword_plan_drops_the_commonest_terms_past_the_term_limit(monkeypatch) -> None:
    monkeypatch.setattr(keyword_module, "MAX_QUERY_TERMS", 3)
    assert keyword_query_plan({"r": 1, "c1": 100, "c2": 200, "c3": 300}, budget=10) == (["r"], ["c1", "c2"])


def test_budgeted_keyword_search_scores_exactly_as_the_plain_or_query(path: Path, monkeypatch) -> None:
    # Common words in every chunk, rarer ones in a few: with a small budget the search ranks only
    # chunks holding a rare word, and must give each the same BM25 score as the unbudgeted search.
    index = SqliteVectorIndex(path, DIMENSIONS)
    rare_words = ["zebra", "yak", "walrus", "vole"]
    for n in range(60):
        text = f"alpha beta {'gamma ' * (n % 3)} chunk {n} " + " ".join(
            rare_words[: n % 5] if n % 7 == 0 else []
        )
        index.replace_document(f"d{n}", "v1", [indexed(f"d{n}", 0, text, axis(n % DIMENSIONS))])
    query = "alpha gamma zebra walrus"
    exact = index.search_keyword(query, 5, NO_FILTER)
    monkeypatch.setattr(keyword_module, "KEYWORD_CANDIDATE_BUDGET", 10)
    budgeted = index.search_keyword(query, 5, NO_FILTER)
    assert len(exact) == 5
    assert [(h.chunk_id, round(h.score, 9)) for h in budgeted] == [
        (h.chunk_id, round(h.score, 9)) for h in exact
    ]


def test_budgeted_keyword_search_still_fills_k_from_common_terms(path: Path, monkeypatch) -> None:
    monkeypatch.setattr(keyword_module, "KEYWORD_CANDIDATE_BUDGET", 5)
    index = SqliteVectorIndex(path, DIMENSIONS)
    for n in range(20):
        index.replace_document(f"d{n}", "v1", [indexed(f"d{n}", 0, f"common words here {n}", axis(0))])
    index.replace_document("typo", "v1", [indexed("typo", 0, "common xyzzy", axis(0))])
    hits = index.search_keyword("common xyzzy", 10, NO_FILTER)
    assert len(hits) == 10
    assert hits[0].chunk_id == "typo:v1:0"


def test_a_filter_passing_few_rare_chunks_grows_the_budget_and_stays_exact(path: Path, monkeypatch) -> None:
    # "rare" is in 8 chunks, "middle" in 40, "common" in all 200. Budget 10: the first round ranks
    # only the chunks holding "rare", of which the filter passes 4; short of k=5, the budget grows
    # (40, then 160: 40 has no room for "middle" beside "rare", and is not ranked) to take in
    # "middle", which fills k; the chunks holding only "common" are never ranked.
    # Each chunk a different length, so no two scores tie.
    index = SqliteVectorIndex(path, DIMENSIONS)
    for n in range(200):
        words = "common" + (" middle" if n % 5 == 0 else "") + (" rare" if n % 25 == 0 else "")
        metadata = {"keep": "yes" if n % 10 == 0 else "no"}
        index.replace_document(
            f"d{n}", "v1", [indexed(f"d{n}", 0, f"{words} {'pad ' * n}", axis(0), metadata=metadata)]
        )
    filters = SearchFilters(tenant=TENANT, metadata=(("keep", "yes"),))
    exact = index.search_keyword("rare middle common", 5, filters)
    ranked_expressions: list[str] = []
    real_bm25_top_k = keyword_module._bm25_top_k

    def recording(db, expression, k, filters):
        ranked_expressions.append(expression)
        return real_bm25_top_k(db, expression, k, filters)

    monkeypatch.setattr(keyword_module, "KEYWORD_CANDIDATE_BUDGET", 10)
    monkeypatch.setattr(keyword_module, "_bm25_top_k", recording)
    budgeted = index.search_keyword("rare middle common", 5, filters)
    assert len(exact) == 5
    assert [(h.chunk_id, round(h.score, 9)) for h in budgeted] == [
        (h.chunk_id, round(h.score, 9)) for h in exact
    ]
    assert ranked_expressions[:2] == ['"rare"', '("rare") AND ("common" OR "middle")']
    assert ranked_expressions[2:] == ['"rare" OR "middle"', '("rare" OR "middle") AND ("common")']


def test_keyword_search_folds_diacritics(path: Path) -> None:
    index = SqliteVectorIndex(path, DIMENSIONS)
    index.replace_document("cafe", "v1", [indexed("cafe", 0, "Le café est ouvert", axis(0))])
    assert ids(index.search_keyword("CAFE", 10, NO_FILTER)) == ["cafe:v1:0"]


def test_metadata_filter_keys_may_hold_any_character(path: Path) -> None:
    index = SqliteVectorIndex(path, DIMENSIONS)
    odd = {'we"ird.key$[0]': "yes"}
    index.replace_document("odd", "v1", [indexed("odd", 0, "strange", axis(0), metadata=odd)])
    index.replace_document("plain", "v1", [indexed("plain", 0, "strange", axis(0))])
    filters = SearchFilters(tenant=TENANT, metadata=(('we"ird.key$[0]', "yes"),))
    assert ids(index.search_keyword("strange", 10, filters)) == ["odd:v1:0"]
    assert ids(index.search_vector(axis(0), 10, filters)) == ["odd:v1:0"]


def test_query_terms_drop_stop_words_and_repeats() -> None:
    assert query_terms("What is the effect of IL-6 on the effect?") == ["effect", "il", "6"]
    assert query_terms("the of and") == []
    assert "the" in english_stop_words() and "which" in english_stop_words()


def test_the_match_expression_quotes_every_term() -> None:
    assert fts_match_expression(["near", 'a"b']) == '"near" OR "a""b"'


def test_a_thread_per_request_server_does_not_pile_up_connections(path: Path) -> None:
    """chalice local serves each request on a new thread: a connection left behind per request would
    leak file handles and page cache for as long as the server runs."""
    index = SqliteVectorIndex(path, DIMENSIONS)
    index.replace_document("pets", "v1", pets())
    answers = []
    for _ in range(50):
        request = threading.Thread(
            target=lambda: answers.append(ids(index.search_keyword("kittens", 5, NO_FILTER)))
        )
        request.start()
        request.join()
    assert answers == [["pets:v1:1"]] * 50
    assert index.open_connections <= 2  # this thread's and the last request's, taken over by the next
    index.close()
    assert index.open_connections == 0


def test_threads_alive_at_once_each_have_their_own_connection(path: Path) -> None:
    index = SqliteVectorIndex(path, DIMENSIONS)
    index.replace_document("pets", "v1", pets())
    together = threading.Barrier(4, timeout=10)
    seen: list[sqlite3.Connection] = []
    answers: list[list[str]] = []

    def request() -> None:
        seen.append(index._connection())
        together.wait()  # all four alive at once: none may take over another's connection
        answers.append(ids(index.search_keyword("kittens", 5, NO_FILTER)))

    threads = [threading.Thread(target=request) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(connection) for connection in seen}) == 4
    assert answers == [["pets:v1:1"]] * 4


def test_after_a_checkpoint_the_file_alone_holds_every_commit(path: Path, tmp_path: Path) -> None:
    index = SqliteVectorIndex(path, DIMENSIONS)
    index.replace_document("pets", "v1", pets())
    index.replace_document("finance", "v1", finance())
    index.checkpoint()
    assert path.with_name(path.name + "-wal").stat().st_size == 0
    copy = tmp_path / "copy.db"
    copy.write_bytes(path.read_bytes())  # the main file only, no -wal beside it
    copied = SqliteVectorIndex(copy, DIMENSIONS)
    assert copied.count() == index.count() == len(pets()) + len(finance())
    assert ids(copied.search_keyword("kittens", 5, NO_FILTER)) == ["pets:v1:1"]


def test_a_file_from_before_tenants_gains_the_column_and_hides_its_old_chunks(path: Path) -> None:
    import sqlite3

    old = sqlite3.connect(path)
    old.executescript(
        "CREATE TABLE chunks (rowid INTEGER PRIMARY KEY AUTOINCREMENT, chunk_id TEXT NOT NULL UNIQUE,"
        " document_id TEXT NOT NULL, version TEXT NOT NULL, ordinal INTEGER NOT NULL, page INTEGER,"
        " key TEXT NOT NULL, content_type TEXT NOT NULL, metadata TEXT NOT NULL, text TEXT NOT NULL,"
        " vector BLOB NOT NULL);"
        "INSERT INTO chunks (chunk_id, document_id, version, ordinal, key, content_type, metadata, text,"
        " vector) VALUES ('old:0', 'old', 'v1', 0, 'k', 'text/plain', '{}', 'ancient cat', zeroblob(32));"
    )
    old.commit()
    old.close()
    index = SqliteVectorIndex(path, DIMENSIONS)
    assert index.count("old") == 1
    assert index.search_keyword("cat", 10, NO_FILTER) == []
    index.replace_document("pets", "v1", pets())
    assert ids(index.search_keyword("cat", 10, NO_FILTER)) == ["pets:v1:0"]
    assert "old:0" not in ids(index.search_vector(axis(0), 10, NO_FILTER))


def test_a_repeated_filter_sees_every_write_since_its_last_search(path: Path) -> None:
    # The matrix keeps recent filters' row masks: a write in between must not leave one stale.
    index = SqliteVectorIndex(path, DIMENSIONS)
    keep = SearchFilters(tenant=TENANT, metadata=(("keep", "yes"),))
    index.replace_document("a", "v1", [indexed("a", 0, "one", axis(0), metadata={"keep": "yes"})])
    index.replace_document("b", "v1", [indexed("b", 0, "two", axis(1), metadata={"keep": "no"})])
    assert ids(index.search_vector(axis(1), 10, keep)) == ["a:v1:0"]
    index.replace_document(
        "b", "v2", [indexed("b", 0, "two", axis(1), version="v2", metadata={"keep": "yes"})]
    )
    assert ids(index.search_vector(axis(1), 10, keep)) == ["b:v2:0", "a:v1:0"]
    index.delete_document("a")
    assert ids(index.search_vector(axis(1), 10, keep)) == ["b:v2:0"]
