"""TitanEmbedder: the exact InvokeModel request per text, parsing the documented response body,
order under concurrency, input truncation, dimension checks, throttling and account errors."""

from __future__ import annotations

import io
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from botocore.exceptions import ClientError
from botocore.response import StreamingBody

from chalicelib.adapters.bedrock_embedder import MAX_INPUT_CHARS, TitanEmbedder
from chalicelib.model import ConfigurationError, DocumentError, TransientError
from tests.contract.conftest import FakeTime, StubbedBedrock


def titan_response(vector: list[float], tokens: int = 7) -> dict[str, Any]:
    """InvokeModel's response with Titan V2's documented body."""
    raw = json.dumps({"embedding": vector, "inputTextTokenCount": tokens}).encode()
    return {"body": StreamingBody(io.BytesIO(raw), len(raw)), "contentType": "application/json"}


def basis(i: int, dimensions: int = 256) -> list[float]:
    vector = [0.0] * dimensions
    vector[i] = 1.0
    return vector


def embedder(bedrock: StubbedBedrock, fake_time: FakeTime, **options: Any) -> TitanEmbedder:
    options.setdefault("dimensions", 256)
    return TitanEmbedder(bedrock.client, sleep=fake_time.sleep, clock=fake_time.clock, **options)


def sent_bodies(bedrock: StubbedBedrock) -> list[dict[str, Any]]:
    bodies = []
    for operation, params in bedrock.calls:
        assert operation == "InvokeModel"
        assert params["modelId"] == "amazon.titan-embed-text-v2:0"
        assert params["contentType"] == "application/json"
        assert params["accept"] == "application/json"
        bodies.append(json.loads(params["body"]))
    return bodies


def test_one_invoke_model_call_per_text_with_the_titan_v2_body(
    bedrock: StubbedBedrock, fake_time: FakeTime
) -> None:
    bedrock.stubber.add_response("invoke_model", titan_response(basis(0)))
    bedrock.stubber.add_response("invoke_model", titan_response(basis(1)))
    vectors = embedder(bedrock, fake_time, concurrency=1).embed_documents(["first text", "second text"])
    assert vectors == [basis(0), basis(1)]
    assert sent_bodies(bedrock) == [
        {"inputText": "first text", "dimensions": 256, "normalize": True},
        {"inputText": "second text", "dimensions": 256, "normalize": True},
    ]
    bedrock.stubber.assert_no_pending_responses()


def test_query_uses_the_same_model_and_dimensions(bedrock: StubbedBedrock, fake_time: FakeTime) -> None:
    bedrock.stubber.add_response("invoke_model", titan_response(basis(3, 512)))
    vector = embedder(bedrock, fake_time, dimensions=512).embed_query("what grew?")
    assert vector == basis(3, 512)
    assert sent_bodies(bedrock) == [{"inputText": "what grew?", "dimensions": 512, "normalize": True}]


def test_throttling_is_retried(bedrock: StubbedBedrock, fake_time: FakeTime) -> None:
    bedrock.stubber.add_client_error(
        "invoke_model",
        service_error_code="ThrottlingException",
        service_message="Rate exceeded",
        http_status_code=429,
    )
    bedrock.stubber.add_response("invoke_model", titan_response(basis(2)))
    assert embedder(bedrock, fake_time).embed_query("text") == basis(2)
    assert len(bedrock.calls) == 2
    assert len(fake_time.sleeps) == 1


def test_access_denied_is_a_configuration_error_without_retries(
    bedrock: StubbedBedrock, fake_time: FakeTime
) -> None:
    bedrock.stubber.add_client_error(
        "invoke_model",
        service_error_code="AccessDeniedException",
        service_message="no model access",
        http_status_code=403,
    )
    # Issue 12: was DocumentError (the document FAILED at once); now a retryable ConfigurationError.
    with pytest.raises(ConfigurationError, match="AccessDeniedException: no model access") as caught:
        embedder(bedrock, fake_time).embed_query("text")
    assert isinstance(caught.value, TransientError) and not isinstance(caught.value, DocumentError)
    assert len(bedrock.calls) == 1


