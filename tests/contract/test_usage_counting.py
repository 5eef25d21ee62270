"""The adapters count their own usage into the document's meter: Titan V2's `inputTextTokenCount`,
Converse's `usage`, each retry and throttle of a provider call, and the local embedders' tokenizers."""

from __future__ import annotations

from botocore.exceptions import ClientError

from chalicelib.adapters.aws_retry import call_with_backoff
from chalicelib.adapters.bedrock_embedder import TitanEmbedder
from chalicelib.adapters.bedrock_extractor import BedrockExtractor
from chalicelib.adapters.local_embedders import HashingEmbedder
from chalicelib.usage import count_tokens, metering
from tests.contract.conftest import FakeTime, StubbedBedrock
from tests.contract.test_bedrock_embedder import basis, titan_response
from tests.contract.test_bedrock_extractor import GOOD, MODEL, converse_response


def test_titan_token_counts_from_every_pool_thread_land_in_the_callers_meter(
    bedrock: StubbedBedrock, fake_time: FakeTime
) -> None:
    for i, tokens in enumerate((11, 13, 17)):
        bedrock.stubber.add_response("invoke_model", titan_response(basis(i), tokens=tokens))
    titan = TitanEmbedder(
        bedrock.client, dimensions=256, concurrency=1, sleep=fake_time.sleep, clock=fake_time.clock
    )
    with metering() as meter:
        titan.embed_documents(["a b", "c d", "e f"])
    usage = meter.snapshot()
    assert usage.tokens == {"amazon.titan-embed-text-v2:0": {"input": 41, "output": 0}}
    assert usage.provider_calls == {"bedrock": 3}


def test_converse_usage_is_counted_per_call_including_the_retry_after_invalid_output(
    bedrock: StubbedBedrock, fake_time: FakeTime
) -> None:
    bedrock.stubber.add_response(
        "converse", converse_response({"bogus": 1}, input_tokens=100, output_tokens=7)
    )
    bedrock.stubber.add_response("converse", converse_response(GOOD, input_tokens=120, output_tokens=9))
    extractor = BedrockExtractor(bedrock.client, MODEL, sleep=fake_time.sleep, clock=fake_time.clock)
    with metering() as meter:
        result = extractor.extract("Acme's revenue grew.")
    assert result.error is None
    assert meter.snapshot().tokens == {MODEL: {"input": 220, "output": 16}}
    assert meter.snapshot().provider_calls == {"bedrock": 2}


def throttled() -> ClientError:
    return ClientError(
        {
            "Error": {"Code": "ThrottlingException", "Message": "slow down"},
            "ResponseMetadata": {"HTTPStatusCode": 429},
        },
        "InvokeModel",
    )


def unavailable() -> ClientError:
    return ClientError(
        {
            "Error": {"Code": "ServiceUnavailableException", "Message": "busy"},
            "ResponseMetadata": {"HTTPStatusCode": 503},
        },
        "InvokeModel",
    )


def test_retries_and_throttles_are_counted_per_provider(fake_time: FakeTime) -> None:
    failures = [throttled(), throttled(), unavailable()]

    def call() -> str:
        if failures:
            raise failures.pop(0)
        return "ok"

    with metering() as meter:
        assert call_with_backoff(
            call, deadline_s=60, sleep=fake_time.sleep, clock=fake_time.clock, provider="bedrock"
        )
    usage = meter.snapshot()
    assert usage.provider_retries == {"bedrock": 3}
    assert usage.provider_throttles == {"bedrock": 2}


def test_outside_a_meter_counting_is_a_no_op_and_meters_do_not_mix() -> None:
    count_tokens("m", 5)  # the API's query embedding: no document to charge
    with metering() as outer:
        count_tokens("m", 1)
        with metering() as inner:
            count_tokens("m", 2)
        count_tokens("m", 4)
    assert outer.snapshot().tokens == {"m": {"input": 5, "output": 0}}
    assert inner.snapshot().tokens == {"m": {"input": 2, "output": 0}}


def test_the_hashing_embedder_counts_the_words_it_hashes() -> None:
    with metering() as meter:
        HashingEmbedder().embed_documents(["three little words", "two more"])
    assert meter.snapshot().tokens == {"quarry/hashing": {"input": 5, "output": 0}}
