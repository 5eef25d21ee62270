"""Re-embedding on the local stack's pieces (moto, the Chalice worker, the SQLite index): from the
hashing model to MiniLM, with searches, an upload and a delete in the middle of the rebuild."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np
import pytest

from chalicelib.adapters.local_embedders import HashingEmbedder, MiniLMEmbedder
from chalicelib.adapters.sqlite import SqliteVectorIndex
from chalicelib.api.requests import SearchRequest
from chalicelib.model import EmbeddingModel, IndexSwitched, SearchFilters
from chalicelib.reembed import NothingToReembed, Reembedder
from tests.documents import FACT_DOCUMENTS
from tests.integration.pipeline import TENANT, drain, poller, upload

HASHING = EmbeddingModel(HashingEmbedder.model_id, 384)
MINILM = EmbeddingModel(MiniLMEmbedder.model_id, MiniLMEmbedder.dimensions)
QUERIES = {name: question for name, (_, question) in FACT_DOCUMENTS.items()}
LATE_TEXT = b"The Ardnamurchan ferry timetable lists four sailings a day to Tobermory in summer."


class PausingMiniLM(MiniLMEmbedder):
    """MiniLM that stops after its first batch until the test lets it go on: the rebuild's middle."""

    def __init__(self) -> None:
        super().__init__()
        self.paused = threading.Event()
        self.resume = threading.Event()

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        vectors = super().embed_documents(texts)
        if not self.paused.is_set():
            self.paused.set()
            assert self.resume.wait(120), "the test never resumed the re-embed"
        return vectors


def found(container, query: str, mode: str) -> dict[str, float]:
    """document_id -> best score of `query` in `mode`, through the search service (as the API runs it)."""
    results = container.search.search(TENANT, SearchRequest(query=query, mode=mode, k=10))["results"]
    best: dict[str, float] = {}
    for hit in results:
        best.setdefault(hit["document_id"], hit["score"])
    return best


def cosine(embedder, query: str, text: str) -> float:
    return float(np.dot(embedder.embed_query(query), embedder.embed_documents([text])[0]))


def assert_searchable(container, documents: dict[str, str], model_embedder) -> None:
    """Each document is found by its own question in every mode, and its vector score is the cosine of
    `model_embedder`'s vectors: the model the index holds."""
    for name, document_id in documents.items():
        query = QUERIES.get(name, "ferry sailings to Tobermory")
        for mode in ("keyword", "vector", "hybrid"):
            assert document_id in found(container, query, mode), (name, mode)
        [hit] = container.index.search_vector(
            model_embedder.embed_query(query), 1, SearchFilters(tenant=TENANT, document_ids=(document_id,))
        )
        assert hit.score == pytest.approx(cosine(model_embedder, query, hit.text), abs=1e-4)


def test_reembed_from_hashing_to_minilm_leaves_no_gap_and_loses_no_write(container, aws, resources):
    worker = poller(aws, resources)
    names = ["lighthouse.txt", "orchard.md", "volcano.html"]
    ids = {name: upload(container, name, FACT_DOCUMENTS[name][0]) for name in names}
    assert {v["status"] for v in drain(worker, container, list(ids.values())).values()} == {"INDEXED"}
    old_file = container.index.current().path
    assert container.index.embedding_model() == HASHING
    assert_searchable(container, ids, HashingEmbedder())

    embedder = PausingMiniLM()
    reembedder = Reembedder(container.index_switchboard, embedder, batch_size=8)
    outcome: dict = {}
    rebuild = threading.Thread(target=lambda: outcome.update(report=reembedder.run()), daemon=True)
    rebuild.start()
    assert embedder.paused.wait(120), "the re-embed never started embedding"

    # The middle of the rebuild: searches answer from the old index, with the old model's vectors,
    # and the worker goes on ingesting and deleting.
    assert container.index.embedding_model() == HASHING
    assert_searchable(container, ids, HashingEmbedder())
    late = upload(container, "ferry.txt", LATE_TEXT)
    assert drain(worker, container, [late])[late]["status"] == "INDEXED"
    container.documents.delete(TENANT, ids["orchard.md"])
    drain(worker, container, [ids["orchard.md"]])
    embedder.resume.set()
    rebuild.join(300)
    assert not rebuild.is_alive() and "report" in outcome

    report = outcome["report"]
    assert report.previous == HASHING and report.model == MINILM
    assert container.index.embedding_model() == MINILM
    assert container.live_embedder.model_id == MINILM.model_id  # queries follow the switch at once
    remaining = {"lighthouse.txt": ids["lighthouse.txt"], "volcano.html": ids["volcano.html"], "ferry": late}
    assert_searchable(container, remaining, MiniLMEmbedder())
    assert container.index.count(ids["orchard.md"]) == 0
    assert ids["orchard.md"] not in found(container, QUERIES["orchard.md"], "keyword")
    assert container.index.current().path != old_file

    # The old file stays (for readers that have not moved yet) but takes no more writes; the worker's
    # next documents go to the new index with the new model.
    with pytest.raises(IndexSwitched):
        SqliteVectorIndex(old_file, 384).delete_document(ids["lighthouse.txt"])
    whirlpool = b"The Corryvreckan whirlpool roars loudest on a spring flood tide."
    after = upload(container, "after.txt", whirlpool)
    assert drain(worker, container, [after])[after]["status"] == "INDEXED"
    assert container.index.count(after) > 0
    assert after in found(container, "Corryvreckan whirlpool flood tide", "vector")

    with pytest.raises(NothingToReembed):
        Reembedder(container.index_switchboard, MiniLMEmbedder()).run()