def test_a_model_id_the_region_does_not_have_is_a_configuration_error(
    bedrock: StubbedBedrock, fake_time: FakeTime
) -> None:
    bedrock.stubber.add_client_error(
        "invoke_model",
        service_error_code="ResourceNotFoundException",
        service_message="Could not resolve the foundation model from the provided model identifier.",
        http_status_code=404,
    )
    with pytest.raises(ConfigurationError, match="ResourceNotFoundException") as caught:
        embedder(bedrock, fake_time).embed_query("text")
    assert "QUARRY_EMBEDDING_MODEL_ID" in caught.value.fix
    assert len(bedrock.calls) == 1
    assert fake_time.sleeps == []


def test_long_inputs_are_truncated_below_the_model_limit(
    bedrock: StubbedBedrock, fake_time: FakeTime
) -> None:
    text = " ".join(f"token{i}" for i in range(10_000))  # ~79,000 characters
    bedrock.stubber.add_response("invoke_model", titan_response(basis(0)))
    embedder(bedrock, fake_time).embed_query(text)
    [body] = sent_bodies(bedrock)
    assert MAX_INPUT_CHARS - 200 <= len(body["inputText"]) <= MAX_INPUT_CHARS
    assert text.startswith(body["inputText"])
    assert not body["inputText"].endswith(" ")


def test_a_too_many_tokens_rejection_halves_the_input_and_retries(
    bedrock: StubbedBedrock, fake_time: FakeTime
) -> None:
    dense = "数" * 20_000  # one token per character: under the character cap, over the token limit
    bedrock.stubber.add_client_error(
        "invoke_model",
        service_error_code="ValidationException",
        service_message="Too many input tokens. Max input tokens: 8192, request input token: 20000",
        http_status_code=400,
    )
    bedrock.stubber.add_response("invoke_model", titan_response(basis(0)))
    assert embedder(bedrock, fake_time).embed_query(dense) == basis(0)
    first, second = sent_bodies(bedrock)
    assert len(first["inputText"]) == 20_000
    assert len(second["inputText"]) == 10_000


def test_other_validation_errors_are_not_retried(bedrock: StubbedBedrock, fake_time: FakeTime) -> None:
    bedrock.stubber.add_client_error(
        "invoke_model",
        service_error_code="ValidationException",
        service_message="Malformed input request",
        http_status_code=400,
    )
    with pytest.raises(DocumentError, match="Malformed input request"):
        embedder(bedrock, fake_time).embed_query("x" * 5000)
    assert len(bedrock.calls) == 1


def test_a_vector_of_the_wrong_size_is_a_provider_error(bedrock: StubbedBedrock, fake_time: FakeTime) -> None:
    bedrock.stubber.add_response("invoke_model", titan_response([0.5] * 128))
    with pytest.raises(DocumentError, match="returned 128 values where 256 were asked for"):
        embedder(bedrock, fake_time).embed_query("text")


@pytest.mark.parametrize("dimensions", [0, 128, 384, 768, 1536])
def test_only_titan_v2_dimensions_are_accepted(dimensions: int) -> None:
    with pytest.raises(ValueError, match="256-, 512- or 1024-dimensional"):
        TitanEmbedder(object(), dimensions=dimensions)


def test_check_dimensions_names_both_sizes_on_a_mismatch() -> None:
    titan = TitanEmbedder(object(), dimensions=1024)
    titan.check_dimensions(1024)
    titan.check_dimensions(None)  # no index yet
    with pytest.raises(ValueError, match=r"384-dimensional vectors .* configured for 1024"):
        titan.check_dimensions(384)


