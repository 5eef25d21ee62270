"""The alias switch of a re-embed, on osmem-server (a real in-memory OpenSearch-compatible engine):
search and writes go through the alias; the re-embed builds `<alias>-<model>-<time>` and moves the alias
with one remove+add. osmem has no k-NN, so searches here are by keyword; the k-NN request is pinned in
test_opensearch_contract.py."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import pytest
from opensearchpy import OpenSearch

from chalicelib.adapters.local_embedders import HashingEmbedder
from chalicelib.adapters.opensearch.aliases import OpenSearchSwitchboard
from chalicelib.model import Chunk, EmbeddingModel, IndexedChunk, IndexModelMismatch, SearchFilters
from chalicelib.reembed import Reembedder
from tests.contract.conftest import FakeTime

ALIAS = "quarry-chunks"
OLD = EmbeddingModel("test/model-a", 4)
NEW = EmbeddingModel(HashingEmbedder.model_id, 4)
ACME = SearchFilters(tenant="acme")
TEXTS = {
    "lighthouse": "The Skerryvore keeper counts seabirds every morning.",
    "orchard": "Ada Whitlock planted the Bramley apple orchard in Kent.",
    "volcano": "Mount Vireo erupted and covered the valley in green ash.",
}


def chunks_of(document_id: str, text: str, model: EmbeddingModel = OLD) -> list[IndexedChunk]:
    return [
        IndexedChunk(
            chunk=Chunk(f"{document_id}:0", document_id, 0, text),
            vector=[1.0, 0.0, 0.0, 0.0],
            version="v1",
            key=f"tenants/acme/uploads/{document_id}.txt",
            content_type="text/plain",
            tenant="acme",
            model_id=model.model_id,
            dimensions=model.dimensions,
        )
    ]


class PausingHashing(HashingEmbedder):
    def __init__(self) -> None:
        super().__init__(dimensions=4)
        self.paused = threading.Event()
        self.resume = threading.Event()

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        if not self.paused.is_set():
            self.paused.set()
            assert self.resume.wait(60)
        return super().embed_documents(texts)


def keyword(index, query: str) -> set[str]:
    return {hit.document_id for hit in index.search_keyword(query, 10, ACME)}


@pytest.fixture
def switchboard(osmem_engine: OpenSearch, fake_time: FakeTime) -> OpenSearchSwitchboard:
    return OpenSearchSwitchboard(
        osmem_engine,
        ALIAS,
        OLD,
        settle_s=90,
        sleep=fake_time.sleep,
        resolve_ttl_s=0,
        clock=fake_time.clock,
    )


def test_the_first_write_creates_a_model_named_index_behind_the_alias(
    switchboard: OpenSearchSwitchboard, osmem_engine: OpenSearch
) -> None:
    live = switchboard.live()
    live.replace_document("lighthouse", "v1", chunks_of("lighthouse", TEXTS["lighthouse"]))
    [concrete] = osmem_engine.indices.get_alias(name=ALIAS)
    assert concrete.startswith(f"{ALIAS}-test-model-a-4-")
    mapping = osmem_engine.indices.get_mapping(index=concrete)[concrete]["mappings"]
    assert mapping["_meta"] == {"embedding_model": {"model_id": "test/model-a", "dimensions": 4}}
    assert live.embedding_model() == OLD
    assert keyword(live, "seabirds") == {"lighthouse"}
    with pytest.raises(IndexModelMismatch):
        live.replace_document("orchard", "v1", chunks_of("orchard", TEXTS["orchard"], NEW))


def test_reembed_switches_the_alias_with_searches_and_writes_going_on(
    switchboard: OpenSearchSwitchboard, osmem_engine: OpenSearch, fake_time: FakeTime
) -> None:
    live = switchboard.live()
    for document_id, text in TEXTS.items():
        live.replace_document(document_id, "v1", chunks_of(document_id, text))
    [old_index] = osmem_engine.indices.get_alias(name=ALIAS)

    embedder = PausingHashing()
    outcome: dict = {}
    rebuild = threading.Thread(target=lambda: outcome.update(report=Reembedder(switchboard, embedder).run()))
    rebuild.start()
    assert embedder.paused.wait(60)
    # Mid-rebuild: the alias still names the old index, which answers every search and takes writes.
    assert list(osmem_engine.indices.get_alias(name=ALIAS)) == [old_index]
    assert keyword(live, "seabirds orchard ash") == set(TEXTS)
    live.replace_document("ferry", "v1", chunks_of("ferry", "Four ferry sailings a day reach Tobermory."))
    live.delete_document("orchard")
    embedder.resume.set()
    rebuild.join(60)
    assert "report" in outcome

    [new_index] = osmem_engine.indices.get_alias(name=ALIAS)
    assert new_index == outcome["report"].new_index != old_index
    assert new_index.startswith(f"{ALIAS}-quarry-hashing-4-")
    mapping = osmem_engine.indices.get_mapping(index=new_index)[new_index]["mappings"]
    assert mapping["_meta"]["embedding_model"] == {"model_id": "quarry/hashing", "dimensions": 4}
    # After: through the alias, every document but the deleted one, the one written mid-rebuild too,
    # and every stored chunk is the new model's, with the new model's vector.
    assert keyword(live, "seabirds orchard ash ferry") == {"lighthouse", "volcano", "ferry"}
    stored = osmem_engine.search(index=ALIAS, body={"size": 100, "query": {"match_all": {}}})["hits"]["hits"]
    assert {hit["_index"] for hit in stored} == {new_index}
    assert {hit["_source"]["model_id"] for hit in stored} == {"quarry/hashing"}
    for hit in stored:
        expected = HashingEmbedder(4).embed_query(hit["_source"]["text"])
        assert hit["_source"]["vector"] == pytest.approx(expected)
    assert live.embedding_model() == NEW
    # The old index stays for readers that have not resolved the alias again; AOSS's visibility lag was
    # waited out before the last catch-up.
    assert osmem_engine.indices.exists(index=old_index)
    assert fake_time.sleeps[-1] == 90
    # A writer still embedding with the old model is refused by the new index (and retried).
    with pytest.raises(IndexModelMismatch):
        live.replace_document("lighthouse", "v2", chunks_of("lighthouse", TEXTS["lighthouse"]))


def test_an_index_made_before_aliases_is_replaced_in_the_same_atomic_step(
    osmem_engine: OpenSearch, fake_time: FakeTime
) -> None:
    from chalicelib.adapters.opensearch import OpenSearchVectorIndex

    legacy = OpenSearchVectorIndex(osmem_engine, ALIAS, 4, model_id=OLD.model_id, sleep=fake_time.sleep)
    legacy.replace_document("volcano", "v1", chunks_of("volcano", TEXTS["volcano"]))
    switchboard = OpenSearchSwitchboard(osmem_engine, ALIAS, OLD, sleep=fake_time.sleep, resolve_ttl_s=0)
    assert keyword(switchboard.live(), "ash") == {"volcano"}
    report = Reembedder(switchboard, HashingEmbedder(4)).run()
    assert list(osmem_engine.indices.get_alias(name=ALIAS)) == [report.new_index]
    assert keyword(switchboard.live(), "ash") == {"volcano"}
    assert switchboard.live().embedding_model() == NEW


def test_the_switch_is_one_post_aliases_of_remove_and_add(aoss, fake_time: FakeTime) -> None:
    """The exact request AOSS receives (recording server, production client with SigV4)."""
    from chalicelib.adapters.opensearch import build_aoss_client
    from tests.contract.conftest import FAKE_CREDENTIALS

    client = build_aoss_client(aoss.url, "us-east-1", FAKE_CREDENTIALS, timeout=5)
    aoss.on("GET", f"/_alias/{ALIAS}", (200, {"quarry-chunks-old": {"aliases": {ALIAS: {}}}}))
    aoss.on("POST", "/_aliases", (200, {"acknowledged": True}))
    switchboard = OpenSearchSwitchboard(client, ALIAS, OLD, settle_s=90, sleep=fake_time.sleep)
    new = switchboard.live().concrete("quarry-chunks-new", NEW)
    catch_ups: list = []
    old = switchboard.switch_to(new, catch_ups.append)
    [switch] = aoss.sent("POST", "/_aliases")
    assert switch.json() == {
        "actions": [
            {"remove": {"index": "quarry-chunks-old", "alias": ALIAS}},
            {"add": {"index": "quarry-chunks-new", "alias": ALIAS}},
        ]
    }
    assert "/aoss/aws4_request" in switch.headers["authorization"]
    assert old == "quarry-chunks-old"
    # One catch-up before the switch, one after AOSS's visibility lag.
    assert len(catch_ups) == 2 and fake_time.sleeps == [90]