def test_the_devstack_command_switches_the_pointer_file_and_says_so(container, aws, resources, capsys):
    from devstack.reembed import reembed

    worker = poller(aws, resources)
    document_id = upload(container, "volcano.html", FACT_DOCUMENTS["volcano.html"][0])
    drain(worker, container, [document_id])
    assert reembed("hashing") is None  # already the live model: nothing to do
    assert "already holds quarry/hashing (384-d)" in capsys.readouterr().out

    report = reembed("minilm")
    home = container.settings.home_path
    assert (home / "index.current").read_text().strip() == report.new_index
    assert report.new_index.startswith("index-sentence-transformers-all-minilm-l6-v2-384-")
    assert report.old_index == "index.sqlite3" and (home / report.old_index).exists()
    assert f"switched search from index.sqlite3 to {report.new_index}: 1 documents" in capsys.readouterr().out
    assert document_id in found(container, QUERIES["volcano.html"], "vector")


def test_a_search_the_index_model_cannot_answer_is_a_503_in_our_shape(container, http):
    import json

    # An index built with a model this deployment has no embedder for (say, a re-embed by a newer
    # release); keyword search needs no embedder and still answers.
    home = container.settings.home_path
    home.mkdir(parents=True, exist_ok=True)
    SqliteVectorIndex(home / "index.sqlite3", 384, model_id="someone/else-v9").close()

    def search(mode: str):
        body = json.dumps({"query": "seabirds", "mode": mode}).encode()
        return http.post("/search", headers={"Content-Type": "application/json"}, body=body)

    for mode in ("vector", "hybrid"):
        response = search(mode)
        assert response.status_code == 503, response.body
        error = json.loads(response.body)["error"]
        assert error["code"] == "index_model_mismatch"
        assert "someone/else-v9 (384-d)" in error["message"] and "re-embed" in error["message"]
        assert response.headers["Retry-After"] == "60"
    assert search("keyword").status_code == 200


def test_a_worker_embedding_with_another_model_than_the_index_retries_rather_than_failing(
    container, aws, resources
):
    # The moment after a switch: the index holds MiniLM vectors, a worker still embeds with hashing.
    home = container.settings.home_path
    home.mkdir(parents=True, exist_ok=True)
    SqliteVectorIndex(home / "index.sqlite3", 384, model_id=MINILM.model_id).close()
    container.__dict__["live_embedder"] = HashingEmbedder()
    worker = poller(aws, resources)
    document_id = upload(container, "lighthouse.txt", FACT_DOCUMENTS["lighthouse.txt"][0])
    while not worker.poll_once():
        pass
    view = container.documents.get(TENANT, document_id)
    assert view["status"] != "FAILED" and container.index.count(document_id) == 0
    assert "will be retried" in view["error"]["message"]

    # The worker's next delivery embeds with the index's model (the embedder follows it): INDEXED.
    del container.__dict__["live_embedder"]
    container.__dict__.pop("ingest", None)
    assert drain(worker, container, [document_id])[document_id]["status"] == "INDEXED"
    assert container.index.count(document_id) > 0
    assert container.index.embedding_model() == MINILM
