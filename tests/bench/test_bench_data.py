"""The SciFact copy the benchmarks read, and the pure helpers of the benchmark scripts."""

from __future__ import annotations

from bench.common import DATA, load_corpus, load_qrels, load_queries, percentile, scifact
from bench.quality import document_ranking, score


def test_the_scifact_copy_is_complete_and_self_contained():
    corpus, queries, qrels = load_corpus(), load_queries(), load_qrels()
    assert len(corpus) == 5183
    assert all(doc["_id"] and doc["text"] for doc in corpus)
    assert len(qrels) == 300 and sum(len(j) for j in qrels.values()) == 339
    assert set(queries) == set(qrels)
    ids = {doc["_id"] for doc in corpus}
    assert all(c in ids for judged in qrels.values() for c in judged)
    readme = (DATA / "README.md").read_text()
    assert "CC BY 4.0" in readme and "ODC-By 1.0" in readme


def test_a_subset_keeps_every_judged_document_and_is_reproducible():
    first, second = scifact(max_docs=30, max_queries=5), scifact(max_docs=30, max_queries=5)
    assert [d["_id"] for d in first.corpus] == [d["_id"] for d in second.corpus]
    assert len(first.queries) == 5 and set(first.qrels) == set(first.queries)
    ids = {d["_id"] for d in first.corpus}
    assert len(ids) == 30
    assert all(c in ids for judged in first.qrels.values() for c in judged)


def hit(corpus_id: str, score: float) -> dict:
    return {
        "score": score,
        "metadata": {"corpus_id": corpus_id},
        "source": {"key": f"uploads/x/{corpus_id}.txt"},
    }


def test_a_document_scores_as_its_best_chunk():
    hits = [hit("a", 0.9), hit("b", 0.8), hit("a", 0.7), hit("c", 0.6)]
    assert document_ranking(hits) == [("a", 0.9), ("b", 0.8), ("c", 0.6)]
    # The key names the document when the metadata does not.
    assert document_ranking([{"score": 1.0, "metadata": {}, "source": {"key": "uploads/d/42.txt"}}]) == [
        ("42", 1.0)
    ]


def test_scoring_counts_a_query_without_results_as_zero():
    qrels = {"1": {"a": 1}, "2": {"b": 1}}
    runs = {"1": {"documents": [("a", 0.5), ("x", 0.4)]}, "2": {"documents": []}}
    values = score(qrels, runs)
    assert values["ndcg@10"] == 0.5 and values["mrr@10"] == 0.5 and values["recall@100"] == 0.5


def test_percentile_interpolates_like_numpy():
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile([5], 95) == 5
    assert percentile(list(range(101)), 95) == 95


def test_cpu_used_splits_the_cores_time_between_the_processes_the_rest_idle_and_steal(monkeypatch):
    from bench import common

    monkeypatch.setattr(common.os, "cpu_count", lambda: 2)
    before = common.CpuReading(
        at=100.0, processes={"moto": 5.0, "worker": 10.0}, machine_busy=50.0, machine_steal=1.0
    )
    # 10 s on 2 cores = 20 core-seconds: 16 busy (3 moto, 11 worker, 2 elsewhere), 1 stolen, 3 idle.
    after = common.CpuReading(
        at=110.0, processes={"moto": 8.0, "worker": 21.0}, machine_busy=66.0, machine_steal=2.0
    )
    used = common.cpu_used(before, after)
    assert used["seconds"] == 10.0 and used["cores"] == 2
    assert used["core_seconds"] == {
        "moto": 3.0,
        "worker": 11.0,
        "rest of the machine": 2.0,
        "idle": 3.0,
        "steal": 1.0,
    }
    assert used["share"] == {
        "moto": 0.15,
        "worker": 0.55,
        "rest of the machine": 0.1,
        "idle": 0.15,
        "steal": 0.05,
    }


def test_read_cpu_reads_this_machine():
    from bench import common

    first = common.read_cpu({"x": 1.0})
    sum(i * i for i in range(200_000))  # some CPU between the readings
    second = common.read_cpu({"x": 2.0})
    assert second.at > first.at and second.machine_busy >= first.machine_busy > 0
    assert first.processes == {"x": 1.0}


def test_child_role_names_the_stacks_children_by_their_command_line():
    from bench.common import child_role

    assert child_role("python -m devstack.moto_server --host 127.0.0.1 --port 5000") == "moto"
    boot = "python -c import sys, json, importlib; ... ["
    assert child_role(f"{boot} chalicelib.adapters.model_child 7 32 1 auto") == "model process"
    assert child_role(f"{boot} chalicelib.parsing.child 7 96 60") == "API, pollers and worker"
