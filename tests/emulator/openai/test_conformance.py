"""The OpenAI family checked against the vendors' own SDKs: the emulator's replies (all
three dialects) and our adapter's requests, recursively, field by field."""

from typing import Any

import httpx
import openai
import orjson
import pytest
from mistralai.client.models import ChatCompletionRequest as MistralRequest
from mistralai.client.models import ChatCompletionResponse as MistralResponse
from openai.types.chat import ChatCompletion, ChatCompletionMessage
from openai.types.chat.chat_completion import Choice
from openai.types.chat.chat_completion_message_function_tool_call import (
    ChatCompletionMessageFunctionToolCall,
    Function,
)
from openai.types.chat.completion_create_params import CompletionCreateParamsNonStreaming
from openai.types.completion_usage import CompletionUsage, PromptTokensDetails
from openai.types.shared import ErrorObject
from pydantic import BaseModel, HttpUrl

# The SDKs declare their TypedDicts with typing_extensions, which typing's helpers
# do not recognise on Python 3.11.
from adapters.base import ProviderRequest
from adapters.openai import reply as openai_reply
from adapters.openai.payload import build_payload
from adapters.openai.presets import PRESETS
from emulator.profile import EmulatorConfig, FaultProfile
from emulator.server import RunningEmulator
from schemas.chat import (
    ChatMessage,
    GenerationParams,
    ImagePart,
    ResponseFormat,
    TextPart,
    ToolCall,
)
from tests.emulated import WEATHER, StartEmulator, faulty
from tests.emulator.sdk_fields import params_errors

AUTH = {"authorization": "Bearer test-key"}
BODY: dict[str, Any] = {
    "model": "gpt-emu",
    "messages": [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "what is the capital of Portugal"},
    ],
    "max_tokens": 50,
}
AZURE_PATH = "/openai/deployments/gpt-emu/chat/completions"
FAULT_STATUSES = [413, 429, 500, 502, 503, 504, 529]
# Perplexity's additions to the OpenAI shape; the openai SDK does not know them.
PERPLEXITY_EXTRAS = {"citations", "search_results"}


def unknown_fields(model: BaseModel, path: str = "$") -> list[str]:
    """Fields the SDK kept as extras anywhere in a parsed response: its models allow
    extras, so validation alone would miss a misspelt or invented field."""
    found = [f"{path}.{name}" for name in model.model_extra or {}]
    for name in type(model).model_fields:
        found += _unknown_in(getattr(model, name), f"{path}.{name}")
    return found


def _unknown_in(value: object, path: str) -> list[str]:
    if isinstance(value, BaseModel):
        return unknown_fields(value, path)
    if isinstance(value, list):
        return [f for i, v in enumerate(value) for f in _unknown_in(v, f"{path}[{i}]")]
    return []


def full_request() -> ProviderRequest:
    """One request using everything the OpenAI preset declares."""
    call = ToolCall(id="call_1", name="get_weather", arguments={"city": "Lisbon"})
    return ProviderRequest(
        upstream_model="gpt-emu",
        messages=[
            ChatMessage(role="system", content="be brief"),
            ChatMessage(
                role="user",
                content=[
                    TextPart(text="weather where this was taken?"),
                    ImagePart(media_type="image/png", data="iVBORw0KGgo="),
                    ImagePart(media_type="image/jpeg", url=HttpUrl("https://example.org/a.jpg")),
                ],
            ),
            ChatMessage(role="assistant", content="checking", tool_calls=[call]),
            ChatMessage(role="tool", tool_call_id="call_1", content='{"temp_c": 21}'),
        ],
        params=GenerationParams(max_tokens=20, temperature=0.5, top_p=0.9, stop=["END"]),
        tools=[WEATHER],
        tool_choice="required",
        response_format=ResponseFormat(
            type="json_schema", json_schema={"type": "object", "properties": {}}
        ),
    )


def test_full_request_fits_the_openai_sdk_params() -> None:
    payload = build_payload(full_request(), PRESETS["openai"])
    assert params_errors(payload, CompletionCreateParamsNonStreaming) == []
    # The checker itself must notice a stray field, at any depth.
    assert params_errors({**payload, "max_tokenz": 1}, CompletionCreateParamsNonStreaming)
    without_model = {k: v for k, v in payload.items() if k != "model"}
    assert params_errors(without_model, CompletionCreateParamsNonStreaming)
    bad = orjson.loads(orjson.dumps(payload))
    bad["messages"][1]["content"][1]["image_url"]["uri"] = "x"
    assert params_errors(bad, CompletionCreateParamsNonStreaming)