class ReverseOrderTitan:
    """A fake client whose calls finish in reverse order of the texts: the call for text i answers
    only after the call for text i+1 has answered. It needs every call in flight at once."""

    def __init__(self, count: int) -> None:
        self.answered = [threading.Event() for _ in range(count + 1)]
        self.answered[count].set()
        self.finish_order: list[int] = []
        self._lock = threading.Lock()

    def invoke_model(self, **params: Any) -> dict[str, Any]:
        i = int(json.loads(params["body"])["inputText"].split()[-1])
        assert self.answered[i + 1].wait(timeout=10), "calls did not run concurrently"
        with self._lock:
            self.finish_order.append(i)
        self.answered[i].set()
        return titan_response(basis(i))


def test_order_is_preserved_when_calls_finish_out_of_order(fake_time: FakeTime) -> None:
    client = ReverseOrderTitan(6)
    titan = TitanEmbedder(client, dimensions=256, concurrency=6, sleep=fake_time.sleep, clock=fake_time.clock)
    vectors = titan.embed_documents([f"text {i}" for i in range(6)])
    assert client.finish_order == [5, 4, 3, 2, 1, 0]
    assert vectors == [basis(i) for i in range(6)]


class CountingTitan:
    """Records how many calls are in flight at once; the first `pool` calls meet at a barrier, which
    only succeeds if that many run together."""

    def __init__(self, pool: int) -> None:
        self.barrier = threading.Barrier(pool, timeout=10)
        self.in_flight = 0
        self.peak = 0
        self.calls = 0
        self._lock = threading.Lock()

    def invoke_model(self, **params: Any) -> dict[str, Any]:
        with self._lock:
            self.calls += 1
            first_wave = self.calls <= self.barrier.parties
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
        if first_wave:
            self.barrier.wait()
        with self._lock:
            self.in_flight -= 1
        return titan_response(basis(0))


def test_concurrency_is_bounded_by_the_pool_size(fake_time: FakeTime) -> None:
    client = CountingTitan(pool=3)
    titan = TitanEmbedder(client, dimensions=256, concurrency=3, sleep=fake_time.sleep, clock=fake_time.clock)
    assert len(titan.embed_documents([f"text {i}" for i in range(20)])) == 20
    assert client.calls == 20
    assert client.peak == 3


def test_callers_embedding_at_once_share_one_pool(fake_time: FakeTime) -> None:
    """The worker embeds several documents at once: the provider still sees at most `concurrency`
    calls, and the pool is full even though each document has fewer chunks than the pool."""
    client = CountingTitan(pool=4)
    titan = TitanEmbedder(client, dimensions=256, concurrency=4, sleep=fake_time.sleep, clock=fake_time.clock)
    documents = [[f"document {d} chunk {c}" for c in range(2)] for d in range(6)]
    with ThreadPoolExecutor(max_workers=len(documents)) as callers:
        results = list(callers.map(titan.embed_documents, documents))
    assert [len(vectors) for vectors in results] == [2] * 6
    assert client.calls == 12
    assert client.peak == 4


class OneDeniedText:
    """The text "denied" is refused at once (AccessDenied, not retried); every other call takes a while.
    Counts the calls still running."""

    def __init__(self) -> None:
        self.running = 0
        self.started = threading.Event()
        self._lock = threading.Lock()

    def invoke_model(self, **params: Any) -> dict[str, Any]:
        if json.loads(params["body"])["inputText"] == "denied":
            assert self.started.wait(timeout=10), "the other calls never started"
            raise ClientError(
                {"Error": {"Code": "AccessDeniedException", "Message": "no access"}}, "InvokeModel"
            )
        with self._lock:
            self.running += 1
        self.started.set()
        time.sleep(0.3)
        with self._lock:
            self.running -= 1
        return titan_response(basis(0))


def test_when_one_text_fails_no_call_of_that_document_is_left_running(fake_time: FakeTime) -> None:
    client = OneDeniedText()
    titan = TitanEmbedder(client, dimensions=256, concurrency=4, sleep=fake_time.sleep, clock=fake_time.clock)
    # Issue 12: the refusal is now a ConfigurationError (was DocumentError); still no call left running.
    with pytest.raises(ConfigurationError, match="AccessDeniedException"):
        titan.embed_documents(["denied", "first", "second", "third"])
    assert client.running == 0
