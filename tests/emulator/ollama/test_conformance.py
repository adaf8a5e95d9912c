"""Ollama /api/chat: our request bodies and the emulator's replies, checked against the
ollama package's own types, and its client run against the emulator."""

from typing import Any

import httpx
import ollama
import pytest
from ollama._types import ChatRequest, ChatResponse, Image, Message
from pydantic import BaseModel

from adapters.base import ProviderRequest
from adapters.ollama import reply as ollama_reply
from adapters.ollama.payload import build_payload
from emulator.profile import EmulatorConfig, FaultProfile
from emulator.server import RunningEmulator
from schemas.chat import (
    ChatMessage,
    GenerationParams,
    ImagePart,
    ResponseFormat,
    TextPart,
    ToolCall,
    ToolSpec,
)
from tests.emulated import FAULT_STATUSES, StartEmulator, faulty
from tests.emulator.sdk_fields import model_errors

# Ollama's own tool schema: per property only type, items, description and enum.
WEATHER = ToolSpec(
    name="get_weather",
    description="current weather",
    parameters={
        "type": "object",
        "properties": {"city": {"type": "string", "description": "a city name"}},
        "required": ["city"],
    },
)
# The package sends images as base64 strings; its Image model only wraps one.
OPAQUE = (Image,)


def full_request(**overrides: Any) -> ProviderRequest:
    """One request using everything the Ollama adapter declares."""
    call = ToolCall(id="call_1", name="get_weather", arguments={"city": "Lisbon"})
    fields: dict[str, Any] = {
        "upstream_model": "llama-emu",
        "messages": [
            ChatMessage(role="system", content="be brief"),
            ChatMessage(
                role="user",
                content=[
                    TextPart(text="weather where this was taken?"),
                    ImagePart(media_type="image/png", data="iVBORw0KGgo="),
                ],
            ),
            ChatMessage(role="assistant", content="checking", tool_calls=[call]),
            ChatMessage(role="tool", tool_call_id="call_1", content='{"temp_c": 21}'),
        ],
        "params": GenerationParams(max_tokens=20, temperature=0.5, top_p=0.9, stop=["END"]),
        "tools": [WEATHER],
        "response_format": ResponseFormat(
            type="json_schema", json_schema={"type": "object", "properties": {}}
        ),
    }
    return ProviderRequest.model_validate(fields | overrides)


def test_full_request_fits_the_package_chat_request() -> None:
    payload = build_payload(full_request(), provider="ollama")
    assert model_errors(payload, ChatRequest, opaque=OPAQUE) == []
    ChatRequest.model_validate(payload)
    assert payload["messages"][3]["tool_name"] == "get_weather"  # type: ignore[index]
    # The checker itself must notice a stray or misplaced field, at any depth.
    bad: Any = build_payload(full_request(), provider="ollama")
    bad["options"]["max_tokens"] = 5
    bad["messages"][2]["tool_calls"][0]["id"] = "call_1"
    bad["tools"][0]["function"]["parameters"]["properties"]["city"]["minimum"] = 1
    errors = model_errors(bad, ChatRequest, opaque=OPAQUE)
    assert errors == [
        "$.messages[2].tool_calls[0].id: not a field of ToolCall",
        "$.tools[0].function.parameters.properties.city.minimum: not a field of Property",
        "$.options.max_tokens: not a field of Options",
    ]


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (ollama_reply.Chat, ChatResponse),
        (ollama_reply._Message, Message),
        (ollama_reply._ToolCall, Message.ToolCall),
        (ollama_reply._Function, Message.ToolCall.Function),
    ],
)
def test_fields_we_read_exist_in_the_package(
    ours: type[BaseModel], theirs: type[BaseModel]
) -> None:
    assert set(ours.model_fields) <= set(theirs.model_fields)


async def post(
    emulator: RunningEmulator, http: httpx.AsyncClient, body: dict[str, Any]
) -> httpx.Response:
    return await http.post(f"{emulator.base_url}/api/chat", json=body)