def key_paths(value: object, path: str = "$") -> set[str]:
    if isinstance(value, dict):
        return {p for k, v in value.items() for p in {f"{path}.{k}"} | key_paths(v, f"{path}.{k}")}
    if isinstance(value, list):
        return {p for i, v in enumerate(value) for p in key_paths(v, f"{path}[{i}]")}
    return set()


def test_mistral_request_fits_the_mistral_sdk() -> None:
    payload = build_payload(full_request(), PRESETS["mistral"])
    parsed = MistralRequest.model_validate(payload)
    # Mistral's models drop unknown keys, so a key lost in the round trip is one the
    # SDK does not know.
    round_trip = parsed.model_dump(by_alias=True, mode="json")
    assert key_paths(payload) - key_paths(round_trip) == set()
    assert key_paths({**payload, "seed": 1}) - key_paths(round_trip) == {"$.seed"}


@pytest.mark.parametrize(
    ("ours", "theirs", "vendor_only"),
    [
        (openai_reply._Completion, ChatCompletion, PERPLEXITY_EXTRAS),
        (openai_reply._Choice, Choice, set()),
        (openai_reply._Message, ChatCompletionMessage, set()),
        (openai_reply._ToolCall, ChatCompletionMessageFunctionToolCall, set()),
        (openai_reply._Function, Function, set()),
        # DeepSeek's name for cache hits.
        (openai_reply._Usage, CompletionUsage, {"prompt_cache_hit_tokens"}),
        (openai_reply._PromptDetails, PromptTokensDetails, set()),
    ],
)
def test_fields_we_read_exist_in_the_sdk(
    ours: type[BaseModel], theirs: type[BaseModel], vendor_only: set[str]
) -> None:
    assert set(ours.model_fields) - vendor_only <= set(theirs.model_fields)


def test_fields_we_read_exist_for_mistral() -> None:
    assert {"id", "model", "choices", "usage"} <= set(MistralResponse.model_fields)


async def post(
    emulator: RunningEmulator, path: str, body: dict[str, Any], headers: dict[str, str]
) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.post(f"{emulator.base_url}{path}", json=body, headers=headers)


@pytest.mark.parametrize(
    ("path", "headers", "extras"),
    [
        ("/v1/chat/completions", AUTH, set()),
        (f"{AZURE_PATH}?api-version=2024-10-21", {"api-key": "k"}, set()),
        ("/chat/completions", AUTH, PERPLEXITY_EXTRAS),
    ],
)
async def test_completions_match_sdk_types(
    start_emulator: StartEmulator, path: str, headers: dict[str, str], extras: set[str]
) -> None:
    emulator = await start_emulator()
    response = await post(emulator, path, BODY, headers)
    assert response.status_code == 200
    data = response.json()
    completion = ChatCompletion.model_validate(data)
    assert completion.id.startswith("chatcmpl-")
    assert completion.model == "gpt-emu"
    assert completion.choices[0].message.content
    assert completion.usage is not None
    assert completion.usage.total_tokens == (
        completion.usage.prompt_tokens + completion.usage.completion_tokens
    )
    assert unknown_fields(completion) == [f"$.{name}" for name in sorted(extras)]
    MistralResponse.model_validate(data)


async def test_tool_call_reply_matches_sdk_types(start_emulator: StartEmulator) -> None:
    emulator = await start_emulator()
    payload = build_payload(
        ProviderRequest(
            upstream_model="gpt-emu",
            messages=[ChatMessage(role="user", content="use get_weather")],
            tools=[WEATHER],
        )
    )
    response = await post(emulator, "/v1/chat/completions", payload, AUTH)
    completion = ChatCompletion.model_validate(response.json())
    assert unknown_fields(completion) == []
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    [call] = choice.message.tool_calls or []
    assert isinstance(call, ChatCompletionMessageFunctionToolCall)
    assert orjson.loads(call.function.arguments) == {"city": "example"}


