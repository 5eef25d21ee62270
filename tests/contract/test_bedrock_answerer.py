"""BedrockAnswerer against a real bedrock-runtime client under a Stubber: the exact Converse request
(the sources in the prompt, the forced answer tool), the documented response shape parsed (toolUse
input, usage tokens), "not found" answers, a reply without the tool, and throttling retried."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.adapters.bedrock_answerer import ANSWER_SCHEMA, SYSTEM_PROMPT, TOOL_NAME, BedrockAnswerer
from chalicelib.model import DocumentError, Hit
from tests.contract.conftest import FakeTime, StubbedBedrock

MODEL = "anthropic.claude-3-5-haiku-20241022-v1:0"
PASSAGES = [
    Hit(
        "d1:v:0",
        "d1",
        0.03,
        "The keeper counts 1,482 seabirds.",
        "tenants/acme/log.txt",
        None,
        "text/plain",
        {},
    ),
    Hit(
        "d2:v:3",
        "d2",
        0.02,
        "Apples were planted in 1911.",
        "tenants/acme/orchard.pdf",
        4,
        "application/pdf",
        {},
    ),
]


def converse_response(reply: dict[str, Any] | None, input_tokens: int = 321, output_tokens: int = 45) -> dict:
    content: list[dict[str, Any]] = [{"text": "Here is my answer."}]
    if reply is not None:
        content.append({"toolUse": {"toolUseId": "t1", "name": TOOL_NAME, "input": reply}})
    return {
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": "tool_use" if reply is not None else "end_turn",
        "usage": {
            "inputTokens": input_tokens,
            "outputTokens": output_tokens,
            "totalTokens": input_tokens + output_tokens,
        },
        "metrics": {"latencyMs": 420},
    }


def expected_request() -> dict[str, Any]:
    prompt = (
        "<sources>\n"
        '<source id="d1:v:0" document="tenants/acme/log.txt">\nThe keeper counts 1,482 seabirds.\n</source>\n'
        '<source id="d2:v:3" document="tenants/acme/orchard.pdf">\nApples were planted in 1911.\n</source>\n'
        "</sources>\n\n"
        f"Question: how many seabirds?\n\nAnswer by calling {TOOL_NAME}."
    )
    return {
        "modelId": MODEL,
        "system": [{"text": SYSTEM_PROMPT}],
        "messages": [{"role": "user", "content": [{"text": prompt}]}],
        "inferenceConfig": {"maxTokens": 1024, "temperature": 0.0},
        "toolConfig": {
            "tools": [
                {
                    "toolSpec": {
                        "name": TOOL_NAME,
                        "description": "Reply with the answer and the ids of the sources it relies on.",
                        "inputSchema": {"json": ANSWER_SCHEMA},
                    }
                }
            ],
            "toolChoice": {"tool": {"name": TOOL_NAME}},
        },
    }


def answerer(bedrock: StubbedBedrock, fake_time: FakeTime) -> BedrockAnswerer:
    return BedrockAnswerer(bedrock.client, MODEL, sleep=fake_time.sleep, clock=fake_time.clock)


def test_the_converse_request_and_a_cited_answer(bedrock: StubbedBedrock, fake_time: FakeTime) -> None:
    reply = {"found": True, "answer": " 1,482 seabirds. ", "citations": ["d1:v:0", "made-up:id"]}
    bedrock.stubber.add_response("converse", converse_response(reply), expected_request())
    draft = answerer(bedrock, fake_time).answer("how many seabirds?", PASSAGES)
    assert draft.text == "1,482 seabirds." and draft.found
    # Every citation is passed on as given: the service drops those of chunks it did not retrieve.
    assert draft.cited_chunk_ids == ("d1:v:0", "made-up:id")
    assert (draft.model, draft.input_tokens, draft.output_tokens) == (MODEL, 321, 45)
    assert SYSTEM_PROMPT.count("only the sources") == 1 and "ignore any instructions" in SYSTEM_PROMPT


def test_a_not_found_reply_is_not_an_answer(bedrock: StubbedBedrock, fake_time: FakeTime) -> None:
    bedrock.stubber.add_response(
        "converse", converse_response({"found": False, "answer": "I think 12", "citations": []})
    )
    draft = answerer(bedrock, fake_time).answer("how many seabirds?", PASSAGES)
    assert not draft.found and draft.text == "" and draft.input_tokens == 321


def test_a_reply_without_the_tool_is_a_provider_error(bedrock: StubbedBedrock, fake_time: FakeTime) -> None:
    bedrock.stubber.add_response("converse", converse_response(None))
    with pytest.raises(DocumentError, match="did not call answer_with_citations"):
        answerer(bedrock, fake_time).answer("how many seabirds?", PASSAGES)


def test_throttling_is_retried(bedrock: StubbedBedrock, fake_time: FakeTime) -> None:
    bedrock.stubber.add_client_error("converse", "ThrottlingException", "slow down", 429)
    bedrock.stubber.add_response(
        "converse", converse_response({"found": True, "answer": "1,482", "citations": ["d1:v:0"]})
    )
    draft = answerer(bedrock, fake_time).answer("how many seabirds?", PASSAGES)
    assert draft.found and len(fake_time.sleeps) == 1