@pytest.mark.parametrize(
    "request_",
    [
        full_request(response_format=None),
        full_request(messages=[ChatMessage(role="user", content="call get_weather")]),
        full_request(messages=[ChatMessage(role="user", content="json please")], tools=[]),
    ],
    ids=["text", "tool_call", "json"],
)
async def test_replies_fit_the_package_response(
    start_emulator: StartEmulator, http: httpx.AsyncClient, request_: ProviderRequest
) -> None:
    emulator = await start_emulator()
    response = await post(emulator, http, build_payload(request_, provider="ollama"))
    assert response.status_code == 200, response.text
    data = response.json()
    assert model_errors(data, ChatResponse) == []
    parsed = ChatResponse.model_validate(data)
    assert parsed.done is True
    assert parsed.done_reason in {"stop", "length"}
    assert parsed.prompt_eval_count and parsed.eval_count is not None
    assert parsed.model == "llama-emu"


HI = [{"role": "user", "content": "hi"}]
SAY_F = [{"role": "assistant", "content": "", "tool_calls": [
    {"function": {"name": "f", "arguments": "{}"}}]}]  # fmt: skip


@pytest.mark.parametrize(
    "body",
    [
        {"model": "m", "messages": HI, "stream": False, "max_tokens": 5},
        {"model": "m", "messages": HI, "stream": "no"},
        {"model": "m", "messages": [{**HI[0], "images": ["%%"]}], "stream": False},
        {"model": "m", "messages": SAY_F, "stream": False},
        {"model": "m", "messages": HI, "stream": False, "format": "yaml"},
    ],
    ids=["openai_name", "stream_not_bool", "image_not_base64", "string_arguments", "format"],
)
async def test_requests_outside_the_format_are_bad_requests(
    start_emulator: StartEmulator, http: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    emulator = await start_emulator()
    response = await post(emulator, http, body)
    assert response.status_code == 400
    assert set(response.json()) == {"error"}


@pytest.mark.parametrize("status", FAULT_STATUSES)
async def test_error_bodies_reach_the_package_as_response_errors(
    start_emulator: StartEmulator, http: httpx.AsyncClient, status: int
) -> None:
    emulator = await start_emulator(faulty(error_rates={status: 1.0}))
    body = {"model": "llama-emu", "messages": [{"role": "user", "content": "hi"}], "stream": False}
    response = await post(emulator, http, body)
    assert response.status_code == status
    data = response.json()
    assert set(data) == {"error"} and isinstance(data["error"], str)
    if status == 429:
        assert response.headers["retry-after"] == "1"
    async with ollama.AsyncClient(host=emulator.base_url) as client:
        with pytest.raises(ollama.ResponseError) as caught:
            await client.chat(model="llama-emu", messages=[{"role": "user", "content": "hi"}])
    assert caught.value.status_code == status
    assert caught.value.error == data["error"]


async def test_official_client_round_trip(start_emulator: StartEmulator) -> None:
    emulator = await start_emulator()
    async with ollama.AsyncClient(host=emulator.base_url) as client:
        reply = await client.chat(
            model="llama-emu",
            messages=[{"role": "user", "content": "what is the weather, use get_weather"}],
            tools=[{"type": "function", "function": WEATHER.model_dump()}],
            options={"num_predict": 16, "stop": ["never-appears"]},
        )
        assert reply.message.tool_calls
        assert reply.message.tool_calls[0].function.name == "get_weather"
        assert reply.message.tool_calls[0].function.arguments == {"city": "example"}
        json_reply = await client.chat(
            model="llama-emu", messages=[{"role": "user", "content": "a number"}], format="json"
        )
        assert json_reply.message.content.startswith('{"answer":')
    tiny = await start_emulator(EmulatorConfig(models={"tiny": FaultProfile(context_window=5)}))
    async with ollama.AsyncClient(host=tiny.base_url) as client:
        with pytest.raises(ollama.ResponseError) as caught:
            await client.chat(model="tiny", messages=[{"role": "user", "content": "word " * 30}])
    assert caught.value.status_code == 400
    assert caught.value.error.startswith("prompt too long; exceeded max context length by")
