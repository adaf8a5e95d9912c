"""routeyard's outcomes and chunks as OpenAI bodies, judged by the OpenAI SDK's types."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, get_args

import httpx2
import orjson
import pytest
from openai.types import Model
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from routeyard.front.openai_response import (
    chunk_body,
    completion_body,
    final_chunks,
    models_body,
)
from schemas.chat import FinishReason, ToolCall
from schemas.chunks import ChunkEvent, ToolCallChunk
from schemas.config import GatewayConfig
from tests.routeyard.front.openai_sdk import fits, response, sdk_client

CREATED = 1_767_225_600
CALL = ToolCall(id="call_9", name="get_weather", arguments={"city": "Oslo", "days": [1, 2]})


def chunk(seq: int, text: str = "", tool_call: ToolCallChunk | None = None) -> ChunkEvent:
    return ChunkEvent(
        request_id="ry-1",
        call_id="call-a",
        attempt=1,
        seq=seq,
        model="small-model",
        text=text,
        tool_call=tool_call,
    )


def test_a_whole_answer_is_a_chat_completion() -> None:
    resp = response(created_at=datetime.fromtimestamp(CREATED, UTC))
    body = completion_body(resp, "fast")
    assert fits(body, ChatCompletion) == []
    parsed = ChatCompletion.model_validate(body)
    assert (parsed.id, parsed.created, parsed.model) == ("chatcmpl-ry-1", CREATED, "fast")
    choice = parsed.choices[0]
    assert (choice.message.content, choice.finish_reason) == ("Hello there.", "stop")
    assert parsed.usage is not None and parsed.usage.prompt_tokens_details is not None
    assert (parsed.usage.prompt_tokens, parsed.usage.completion_tokens) == (12, 5)
    assert (parsed.usage.total_tokens, parsed.usage.prompt_tokens_details.cached_tokens) == (17, 4)


def test_the_model_named_is_the_callers_unless_it_asked_for_auto() -> None:
    resp = response(model="big-model")
    assert completion_body(resp, "fast")["model"] == "fast"
    assert completion_body(resp, "big-model")["model"] == "big-model"
    assert completion_body(resp, "auto")["model"] == "big-model"
    ends = final_chunks(resp, model_label="auto", created=CREATED, include_usage=True)
    assert {c["model"] for c in ends} == {"big-model"}
    assert chunk_body(chunk(0, "x"), model_label="auto", created=1, first=True)["model"] == (
        "small-model"
    )


def test_tool_calls_carry_their_arguments_as_a_json_string() -> None:
    body = completion_body(response(content="", finish_reason="tool_calls", tool_calls=[CALL]), "x")
    assert fits(body, ChatCompletion) == []
    message = ChatCompletion.model_validate(body).choices[0].message
    assert message.content is None and message.tool_calls is not None
    call = message.tool_calls[0]
    assert call.type == "function" and call.id == "call_9"
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == CALL.arguments


@pytest.mark.parametrize("reason", get_args(FinishReason))
def test_every_finish_reason_is_one_the_sdk_knows(reason: FinishReason) -> None:
    body = completion_body(response(finish_reason=reason), "auto")
    assert fits(body, ChatCompletion) == []
    expected = "stop" if reason == "other" else reason
    assert body["choices"][0]["finish_reason"] == expected
    last = final_chunks(
        response(finish_reason=reason), model_label="a", created=1, include_usage=False
    )
    assert [c["choices"][0]["finish_reason"] for c in last] == [expected]


def test_chunks_fit_the_sdk_and_only_the_first_names_the_role() -> None:
    bodies = [
        chunk_body(chunk(0, "Hel"), model_label="fast", created=CREATED, first=True),
        chunk_body(chunk(1, "lo"), model_label="fast", created=CREATED, first=False),
        chunk_body(
            chunk(2, tool_call=ToolCallChunk(index=0, id="call_9", name="get_weather")),
            model_label="fast",
            created=CREATED,
            first=False,
        ),
        chunk_body(
            chunk(3, tool_call=ToolCallChunk(index=0, arguments='{"city"')),
            model_label="fast",
            created=CREATED,
            first=False,
        ),
    ]
    for body in bodies:
        assert fits(body, ChatCompletionChunk) == []
        assert (body["id"], body["created"]) == ("chatcmpl-ry-1", CREATED)
    deltas = [ChatCompletionChunk.model_validate(b).choices[0].delta for b in bodies]
    assert [d.role for d in deltas] == ["assistant", None, None, None]
    assert [d.content for d in deltas] == ["Hel", "lo", None, None]
    opening, more = deltas[2].tool_calls, deltas[3].tool_calls
    assert opening is not None and more is not None
    assert (opening[0].id, opening[0].type, opening[0].function.name) == (  # type: ignore[union-attr]
        "call_9",
        "function",
        "get_weather",
    )
    assert (more[0].id, more[0].function.name, more[0].function.arguments) == (  # type: ignore[union-attr]
        None,
        None,
        '{"city"',
    )


def test_the_stream_ends_with_the_finish_reason_then_usage_when_asked() -> None:
    resp = response(finish_reason="length")
    without = final_chunks(resp, model_label="m", created=CREATED, include_usage=False)
    asked = final_chunks(resp, model_label="m", created=CREATED, include_usage=True)
    for body in asked:
        assert fits(body, ChatCompletionChunk) == []
    assert asked[:1] == without
    assert without[0]["choices"] == [
        {"index": 0, "delta": {}, "finish_reason": "length", "logprobs": None}
    ]
    usage = ChatCompletionChunk.model_validate(asked[1])
    assert usage.choices == [] and usage.usage is not None
    assert (usage.usage.prompt_tokens, usage.usage.completion_tokens) == (12, 5)


def sse(bodies: Iterable[dict[str, Any]]) -> bytes:
    return b"".join(b"data: " + orjson.dumps(b) + b"\n\n" for b in bodies) + b"data: [DONE]\n\n"


def stream_through_sdk(frames: bytes) -> ChatCompletion:
    """What the SDK's own stream accumulator makes of ``frames``."""
    client = sdk_client(
        lambda _: httpx2.Response(
            200, content=frames, headers={"content-type": "text/event-stream"}
        )
    )
    with client.chat.completions.stream(
        model="fast", messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        for _ in stream:
            pass
        return stream.get_final_completion()


def test_the_sdk_assembles_a_streamed_answer_with_tool_calls_and_usage() -> None:
    pieces = [
        chunk(0, "Checking. "),
        chunk(1, tool_call=ToolCallChunk(index=0, id="call_9", name="get_weather")),
        chunk(2, tool_call=ToolCallChunk(index=0, arguments='{"city": "Oslo", ')),
        chunk(3, tool_call=ToolCallChunk(index=0, arguments='"days": [1, 2]}')),
    ]
    resp = response(content="Checking. ", tool_calls=[CALL], finish_reason="tool_calls")
    frames = sse(
        [
            *(chunk_body(p, model_label="fast", created=CREATED, first=p.seq == 0) for p in pieces),
            *final_chunks(resp, model_label="fast", created=CREATED, include_usage=True),
        ]
    )
    final = stream_through_sdk(frames)
    message = final.choices[0].message
    assert message.content == "Checking. " and final.choices[0].finish_reason == "tool_calls"
    assert message.tool_calls is not None
    call = message.tool_calls[0]
    assert (call.id, call.function.name) == ("call_9", "get_weather")  # type: ignore[union-attr]
    assert json.loads(call.function.arguments) == CALL.arguments  # type: ignore[union-attr]
    assert final.usage is not None and final.usage.total_tokens == 17


def test_an_answer_that_was_not_streamed_closes_the_stream_whole() -> None:
    resp = response(content="All at once.", tool_calls=[CALL], finish_reason="tool_calls")
    bodies = final_chunks(
        resp, model_label="fast", created=CREATED, include_usage=False, whole=True
    )
    for body in bodies:
        assert fits(body, ChatCompletionChunk) == []
    final = stream_through_sdk(sse(bodies))
    message = final.choices[0].message
    assert (message.role, message.content) == ("assistant", "All at once.")
    assert message.tool_calls is not None
    assert json.loads(message.tool_calls[0].function.arguments) == CALL.arguments  # type: ignore[union-attr]


def test_models_lists_auto_routes_and_models_once_each() -> None:
    config = GatewayConfig.model_validate(
        {
            "providers": {"emu": {"format": "openai", "base_url": "http://emu.test/v1"}},
            "models": {
                name: {
                    "provider": "emu",
                    "upstream": name,
                    "input_per_mtok": "1",
                    "output_per_mtok": "1",
                    "context_window": 8000,
                }
                for name in ("small-model", "big-model")
            },
            "routes": [
                {"name": "fast", "primary": "small-model"},
                {"name": "big-model", "primary": "big-model", "by_name_only": True},
            ],
        }
    )
    body = models_body(config, created=CREATED)
    for entry in body["data"]:
        assert fits(entry, Model) == []
    assert [m["id"] for m in body["data"]] == ["auto", "fast", "big-model", "small-model"]
    assert {m["owned_by"] for m in body["data"]} == {"routeyard"}

    client = sdk_client(lambda _: httpx2.Response(200, json=body))
    assert [m.id for m in client.models.list()] == ["auto", "fast", "big-model", "small-model"]
