"""Anthropic Messages: our adapter's requests and the emulator's replies, checked against
the official ``anthropic`` SDK's types, key by key."""

from collections.abc import Callable
from typing import Any

import anthropic
import httpx
import orjson
import pytest
from anthropic.types import Message, ToolParam, ToolUseBlock
from anthropic.types.message_create_params import MessageCreateParamsNonStreaming
from anthropic.types.shared import ErrorResponse
from typing_extensions import get_type_hints

from adapters.anthropic.payload import build_payload
from adapters.base import ProviderRequest
from adapters.credentials import Credentials
from emulator.server import RunningEmulator
from schemas.chat import ImagePart, ResponseFormat, TextPart, ToolCall, ToolSpec
from schemas.events import ChatMessage, GenerationParams
from schemas.providers import AnthropicProvider
from tests.emulated import FAULT_STATUSES, StartEmulator, complete_capturing, faulty
from tests.emulator.sdk_fields import model_errors, params_errors

AUTH = {"x-api-key": "test-key", "anthropic-version": "2023-06-01"}
BODY: dict[str, Any] = {
    "model": "claude-emu",
    "max_tokens": 50,
    "system": "be brief",
    "messages": [{"role": "user", "content": "what is the capital of Portugal"}],
}
WEATHER_SCHEMA: dict[str, Any] = {"type": "object", "properties": {"city": {"type": "string"}}}
WEATHER_TOOL: ToolParam = {
    "name": "get_weather",
    "description": "current weather",
    "input_schema": WEATHER_SCHEMA,
}


def full_request() -> ProviderRequest:
    call = ToolCall(id="toolu_1", name="get_weather", arguments={"city": "Lisbon"})
    return ProviderRequest(
        upstream_model="claude-emu",
        messages=[
            ChatMessage(role="system", content="be brief"),
            ChatMessage(
                role="user",
                content=[
                    TextPart(text="what is in these, and the weather?"),
                    ImagePart(media_type="image/png", data="iVBORw0KGgo="),
                    ImagePart(media_type="image/jpeg", url="https://example.com/a.jpg"),
                ],
            ),
            ChatMessage(role="assistant", content="checking", tool_calls=[call]),
            ChatMessage(role="tool", tool_call_id="toolu_1", content="sunny"),
            ChatMessage(role="user", content="so?"),
        ],
        params=GenerationParams(max_tokens=64, stop=["END"]),
        tools=[
            ToolSpec(
                name="get_weather",
                description="current weather",
                parameters=WEATHER_SCHEMA,
            )
        ],
        tool_choice="required",
        response_format=ResponseFormat(type="json_schema", json_schema={"type": "object"}),
    )


async def test_adapter_request_fits_the_sdk_params(start_emulator: StartEmulator) -> None:
    emulator = await start_emulator()
    config = AnthropicProvider(format="anthropic", base_url=emulator.base_url)
    # The emulator refuses unknown fields and malformed blocks: success is a check.
    result, [sent] = await complete_capturing(config, Credentials(api_key="k"), full_request())
    body = orjson.loads(sent.content)
    assert params_errors(body, MessageCreateParamsNonStreaming) == []
    assert {"system", "tools", "tool_choice", "output_config", "stop_sequences"} <= set(body)
    # The tool is required and the last turn is not its result: the model calls it.
    assert result.finish_reason == "tool_calls"


@pytest.mark.parametrize(
    ("mutate", "where"),
    [
        (lambda b: b.update(temperature=0.5), "$.temperature"),
        (lambda b: b["tools"][0].update(inputSchema={}), "$.tools[0]"),
        (lambda b: b["messages"][0]["content"][1]["source"].update(mediaType="image/png"),
         "$.messages[0].content[1]"),
        (lambda b: b["messages"][1]["content"][1].update(arguments={}), "$.messages[1].content[1]"),
        (lambda b: b.update(tool_choice={"type": "required"}), "$.tool_choice"),
    ],
)  # fmt: skip
def test_the_params_walk_catches_invented_fields(
    mutate: Callable[[dict[str, Any]], None], where: str
) -> None:
    payload = orjson.loads(orjson.dumps(build_payload(full_request())))
    assert params_errors(payload, MessageCreateParamsNonStreaming) == []
    mutate(payload)
    errors = params_errors(payload, MessageCreateParamsNonStreaming)
    assert errors
    assert all(e.startswith(where) for e in errors), errors


async def post(
    http: httpx.AsyncClient, emulator: RunningEmulator, body: dict[str, Any]
) -> httpx.Response:
    return await http.post(f"{emulator.base_url}/v1/messages", json=body, headers=AUTH)


async def test_text_reply_matches_sdk_types(
    start_emulator: StartEmulator, http: httpx.AsyncClient
) -> None:
    emulator = await start_emulator()
    response = await post(http, emulator, BODY)
    assert response.status_code == 200
    assert response.headers["request-id"].startswith("req_")
    data = response.json()
    message = Message.model_validate(data)
    assert message.id.startswith("msg_")
    assert (message.type, message.role, message.stop_reason) == ("message", "assistant", "end_turn")
    assert message.content[0].type == "text"
    assert model_errors(data, Message) == []


