"""Cohere Chat v2: our request bodies and the emulator's replies, checked against the
cohere SDK's own types, and the SDK itself run against the emulator."""

import typing
from typing import Any

import cohere
import httpx
import pytest
from cohere.types import (
    AssistantMessageResponse,
    ChatStreamEndEventFinishReason,
    ToolCallV2,
    ToolCallV2Function,
    Usage,
    UsageBilledUnits,
)
from cohere.v2.client import AsyncV2Client
from pydantic import BaseModel, HttpUrl

from adapters.base import ProviderRequest
from adapters.cohere import reply as cohere_reply
from adapters.cohere.payload import build_payload
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
from tests.emulated import FAULT_STATUSES, WEATHER, StartEmulator, faulty
from tests.emulator.sdk_fields import model_errors

AUTH = {"authorization": "Bearer test-key"}
# The SDK adds ``stream`` itself rather than taking it as a parameter.
_CHAT_PARAMS = {
    name: hint
    for name, hint in typing.get_type_hints(AsyncV2Client.chat, include_extras=True).items()
    if name not in {"return", "request_options"}
} | {"stream": bool}
SDK_ERRORS: dict[int, type[Exception]] = {
    429: cohere.TooManyRequestsError,
    500: cohere.InternalServerError,
    503: cohere.ServiceUnavailableError,
    504: cohere.GatewayTimeoutError,
}


def request_errors(payload: dict[str, Any]) -> list[str]:
    """Where a request body does not fit the SDK's ``chat`` parameters, at any depth."""
    errors = [f"$.{key}: not a chat parameter" for key in payload if key not in _CHAT_PARAMS]
    for key in ("model", "messages"):
        if key not in payload:
            errors.append(f"$.{key}: required")
    for key, value in payload.items():
        if key in _CHAT_PARAMS:
            errors += model_errors(value, _CHAT_PARAMS[key], f"$.{key}")
    return errors


def full_request(**overrides: Any) -> ProviderRequest:
    """One request using everything the Cohere adapter declares."""
    call = ToolCall(id="call_1", name="get_weather", arguments={"city": "Lisbon"})
    fields: dict[str, Any] = {
        "upstream_model": "command-emu",
        "messages": [
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
            ChatMessage(role="assistant", content="21C"),
        ],
        "params": GenerationParams(max_tokens=20, temperature=0.5, top_p=0.9, stop=["END"]),
        "tools": [WEATHER],
        "tool_choice": "required",
    }
    return ProviderRequest.model_validate(fields | overrides)


def test_full_request_fits_the_sdk_chat_parameters() -> None:
    payload = build_payload(full_request(), provider="cohere")
    assert request_errors(payload) == []
    json_payload = build_payload(
        full_request(
            tools=[],
            response_format=ResponseFormat(type="json_schema", json_schema={"type": "object"}),
        ),
        provider="cohere",
    )
    assert request_errors(json_payload) == []
    # The checker itself must notice a stray or misplaced field, at any depth.
    assert request_errors({**payload, "top_p": 0.5}) == ["$.top_p: not a chat parameter"]
    messages: Any = payload["messages"]
    messages[1]["content"][1]["image_url"]["uri"] = "x"
    messages[2]["tool_calls"][0]["function"]["arguments"] = {"city": "Lisbon"}
    errors = request_errors(payload)
    assert any("image_url.uri: not a field" in e for e in errors)
    assert any("function.arguments" in e for e in errors)


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (cohere_reply._Chat, cohere.V2ChatResponse),
        (cohere_reply._Message, AssistantMessageResponse),
        (cohere_reply._ToolCall, ToolCallV2),
        (cohere_reply._Function, ToolCallV2Function),
        (cohere_reply.Usage, Usage),
        (cohere_reply._Counts, UsageBilledUnits),
        (cohere_reply.Citation, cohere.Citation),
        (cohere_reply._Source, cohere.DocumentSource),
    ],
)
def test_fields_we_read_exist_in_the_sdk(ours: type[BaseModel], theirs: type[BaseModel]) -> None:
    extra = set(ours.model_fields) - set(theirs.model_fields)
    if ours is cohere_reply._Source:
        # A source is a document or a tool output; we read each kind's own field.
        extra -= set(cohere.ToolSource.model_fields)
    assert extra == set()


def test_finish_reasons_we_map_are_the_sdks() -> None:
    documented = set(typing.get_args(typing.get_args(cohere.ChatFinishReason)[0]))
    stream_end = set(typing.get_args(typing.get_args(ChatStreamEndEventFinishReason)[0]))
    assert set(cohere_reply._FINISH) <= documented | stream_end
    # ERROR_TOXIC is the SDK's name for a filtered reply (documented on stream end).
    assert "ERROR_TOXIC" in stream_end


def sdk_client(
    emulator: RunningEmulator, http: httpx.AsyncClient, api_key: str = "test-key"
) -> cohere.AsyncClientV2:
    # Our own httpx client, closed by the fixture; no retries, so faults surface at once.
    return cohere.AsyncClientV2(
        api_key=api_key, base_url=emulator.base_url, max_retries=0, httpx_client=http
    )


async def post(
    emulator: RunningEmulator, http: httpx.AsyncClient, body: dict[str, Any]
) -> httpx.Response:
    return await http.post(f"{emulator.base_url}/v2/chat", json=body, headers=AUTH)


