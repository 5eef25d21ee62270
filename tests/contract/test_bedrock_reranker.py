"""BedrockReranker against a real bedrock-agent-runtime client under a Stubber: the exact Rerank request
(inline text sources, the model's foundation-model ARN, numberOfResults), the documented response
shape parsed (index, relevanceScore), throttling retried with backoff, permanent errors surfaced."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from chalicelib.adapters.bedrock_reranker import BedrockReranker, model_arn
from chalicelib.model import DocumentError, TransientError
from tests.contract.conftest import FAKE_CREDENTIALS, FakeTime

TEXTS = ["The cat sat on the mat.", "Quarterly revenue grew.", "Kittens chase yarn."]


@pytest.fixture
def agent() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.session.Session().client(
        "bedrock-agent-runtime",
        region_name="us-west-2",
        aws_access_key_id=FAKE_CREDENTIALS.access_key,
        aws_secret_access_key=FAKE_CREDENTIALS.secret_key,
    )
    with Stubber(client) as stubber:
        yield client, stubber


def expected_request(model_id: str, top_n: int) -> dict[str, Any]:
    return {
        "queries": [{"type": "TEXT", "textQuery": {"text": "cats"}}],
        "sources": [
            {"type": "INLINE", "inlineDocumentSource": {"type": "TEXT", "textDocument": {"text": text}}}
            for text in TEXTS
        ],
        "rerankingConfiguration": {
            "type": "BEDROCK_RERANKING_MODEL",
            "bedrockRerankingConfiguration": {
                "numberOfResults": top_n,
                "modelConfiguration": {"modelArn": f"arn:aws:bedrock:us-west-2::foundation-model/{model_id}"},
            },
        },
    }


def answer(*pairs: tuple[int, float]) -> dict[str, Any]:
    return {"results": [{"index": i, "relevanceScore": s} for i, s in pairs]}


@pytest.mark.parametrize("model_id", ["amazon.rerank-v1:0", "cohere.rerank-v3-5:0"])
def test_the_rerank_request_and_its_answer(agent, fake_time: FakeTime, model_id: str) -> None:
    client, stubber = agent
    stubber.add_response("rerank", answer((2, 0.91), (0, 0.87), (1, 0.02)), expected_request(model_id, 3))
    reranker = BedrockReranker(client, "us-west-2", model_id, sleep=fake_time.sleep, clock=fake_time.clock)
    assert reranker.rerank("cats", TEXTS, 5) == [(2, 0.91), (0, 0.87), (1, 0.02)]
    stubber.assert_no_pending_responses()


def test_throttling_is_retried_with_backoff(agent, fake_time: FakeTime) -> None:
    client, stubber = agent
    request = expected_request("amazon.rerank-v1:0", 2)
    stubber.add_client_error(
        "rerank", "ThrottlingException", "Too many requests", 429, expected_params=request
    )
    stubber.add_client_error(
        "rerank", "ThrottlingException", "Too many requests", 429, expected_params=request
    )
    stubber.add_response("rerank", answer((1, 0.5), (0, 0.4)), request)
    reranker = BedrockReranker(client, "us-west-2", sleep=fake_time.sleep, clock=fake_time.clock)
    assert reranker.rerank("cats", TEXTS, 2) == [(1, 0.5), (0, 0.4)]
    assert len(fake_time.sleeps) == 2


def test_throttling_past_the_deadline_is_transient(agent, fake_time: FakeTime) -> None:
    client, stubber = agent
    for _ in range(50):
        stubber.add_client_error("rerank", "ThrottlingException", "Too many requests", 429)
    reranker = BedrockReranker(
        client, "us-west-2", retry_deadline_s=5, sleep=fake_time.sleep, clock=fake_time.clock
    )
    with pytest.raises(TransientError):
        reranker.rerank("cats", TEXTS, 3)


def test_a_validation_error_is_permanent(agent, fake_time: FakeTime) -> None:
    client, stubber = agent
    stubber.add_client_error(
        "rerank", "ValidationException", "The model is not supported in this Region", 400
    )
    reranker = BedrockReranker(client, "us-west-2", sleep=fake_time.sleep, clock=fake_time.clock)
    with pytest.raises(DocumentError, match="ValidationException"):
        reranker.rerank("cats", TEXTS, 3)
    assert fake_time.sleeps == []


def test_an_answer_naming_no_candidate_is_refused(agent, fake_time: FakeTime) -> None:
    client, stubber = agent
    stubber.add_response("rerank", answer((7, 0.9)))
    reranker = BedrockReranker(client, "us-west-2", sleep=fake_time.sleep, clock=fake_time.clock)
    with pytest.raises(DocumentError, match="unknown index 7"):
        reranker.rerank("cats", TEXTS, 3)


def test_only_the_documented_models_are_accepted() -> None:
    with pytest.raises(ValueError, match=re.escape("amazon.rerank-v1:0, cohere.rerank-v3-5:0")):
        BedrockReranker(object(), "us-east-1", "cohere.rerank-v3:0")
    assert model_arn("eu-central-1", "cohere.rerank-v3-5:0") == (
        "arn:aws:bedrock:eu-central-1::foundation-model/cohere.rerank-v3-5:0"
    )
