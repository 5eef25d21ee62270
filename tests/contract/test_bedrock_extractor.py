"""BedrockExtractor against a stubbed bedrock-runtime client: the exact Converse request, and how each
documented response shape and error becomes an ExtractionResult."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from botocore.stub import ANY

from chalicelib.adapters.bedrock_extractor import BedrockExtractor, bounded_excerpt
from chalicelib.extraction import Extraction
from chalicelib.model import ConfigurationError, TransientError
from tests.contract.conftest import FakeTime, StubbedBedrock

MODEL = "anthropic.claude-3-5-haiku-20241022-v1:0"
GOOD = {
    "title": "Quarterly report",
    "summary": "Revenue grew five percent.",
    "language": "en",
    "document_type": "report",
    "entities": {
        "people": ["Ada Lovelace"],
        "organizations": ["Acme"],
        "dates": [],
        "amounts": [],
        "emails": [],
        "urls": [],
    },
    "keywords": ["revenue"],
}


def converse_response(tool_input: Any, input_tokens: int = 100, output_tokens: int = 20) -> dict[str, Any]:
    """A Converse response in which the model called the tool, as the API documents it."""
    return {
        "output": {
            "message": {
                "role": "assistant",
                "content": [
                    {
                        "toolUse": {
                            "toolUseId": "tooluse_1",
                            "name": "record_document_facts",
                            "input": tool_input,
                        }
                    }
                ],
            }
        },
        "stopReason": "tool_use",
        "usage": {
            "inputTokens": input_tokens,
            "outputTokens": output_tokens,
            "totalTokens": input_tokens + output_tokens,
        },
        "metrics": {"latencyMs": 321},
    }


def extractor(bedrock: StubbedBedrock, fake_time: FakeTime, **options: Any) -> BedrockExtractor:
    return BedrockExtractor(bedrock.client, MODEL, sleep=fake_time.sleep, clock=fake_time.clock, **options)


def prompt_of(call: tuple[str, dict[str, Any]]) -> str:
    operation, params = call
    assert operation == "Converse"
    [message] = params["messages"]
    assert message["role"] == "user"
    return message["content"][0]["text"]


def test_converse_request_forces_the_extraction_tool(bedrock: StubbedBedrock, fake_time: FakeTime) -> None:
    bedrock.stubber.add_response(
        "converse",
        converse_response(GOOD),
        expected_params={
            "modelId": MODEL,
            "system": [{"text": ANY}],
            "messages": ANY,
            "inferenceConfig": {"maxTokens": 2048, "temperature": 0.0},
            "toolConfig": {
                "tools": [
                    {
                        "toolSpec": {
                            "name": "record_document_facts",
                            "description": ANY,
                            "inputSchema": {"json": Extraction.model_json_schema()},
                        }
                    }
                ],
                "toolChoice": {"tool": {"name": "record_document_facts"}},
            },
        },
    )
    result = extractor(bedrock, fake_time).extract(
        "Acme's revenue grew.", title_hint="q3.pdf", content_type="application/pdf"
    )
    bedrock.stubber.assert_no_pending_responses()
    prompt = prompt_of(bedrock.calls[0])
    assert "Acme's revenue grew." in prompt
    assert "q3.pdf" in prompt and "application/pdf" in prompt
    assert result.error is None
    assert result.data == GOOD


def test_usage_and_latency_are_recorded(bedrock: StubbedBedrock, fake_time: FakeTime) -> None:
    bedrock.stubber.add_response("converse", converse_response(GOOD, input_tokens=1234, output_tokens=56))
    timer = iter([10.0, 10.75]).__next__
    result = extractor(bedrock, fake_time, timer=timer).extract("text")
    assert (result.input_tokens, result.output_tokens) == (1234, 56)
    assert result.latency_ms == pytest.approx(750.0)
    assert result.model == MODEL


def test_invalid_tool_input_is_retried_once_with_the_error_in_the_prompt(
    bedrock: StubbedBedrock, fake_time: FakeTime
) -> None:
    bedrock.stubber.add_response("converse", converse_response({"summary": 42, "mood": "cheerful"}, 100, 10))
    bedrock.stubber.add_response("converse", converse_response(GOOD, 150, 30))
    timer = iter([0.0, 0.5, 1.0, 1.25]).__next__
    result = extractor(bedrock, fake_time, timer=timer).extract("The document text.")
    assert result.error is None
    assert result.data == GOOD
    assert len(bedrock.calls) == 2
    first, second = prompt_of(bedrock.calls[0]), prompt_of(bedrock.calls[1])
    assert "rejected" not in first
    assert "record_document_facts was rejected" in second
    assert "summary" in second and "Input should be a valid string" in second
    assert "mood" in second and "Extra inputs are not permitted" in second
    assert "The document text." in second
    # Both attempts cost tokens and time.
    assert (result.input_tokens, result.output_tokens) == (250, 40)
    assert result.latency_ms == pytest.approx(750.0)


def test_invalid_twice_fails_the_extraction_not_the_document(
    bedrock: StubbedBedrock, fake_time: FakeTime
) -> None:
    bedrock.stubber.add_response("converse", converse_response({"keywords": "not a list"}))
    bedrock.stubber.add_response("converse", converse_response({"keywords": "still not a list"}))
    result = extractor(bedrock, fake_time).extract("text")
    assert result.data == {}
    assert (
        result.error is not None and "failed validation twice" in result.error and "keywords" in result.error
    )
    assert len(bedrock.calls) == 2
    bedrock.stubber.assert_no_pending_responses()


def test_a_response_without_the_tool_call_counts_as_invalid(
    bedrock: StubbedBedrock, fake_time: FakeTime
) -> None:
    prose = {
        "output": {"message": {"role": "assistant", "content": [{"text": "Here are the facts..."}]}},
        "stopReason": "max_tokens",
        "usage": {"inputTokens": 10, "outputTokens": 2048, "totalTokens": 2058},
        "metrics": {"latencyMs": 900},
    }
    bedrock.stubber.add_response("converse", prose)
    bedrock.stubber.add_response("converse", converse_response(GOOD))
    result = extractor(bedrock, fake_time).extract("text")
    assert result.data == GOOD
    assert "did not call record_document_facts (stopReason=max_tokens)" in prompt_of(bedrock.calls[1])


def test_throttling_is_retried_with_backoff(bedrock: StubbedBedrock, fake_time: FakeTime) -> None:
    bedrock.stubber.add_client_error(
        "converse",
        service_error_code="ThrottlingException",
        service_message="Too many requests",
        http_status_code=429,
    )
    bedrock.stubber.add_response("converse", converse_response(GOOD))
    result = extractor(bedrock, fake_time).extract("text")
    assert result.data == GOOD and result.error is None
    assert len(bedrock.calls) == 2
    assert len(fake_time.sleeps) == 1


def test_throttling_past_the_deadline_raises_transient(bedrock: StubbedBedrock, fake_time: FakeTime) -> None:
    for _ in range(60):
        bedrock.stubber.add_client_error(
            "converse",
            service_error_code="ThrottlingException",
            service_message="Too many requests",
            http_status_code=429,
        )
    with pytest.raises(TransientError, match="ThrottlingException"):
        extractor(bedrock, fake_time, retry_deadline_s=20).extract("text")
    assert sum(fake_time.sleeps) <= 20
    assert len(bedrock.calls) >= 2


def test_validation_exception_is_permanent_and_not_retried(
    bedrock: StubbedBedrock, fake_time: FakeTime
) -> None:
    bedrock.stubber.add_client_error(
        "converse",
        service_error_code="ValidationException",
        service_message="Malformed input request",
        http_status_code=400,
    )
    result = extractor(bedrock, fake_time).extract("text")
    assert result.data == {}
    assert result.error == (
        "The extraction model refused the request (ValidationException); "
        "the document is indexed without extracted facts"
    )
    assert len(bedrock.calls) == 1
    assert fake_time.sleeps == []


def test_a_model_not_enabled_is_a_configuration_error_retried_later_and_logged(
    bedrock: StubbedBedrock, fake_time: FakeTime, caplog: pytest.LogCaptureFixture
) -> None:
    message = (
        "User: arn:aws:sts::123456789012:assumed-role/quarry-ingest/fn is not authorized to perform "
        "bedrock:Converse. You don't have access to the model with the specified model ID."
    )
    bedrock.stubber.add_client_error(
        "converse", service_error_code="AccessDeniedException", service_message=message, http_status_code=403
    )
    # Issue 12: this returned an ExtractionResult with error "Bedrock: AccessDeniedException: ..." (the
    # document indexed without its extraction, for good); the account's fault now raises
    # ConfigurationError, a TransientError, so the document is retried once model access is granted.
    with (
        caplog.at_level(logging.ERROR, logger="chalicelib.adapters.aws_retry"),
        pytest.raises(ConfigurationError) as caught,
    ):
        extractor(bedrock, fake_time).extract("text")
    assert isinstance(caught.value, TransientError)
    assert caught.value.message == f"AccessDeniedException: {message}"
    assert "Model access" in caught.value.fix
    assert any(
        "AccessDeniedException" in record.getMessage() and record.levelno == logging.ERROR
        for record in caplog.records
    )
    assert len(bedrock.calls) == 1


def test_expired_credentials_are_a_configuration_error(bedrock: StubbedBedrock, fake_time: FakeTime) -> None:
    bedrock.stubber.add_client_error(
        "converse",
        service_error_code="ExpiredTokenException",
        service_message="The security token included in the request is expired",
        http_status_code=403,
    )
    with pytest.raises(ConfigurationError, match="ExpiredTokenException") as caught:
        extractor(bedrock, fake_time).extract("text")
    assert "credentials" in caught.value.fix
    assert len(bedrock.calls) == 1
    assert fake_time.sleeps == []


def test_long_documents_are_cut_to_the_token_budget(bedrock: StubbedBedrock, fake_time: FakeTime) -> None:
    words = " ".join(f"word{i}" for i in range(60_000))
    text = "BEGINNING-OF-DOCUMENT " + words + " END-OF-DOCUMENT"
    bedrock.stubber.add_response("converse", converse_response(GOOD))
    extractor(bedrock, fake_time, max_input_tokens=1000).extract(text)
    prompt = prompt_of(bedrock.calls[0])
    document = prompt.split("<document>\n", 1)[1].rsplit("\n</document>", 1)[0]
    assert len(text) > 100 * 4000
    assert len(document) <= 4000
    assert len(prompt) <= 4000 + 600  # the instructions around the document are short and fixed
    assert document.startswith("BEGINNING-OF-DOCUMENT")
    assert document.endswith("END-OF-DOCUMENT")
    assert document.count("[...]") == 8
    assert f"({len(text)} characters)" in prompt


@pytest.mark.parametrize("length", [0, 1, 999, 1000, 1001, 1500, 10_000, 1_000_003])
def test_bounded_excerpt_never_exceeds_its_budget(length: int) -> None:
    text = "".join(chr(ord("a") + i % 26) for i in range(length))
    excerpt = bounded_excerpt(text, 1000)
    assert len(excerpt) <= 1000
    if length <= 1000:
        assert excerpt == text
    else:
        assert excerpt.startswith(text[:400]) and excerpt.endswith(text[-50:])


USER_SCHEMA = {
    "type": "object",
    "properties": {"invoice_number": {"type": "string"}, "total": {"type": "number"}},
    "required": ["invoice_number", "total"],
    "additionalProperties": False,
}


def test_a_user_schema_is_sent_as_the_tool_schema_and_enforced(
    bedrock: StubbedBedrock, fake_time: FakeTime
) -> None:
    tool_schema = {
        "toolConfig": {
            "tools": [
                {
                    "toolSpec": {
                        "name": "record_document_facts",
                        "description": ANY,
                        "inputSchema": {"json": USER_SCHEMA},
                    }
                }
            ],
            "toolChoice": {"tool": {"name": "record_document_facts"}},
        },
    }
    expected = {"modelId": MODEL, "system": ANY, "messages": ANY, "inferenceConfig": ANY, **tool_schema}
    bedrock.stubber.add_response("converse", converse_response({"invoice_number": "A-17"}), expected)
    bedrock.stubber.add_response(
        "converse", converse_response({"invoice_number": "A-17", "total": 99.5}), expected
    )
    result = extractor(bedrock, fake_time).extract("Invoice A-17, total 99.50 EUR", schema=USER_SCHEMA)
    assert result.data == {"invoice_number": "A-17", "total": 99.5}
    assert "'total' is a required property" in prompt_of(bedrock.calls[1])
    bedrock.stubber.assert_no_pending_responses()


def test_output_breaking_a_user_schema_twice_is_an_extraction_error(
    bedrock: StubbedBedrock, fake_time: FakeTime
) -> None:
    bedrock.stubber.add_response("converse", converse_response({"invoice_number": 17, "total": 1}))
    bedrock.stubber.add_response("converse", converse_response({"invoice_number": "A", "total": "1", "x": 1}))
    result = extractor(bedrock, fake_time).extract("text", schema=USER_SCHEMA)
    assert result.data == {}
    assert result.error is not None and "'1' is not of type 'number'" in result.error


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ({"type": "array", "items": {"type": "string"}}, '"type": "object"'),
        ({"type": "object", "properties": {"a": {"type": "no-such-type"}}}, "not a valid JSON Schema"),
    ],
)
def test_an_unusable_user_schema_fails_without_calling_the_model(
    bedrock: StubbedBedrock, fake_time: FakeTime, schema: dict[str, Any], message: str
) -> None:
    result = extractor(bedrock, fake_time).extract("text", schema=schema)
    assert result.data == {}
    assert result.error is not None and message in result.error
    assert bedrock.calls == []


def test_a_user_schema_with_a_remote_ref_fails_without_calling_the_model_or_fetching(
    bedrock: StubbedBedrock, fake_time: FakeTime
) -> None:
    schema = {"type": "object", "properties": {"a": {"$ref": "http://127.0.0.1:9/secret.json"}}}
    result = extractor(bedrock, fake_time).extract("text", schema=schema)
    assert result.error is not None and "only local references" in result.error
    assert bedrock.calls == []