@pytest.mark.parametrize(
    "request_",
    [
        full_request(),
        full_request(messages=[ChatMessage(role="user", content="call get_weather")]),
        full_request(
            messages=[ChatMessage(role="user", content="json please")],
            tools=[],
            response_format=ResponseFormat(
                type="json_schema",
                json_schema={"type": "object", "properties": {"n": {"type": "integer"}}},
            ),
        ),
    ],
    ids=["text", "tool_call", "json"],
)
async def test_replies_fit_the_sdk_response(
    start_emulator: StartEmulator, http: httpx.AsyncClient, request_: ProviderRequest
) -> None:
    emulator = await start_emulator()
    response = await post(emulator, http, build_payload(request_, provider="cohere"))
    assert response.status_code == 200, response.text
    assert response.headers["x-debug-trace-id"].startswith("req_")
    data = response.json()
    assert model_errors(data, cohere.V2ChatResponse) == []
    parsed = cohere.V2ChatResponse.model_validate(data)
    assert parsed.usage is not None and parsed.usage.billed_units is not None
    assert parsed.usage.billed_units.input_tokens
    assert parsed.finish_reason in {"COMPLETE", "MAX_TOKENS", "TOOL_CALL"}


async def test_cached_tokens_are_reported_on_a_repeat(
    start_emulator: StartEmulator, http: httpx.AsyncClient
) -> None:
    emulator = await start_emulator()
    body = {"model": "command-emu", "messages": [{"role": "user", "content": "word " * 6000}]}
    first = (await post(emulator, http, body)).json()
    second = (await post(emulator, http, body)).json()
    assert "cached_tokens" not in first["usage"]
    usage = cohere.Usage.model_validate(second["usage"])
    assert usage.cached_tokens and usage.billed_units and usage.billed_units.input_tokens
    assert 0 < usage.cached_tokens <= usage.billed_units.input_tokens
    assert model_errors(second, cohere.V2ChatResponse) == []


@pytest.mark.parametrize(
    "body",
    [
        {"model": "m", "messages": [{"role": "user", "content": "hi"}], "top_p": 0.5},
        {"model": "m", "messages": [{"role": "developer", "content": "hi"}]},
        {"model": "m", "messages": [{"role": "user", "content": "hi"}], "tool_choice": "AUTO"},
        {"model": "m", "messages": [{"role": "user", "content": "hi"}], "p": 1.0},
        {
            "model": "m",
            "messages": [{"role": "assistant", "tool_calls": [{"id": "c", "function": {
                "name": "f", "arguments": {}}}]}],
        },
    ],
    ids=["openai_name", "role", "tool_choice_auto", "p_range", "object_arguments"],
)  # fmt: skip
async def test_requests_outside_the_format_are_bad_requests(
    start_emulator: StartEmulator, http: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    emulator = await start_emulator()
    response = await post(emulator, http, body)
    assert response.status_code == 400
    assert set(response.json()) == {"message"}


@pytest.mark.parametrize("status", FAULT_STATUSES)
async def test_error_bodies_and_sdk_error_classes(
    start_emulator: StartEmulator, http: httpx.AsyncClient, status: int
) -> None:
    emulator = await start_emulator(faulty(error_rates={status: 1.0}))
    body = {"model": "command-emu", "messages": [{"role": "user", "content": "hi"}]}
    response = await post(emulator, http, body)
    assert response.status_code == status
    assert set(response.json()) == {"message"}
    if status == 429:
        assert response.headers["retry-after"] == "1"
        assert response.headers["x-ratelimit-reset"] == "1"
    client = sdk_client(emulator, http)
    with pytest.raises(cohere.core.ApiError) as caught:
        await client.chat(model="command-emu", messages=[cohere.UserChatMessageV2(content="hi")])
    assert caught.value.status_code == status
    assert caught.value.body == response.json()
    if status in SDK_ERRORS:
        assert type(caught.value) is SDK_ERRORS[status]


async def test_official_sdk_round_trip(
    start_emulator: StartEmulator, http: httpx.AsyncClient
) -> None:
    emulator = await start_emulator()
    client = sdk_client(emulator, http)
    reply = await client.chat(
        model="command-emu",
        messages=[
            cohere.SystemChatMessageV2(content="be brief"),
            cohere.UserChatMessageV2(content="what is the weather, use get_weather"),
        ],
        tools=[
            cohere.ToolV2(
                function=cohere.ToolV2Function(
                    name="get_weather",
                    parameters={"type": "object", "properties": {"city": {"type": "string"}}},
                )
            )
        ],
        max_tokens=16,
        stop_sequences=["never-appears"],
    )
    assert reply.finish_reason == "TOOL_CALL"
    assert reply.message.tool_calls is not None
    function = reply.message.tool_calls[0].function
    assert function is not None and function.name == "get_weather"
    assert function.arguments == '{"city":"example"}'
    no_key = sdk_client(emulator, http, api_key="")
    with pytest.raises(cohere.UnauthorizedError):
        await no_key.chat(model="command-emu", messages=[cohere.UserChatMessageV2(content="hi")])
    tiny = await start_emulator(EmulatorConfig(models={"tiny": FaultProfile(context_window=5)}))
    client = sdk_client(tiny, http)
    with pytest.raises(cohere.BadRequestError) as caught:
        await client.chat(model="tiny", messages=[cohere.UserChatMessageV2(content="word " * 30)])
    assert caught.value.body["message"].startswith("too many tokens:")
