"""The answer service over a real SQLite index: hybrid retrieval in the caller's tenant, the local
extractive answerer's sentences with citations, citations validated against what was retrieved, and
"not found in the documents" when the evidence is weak."""

from __future__ import annotations

from pathlib import Path

import pytest

from chalicelib.adapters.local_answerer import ExtractiveAnswerer, sentences
from chalicelib.adapters.local_embedders import HashingEmbedder
from chalicelib.adapters.sqlite import SqliteVectorIndex
from chalicelib.answers import NOT_FOUND, AnswerService
from chalicelib.api.requests import AnswerRequest
from chalicelib.config import Settings
from chalicelib.model import AnswerDraft, Chunk, IndexedChunk
from chalicelib.ports import Answerer
from chalicelib.search import SearchService
from tests.fakes import MemoryCatalog

DOCUMENTS = {
    "lighthouse": (
        "acme",
        "Skerryvore lighthouse log. The keeper on Skerryvore counts 1,482 seabirds every morning. "
        "He records gale warnings in a leather ledger.",
    ),
    "orchard": (
        "acme",
        "The Bramley apple orchard near Faversham was planted in 1911. Its trees are pruned in winter.",
    ),
    "rival": ("globex", "The Globex keeper counts 99 seabirds at Skerryvore every morning."),
}


@pytest.fixture
def search(tmp_path: Path) -> SearchService:
    embedder = HashingEmbedder(dimensions=64)
    index = SqliteVectorIndex(tmp_path / "index.db", embedder.dimensions)
    for document_id, (tenant, text) in DOCUMENTS.items():
        [vector] = embedder.embed_documents([text])
        chunk = Chunk(
            f"{document_id}:v1:0", document_id, 0, text, page=2 if document_id == "orchard" else None
        )
        index.replace_document(
            document_id,
            "v1",
            [
                IndexedChunk(
                    chunk,
                    vector,
                    "v1",
                    f"tenants/{tenant}/{document_id}.txt",
                    "text/plain",
                    tenant=tenant,
                    model_id=embedder.model_id,
                    dimensions=embedder.dimensions,
                )
            ],
        )
    return SearchService(Settings(search_catalog_check=False), embedder, index, MemoryCatalog())


def test_the_local_answer_is_the_best_matching_sentence_with_its_citation(search: SearchService) -> None:
    answer = AnswerService(search, ExtractiveAnswerer()).answer(
        "acme", AnswerRequest(question="How many seabirds does the keeper count?")
    )
    assert answer["found"] is True
    assert answer["answer"].startswith("The keeper on Skerryvore counts 1,482 seabirds every morning.")
    assert "99" not in answer["answer"]  # the rival tenant's chunk was never retrieved
    [citation] = answer["citations"]
    assert citation == {
        "chunk_id": "lighthouse:v1:0",
        "document_id": "lighthouse",
        "source": {"key": "tenants/acme/lighthouse.txt", "page": None},
        "text": DOCUMENTS["lighthouse"][1],
    }
    assert answer["model"] == "quarry/extractive" and answer["usage"] == {
        "input_tokens": 0,
        "output_tokens": 0,
    }


def test_a_question_the_documents_do_not_answer_is_not_found(search: SearchService) -> None:
    answer = AnswerService(search, ExtractiveAnswerer()).answer(
        "acme", AnswerRequest(question="zebra quasar xylophone")
    )
    assert answer["found"] is False and answer["answer"] == NOT_FOUND and answer["citations"] == []


def test_a_tenant_with_no_documents_gets_not_found_without_calling_the_model(search: SearchService) -> None:
    calls = []

    class Recording(ExtractiveAnswerer):
        def answer(self, question, passages):
            calls.append(passages)
            return super().answer(question, passages)

    answer = AnswerService(search, Recording()).answer("initech", AnswerRequest(question="seabirds"))
    assert answer["answer"] == NOT_FOUND and calls == [] and answer["model"] is None


class Scripted(Answerer):
    """An answerer that cites what it is told to, whatever was retrieved."""

    model_id = "test/scripted"

    def __init__(self, cited: tuple[str, ...]):
        self.cited = cited

    def answer(self, question, passages) -> AnswerDraft:
        return AnswerDraft(
            "an answer", self.cited, found=True, model=self.model_id, input_tokens=7, output_tokens=3
        )


def test_citations_of_chunks_not_retrieved_are_dropped(search: SearchService) -> None:
    cited = ("rival:v1:0", "lighthouse:v1:0", "invented", "lighthouse:v1:0")
    answer = AnswerService(search, Scripted(cited)).answer("acme", AnswerRequest(question="seabirds keeper"))
    assert [c["chunk_id"] for c in answer["citations"]] == ["lighthouse:v1:0"]
    assert answer["found"] and answer["usage"] == {"input_tokens": 7, "output_tokens": 3}


def test_an_answer_with_no_valid_citation_is_not_found(search: SearchService) -> None:
    answer = AnswerService(search, Scripted(("rival:v1:0", "invented"))).answer(
        "acme", AnswerRequest(question="seabirds")
    )
    assert answer["found"] is False and answer["answer"] == NOT_FOUND and answer["citations"] == []


def test_filters_scope_the_retrieval(search: SearchService) -> None:
    request = AnswerRequest(
        question="seabirds keeper", filter={"equals": {"key": "document_id", "value": "orchard"}}
    )
    service = AnswerService(search, ExtractiveAnswerer())
    # The lighthouse holds the answer, but the filter leaves only the orchard: nothing to answer from.
    answer = service.answer("acme", request)
    assert answer["found"] is False and answer["citations"] == []
    assert "seabirds" not in answer["answer"]
    # Within the filter, a question the orchard answers is answered from it alone.
    planted = service.answer(
        "acme", request.model_copy(update={"question": "when was the apple orchard planted"})
    )
    assert planted["found"] is True and "1911" in planted["answer"]
    assert planted["citations"] and {c["document_id"] for c in planted["citations"]} == {"orchard"}


def test_sentences_split_on_ends_not_on_numbers_or_abbreviations_of_digits() -> None:
    assert sentences("It counts 1,482 birds. Then 3.5 more! Why? Yes.\n\nNew para") == [
        "It counts 1,482 birds.", "Then 3.5 more!", "Why?", "Yes.", "New para",
    ]  # fmt: skip