async def test_official_sdk_round_trip_with_tools_and_json(start_emulator: StartEmulator) -> None:
    emulator = await start_emulator(EmulatorConfig(models={"tiny": FaultProfile(context_window=5)}))
    client = openai.AsyncOpenAI(
        base_url=f"{emulator.base_url}/v1", api_key="test-key", max_retries=0
    )
    try:
        first = await client.chat.completions.create(
            model="gpt-emu",
            messages=[{"role": "user", "content": "what is the weather?"}],
            tools=[{"type": "function", "function": {"name": "get_weather", "parameters": {}}}],
            tool_choice="required",
        )
        [call] = first.choices[0].message.tool_calls or []
        assert isinstance(call, ChatCompletionMessageFunctionToolCall)
        second = await client.chat.completions.create(
            model="gpt-emu",
            messages=[
                {"role": "user", "content": "what is the weather?"},
                {
                    "role": "assistant",
                    "tool_calls": [
                        {
                            "id": call.id,
                            "type": "function",
                            "function": {
                                "name": call.function.name,
                                "arguments": call.function.arguments,
                            },
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": call.id, "content": "sunny"},
            ],
            tools=[{"type": "function", "function": {"name": "get_weather", "parameters": {}}}],
            response_format={"type": "json_object"},
        )
        # A tool result is answered, in the JSON asked for, not with another call.
        assert second.choices[0].finish_reason == "stop"
        assert set(orjson.loads(second.choices[0].message.content or "")) == {"answer"}
        limited = await client.chat.completions.create(
            model="gpt-emu",
            messages=[{"role": "user", "content": "name three rivers"}],
            max_completion_tokens=4,
        )
        assert limited.choices[0].finish_reason == "length"
        with pytest.raises(openai.BadRequestError) as caught:
            await client.chat.completions.create(
                model="tiny", messages=[{"role": "user", "content": "word " * 30}]
            )
        assert caught.value.code == "context_length_exceeded"
        assert caught.value.param == "messages"
    finally:
        await client.close()


async def test_official_azure_sdk_reaches_the_azure_route(start_emulator: StartEmulator) -> None:
    emulator = await start_emulator()
    client = openai.AsyncAzureOpenAI(
        azure_endpoint=emulator.base_url, api_version="2024-10-21", api_key="k", max_retries=0
    )
    try:
        raw = await client.chat.completions.with_raw_response.create(
            model="my-deployment", messages=[{"role": "user", "content": "hello"}]
        )
        completion = raw.parse()
        assert completion.model == "my-deployment"
        assert raw.headers["apim-request-id"].startswith("req_")
    finally:
        await client.close()


@pytest.mark.parametrize(
    ("path", "headers", "status"),
    [
        ("/v1/chat/completions", {}, 401),
        (f"{AZURE_PATH}?api-version=2024-10-21", AUTH, 401),
        (AZURE_PATH, {"api-key": "k"}, 404),
    ],
)
async def test_auth_and_query_rejections(
    start_emulator: StartEmulator, path: str, headers: dict[str, str], status: int
) -> None:
    emulator = await start_emulator()
    response = await post(emulator, path, BODY, headers)
    assert response.status_code == status
    ErrorObject.model_validate(response.json()["error"])


@pytest.mark.parametrize(
    ("path", "change"),
    [
        ("/v1/chat/completions", {"max_tokenz": 5}),
        ("/v1/chat/completions", {"tool_choice": "required"}),  # no tools given
        ("/v1/chat/completions", {"response_format": {"type": "json_schema"}}),
        ("/v1/chat/completions", {"messages": [{"role": "tool", "content": "x"}]}),
        ("/v1/chat/completions", {"messages": [{"role": "assistant", "tool_calls": [
            {"id": "c", "type": "function", "function": {"name": "f", "arguments": {}}}]}]}),
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "ftp://x"}}]}]}),
        ("/v1/chat/completions", {"messages": [{"role": "system", "content": [
            {"type": "image_url", "image_url": {"url": "https://x/y.png"}}]}]}),
        ("/chat/completions", {"tools": [{"type": "function",
                                                     "function": {"name": "f"}}]}),
    ],
)  # fmt: skip
async def test_invalid_requests_use_openai_error_shape(
    start_emulator: StartEmulator, path: str, change: dict[str, Any]
) -> None:
    emulator = await start_emulator()
    response = await post(emulator, path, {**BODY, **change}, AUTH)
    assert response.status_code == 400
    error = ErrorObject.model_validate(response.json()["error"])
    assert error.type == "invalid_request_error"
    assert error.param


@pytest.mark.parametrize("status", FAULT_STATUSES)
async def test_error_bodies_match_sdk(start_emulator: StartEmulator, status: int) -> None:
    emulator = await start_emulator(faulty(error_rates={status: 1.0}) if status != 413 else None)
    # 413 is not an injectable fault: a body over the server's limit provokes it.
    oversized = [{"role": "user", "content": "x" * 33 * 1024 * 1024}]
    body = {**BODY, "messages": oversized} if status == 413 else BODY
    response = await post(emulator, "/v1/chat/completions", body, AUTH)
    assert response.status_code == status
    data = response.json()
    assert set(data) == {"error"}
    assert unknown_fields(ErrorObject.model_validate(data["error"])) == []
    if status == 429:
        assert response.headers["retry-after"] == "1"
        assert response.headers["retry-after-ms"] == "1000"