async def test_tool_use_and_cache_reads_match_sdk_types(
    start_emulator: StartEmulator, http: httpx.AsyncClient
) -> None:
    emulator = await start_emulator()
    body = {
        **BODY,
        "messages": [{"role": "user", "content": "word " * 1200 + "call get_weather"}],
        "tools": [WEATHER_TOOL],
    }
    await post(http, emulator, body)
    data = (await post(http, emulator, body)).json()
    assert model_errors(data, Message) == []
    message = Message.model_validate(data)
    assert message.stop_reason == "tool_use"
    block = message.content[0]
    assert isinstance(block, ToolUseBlock)
    assert (block.name, block.input) == ("get_weather", {"city": "example"})
    assert block.id.startswith("toolu_")
    usage = message.usage
    assert usage.cache_read_input_tokens is not None and usage.cache_read_input_tokens > 0
    # input_tokens excludes what was read from the cache, as Anthropic reports it.
    assert usage.input_tokens + usage.cache_read_input_tokens == sum(
        len(t) // 4 + 1 for t in ["be brief", body["messages"][0]["content"]]
    )


async def test_refusal_matches_sdk_types(
    start_emulator: StartEmulator, http: httpx.AsyncClient
) -> None:
    emulator = await start_emulator(faulty(content_filter_rate=1.0))
    data = (await post(http, emulator, BODY)).json()
    assert model_errors(data, Message) == []
    message = Message.model_validate(data)
    assert message.stop_reason == "refusal"
    assert message.stop_details is not None and message.stop_details.type == "refusal"


async def test_official_sdk_round_trip(start_emulator: StartEmulator) -> None:
    emulator = await start_emulator()
    client = anthropic.AsyncAnthropic(base_url=emulator.base_url, api_key="test-key", max_retries=0)
    try:
        called = await client.messages.create(
            model="claude-emu",
            max_tokens=64,
            system="be brief",
            stop_sequences=["never-appears"],
            tools=[WEATHER_TOOL],
            tool_choice={"type": "any"},
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "hello"},
                        {"type": "image", "source": {"type": "url", "url": "https://x.test/a.png"}},
                    ],
                }
            ],
        )
        [use] = called.content
        assert isinstance(use, ToolUseBlock)
        answered = await client.messages.create(
            model="claude-emu",
            max_tokens=64,
            tools=[WEATHER_TOOL],
            messages=[
                {"role": "user", "content": "hello"},
                {"role": "assistant", "content": [use]},
                {
                    "role": "user",
                    "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "sun"}],
                },
            ],
        )
        assert answered.stop_reason == "end_turn"
        assert answered.content[0].type == "text"
    finally:
        await client.close()


async def test_official_sdk_reads_overload(start_emulator: StartEmulator) -> None:
    emulator = await start_emulator(faulty(error_rates={529: 1.0}))
    client = anthropic.AsyncAnthropic(base_url=emulator.base_url, api_key="test-key", max_retries=0)
    try:
        with pytest.raises(anthropic.APIStatusError) as caught:
            await client.messages.create(
                model="claude-emu", max_tokens=16, messages=[{"role": "user", "content": "hello"}]
            )
    finally:
        await client.close()
    assert caught.value.status_code == 529
    assert caught.value.request_id is not None
    body = caught.value.body
    assert isinstance(body, dict)
    assert body["error"]["type"] == "overloaded_error"


@pytest.mark.parametrize("status", FAULT_STATUSES)
async def test_error_bodies_match_sdk(
    start_emulator: StartEmulator, http: httpx.AsyncClient, status: int
) -> None:
    emulator = await start_emulator(faulty(error_rates={status: 1.0}))
    response = await post(http, emulator, BODY)
    assert response.status_code == status
    data = response.json()
    parsed = ErrorResponse.model_validate(data)
    assert parsed.request_id == response.headers["request-id"]
    assert model_errors(data, ErrorResponse) == []
    if status == 429:
        assert response.headers["retry-after"] == "1"


@pytest.mark.parametrize(
    "body",
    [
        {**BODY, "tools": [{**WEATHER_TOOL, "parameters": {}}]},
        {**BODY, "tool_choice": {"type": "any"}},
        {**BODY, "output_config": {"format": {"type": "json_object"}}},
        {**BODY, "messages": [{"role": "user", "content": [
            {"type": "image", "source": {"type": "base64", "media_type": "image/bmp", "data": "x"}}
        ]}]},
    ],
)  # fmt: skip
async def test_malformed_features_are_rejected(
    start_emulator: StartEmulator, http: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    emulator = await start_emulator()
    response = await post(http, emulator, body)
    assert response.status_code == 400
    assert ErrorResponse.model_validate(response.json()).error.type == "invalid_request_error"


def test_sdk_has_no_sampling_parameters() -> None:
    # Why temperature and top_p are outside the adapter's capabilities.
    fields = get_type_hints(MessageCreateParamsNonStreaming)
    assert "temperature" not in fields
    assert "top_p" not in fields
    assert "output_config" in fields


def test_model_walk_is_strict() -> None:
    # The SDK's models keep unknown keys, so validation alone would pass this.
    data: dict[str, Any] = {
        "id": "m",
        "type": "message",
        "role": "assistant",
        "model": "x",
        "content": [],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 1, "output_tokens": 1, "cached_tokens": 1},
    }
    Message.model_validate(data)
    assert model_errors(data, Message) == ["$.usage.cached_tokens: not a field of Usage"]
