from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import httpx
import orjson
import pytest

from adapters.anthropic.adapter import API_VERSION, AnthropicAdapter
from adapters.anthropic.payload import DEFAULT_MAX_TOKENS, build_payload
from adapters.base import ChatAdapter
from adapters.capabilities import check_supported
from adapters.credentials import Credentials
from adapters.errors import (
    AuthenticationFailed,
    ContentFiltered,
    ContextWindowExceeded,
    InvalidRequest,
    MalformedResponse,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
    UnsupportedFeature,
)
from emulator.generate import estimate_tokens, generate_reply
from schemas.chat import ImagePart, ResponseFormat, TextPart, ToolCall, ToolSpec
from schemas.events import ChatMessage, GenerationParams
from schemas.providers import AnthropicProvider
from tests.adapters.helpers import (
    PNG,
    TIMEOUT_S,
    AdapterFor,
    Chat,
    Handler,
    ask,
    json_reply,
    mock_client,
    user,
)
from tests.emulated import WEATHER, StartEmulator, faulty

URL_IMAGE: dict[str, Any] = {"media_type": "image/jpeg", "url": "https://example.com/cat.jpg"}
# For adapters that only declare capabilities and are never called.
UNUSED = AnthropicProvider(format="anthropic", base_url="http://unused")


conversation = partial(ask, model="claude-emu")


async def test_success_maps_content_tokens_and_ids(
    start_emulator: StartEmulator, adapter_for: AdapterFor, chat: Chat
) -> None:
    emulator = await start_emulator()
    request = chat("tell me about the weather in Lisbon today", system="be brief")
    result = await adapter_for("anthropic", emulator).complete(request, timeout_s=TIMEOUT_S)

    # The adapter defaults max_tokens, which the emulator honours.
    expected = generate_reply(request.messages[-1].text, max_tokens=DEFAULT_MAX_TOKENS, stop=[])
    assert result.content == expected.text
    assert result.finish_reason == "stop"
    assert result.output_tokens == estimate_tokens(result.content)
    # The system prompt reached the emulator (as the top-level field) and was counted.
    assert result.input_tokens == estimate_tokens("be brief") + estimate_tokens(
        request.messages[-1].text
    )
    assert result.upstream_model == "model-a"
    assert result.provider_request_id is not None
    assert result.provider_request_id.startswith("req_")


async def test_max_tokens_maps_to_length(
    start_emulator: StartEmulator, adapter_for: AdapterFor, chat: Chat
) -> None:
    emulator = await start_emulator()
    result = await adapter_for("anthropic", emulator).complete(
        chat(max_tokens=2), timeout_s=TIMEOUT_S
    )
    assert result.finish_reason == "length"
    assert result.output_tokens == 2


async def test_stop_sequence_maps_to_stop(
    start_emulator: StartEmulator, adapter_for: AdapterFor, chat: Chat
) -> None:
    emulator = await start_emulator()
    result = await adapter_for("anthropic", emulator).complete(
        chat("tell me about the weather in Lisbon today", stop=["weather"]), timeout_s=TIMEOUT_S
    )
    assert result.content == "tell me about the "
    assert result.finish_reason == "stop"


async def test_rate_limit_reads_retry_after_seconds(
    start_emulator: StartEmulator, adapter_for: AdapterFor, chat: Chat
) -> None:
    emulator = await start_emulator(faulty(error_rates={429: 1.0}, retry_after_s=7))
    with pytest.raises(RateLimited) as caught:
        await adapter_for("anthropic", emulator).complete(chat(), timeout_s=TIMEOUT_S)
    assert caught.value.retry_after_s == 7.0
    assert caught.value.status_code == 429
    assert caught.value.provider_request_id is not None


@pytest.mark.parametrize("status", [500, 503, 529])
async def test_server_errors_and_overload_are_unavailable(
    start_emulator: StartEmulator, adapter_for: AdapterFor, chat: Chat, status: int
) -> None:
    emulator = await start_emulator(faulty(error_rates={status: 1.0}))
    with pytest.raises(ProviderUnavailable) as caught:
        await adapter_for("anthropic", emulator).complete(chat(), timeout_s=TIMEOUT_S)
    assert type(caught.value) is ProviderUnavailable
    assert caught.value.status_code == status
    assert caught.value.retryable


async def test_refusal_is_content_filtered(
    start_emulator: StartEmulator, adapter_for: AdapterFor, chat: Chat
) -> None:
    emulator = await start_emulator(faulty(content_filter_rate=1.0))
    with pytest.raises(ContentFiltered):
        await adapter_for("anthropic", emulator).complete(chat(), timeout_s=TIMEOUT_S)


def test_payload_hoists_system_and_defaults_max_tokens(chat: Chat) -> None:
    request = chat("hi", system="sys", stop=["END"])
    assert build_payload(request) == {
        "model": "model-a",
        "max_tokens": DEFAULT_MAX_TOKENS,
        "messages": [{"role": "user", "content": "hi"}],
        "system": "sys",
        "stop_sequences": ["END"],
    }
    assert build_payload(chat("hi", max_tokens=5)) == {
        "model": "model-a",
        "max_tokens": 5,
        "messages": [{"role": "user", "content": "hi"}],
    }


@pytest.mark.parametrize(
    ("params", "response_format", "missing"),
    [
        ({"temperature": 0.5}, None, "temperature"),
        ({"top_p": 0.9}, None, "top_p"),
        ({}, ResponseFormat(type="json_object"), "json_object"),
    ],
)
def test_what_the_api_lacks_is_refused_before_the_call(
    chat: Chat, params: dict[str, Any], response_format: ResponseFormat | None, missing: str
) -> None:
    adapter = AnthropicAdapter("a", UNUSED, httpx.AsyncClient(), Credentials(api_key="k"))
    request = chat("hi", **params).model_copy(update={"response_format": response_format})
    with pytest.raises(UnsupportedFeature, match=missing):
        check_supported(request, adapter.capabilities, "a")


def test_images_tools_and_schemas_are_supported(chat: Chat) -> None:
    adapter = AnthropicAdapter("a", UNUSED, httpx.AsyncClient(), Credentials(api_key="k"))
    request = conversation(
        ChatMessage(role="system", content="s"),
        user([ImagePart(media_type="image/png", data=PNG), ImagePart(**URL_IMAGE)]),
        tools=[WEATHER],
        tool_choice="required",
        params=GenerationParams(stop=["x"]),
        response_format=ResponseFormat(type="json_schema", json_schema={"type": "object"}),
    )
    check_supported(request, adapter.capabilities, "a")
    assert adapter.capabilities.reports_cached_tokens


def test_payload_maps_images_tools_and_results() -> None:
    first = ToolCall(id="toolu_1", name="get_weather", arguments={"city": "Lisbon"})
    second = ToolCall(id="call_2", name="get_time")
    request = conversation(
        user([TextPart(text="see"), ImagePart(media_type="image/png", data=PNG),
              ImagePart(**URL_IMAGE)]),
        ChatMessage(role="assistant", content="checking", tool_calls=[first, second]),
        ChatMessage(role="tool", tool_call_id="toolu_1", content="sunny"),
        ChatMessage(role="tool", tool_call_id="call_2", content=[TextPart(text="noon")]),
        user("thanks"),
        tools=[WEATHER, ToolSpec(name="get_time")],
        tool_choice="required",
        response_format=ResponseFormat(type="json_schema", json_schema={"type": "object"}),
    )  # fmt: skip
    payload = build_payload(request)
    assert payload["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "see"},
                {"type": "image",
                 "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
                {"type": "image", "source": {"type": "url", "url": URL_IMAGE["url"]}},
            ],
        },
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "checking"},
                {"type": "tool_use", "id": "toolu_1", "name": "get_weather",
                 "input": {"city": "Lisbon"}},
                {"type": "tool_use", "id": "call_2", "name": "get_time", "input": {}},
            ],
        },
        # Consecutive results share one user turn, after the multi-call turn.
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"},
                {"type": "tool_result", "tool_use_id": "call_2",
                 "content": [{"type": "text", "text": "noon"}]},
            ],
        },
        {"role": "user", "content": "thanks"},
    ]  # fmt: skip
    assert payload["tools"] == [
        {"name": "get_weather", "description": "current weather",
         "input_schema": WEATHER.parameters},
        {"name": "get_time", "input_schema": {"type": "object", "properties": {}}},
    ]  # fmt: skip
    assert payload["tool_choice"] == {"type": "any"}
    assert payload["output_config"] == {
        "format": {"type": "json_schema", "schema": {"type": "object"}}
    }
    assert build_payload(conversation(user("hi"), tools=[WEATHER], tool_choice="none"))[
        "tool_choice"
    ] == {"type": "none"}


async def test_tool_call_round_trip(start_emulator: StartEmulator, adapter_for: AdapterFor) -> None:
    emulator = await start_emulator()
    adapter = adapter_for("anthropic", emulator)
    ask = user("call get_weather for Lisbon")
    first = await adapter.complete(conversation(ask, tools=[WEATHER]), timeout_s=TIMEOUT_S)
    assert first.finish_reason == "tool_calls"
    [call] = first.tool_calls
    assert (call.name, call.arguments) == ("get_weather", {"city": "example"})
    assert call.id.startswith("toolu_")
    answered = conversation(
        ask,
        ChatMessage(role="assistant", tool_calls=[call]),
        ChatMessage(role="tool", tool_call_id=call.id, content="sunny, 24C"),
        tools=[WEATHER],
    )
    second = await adapter.complete(answered, timeout_s=TIMEOUT_S)
    assert (second.finish_reason, second.tool_calls) == ("stop", [])
    assert "sunny" in second.content


@pytest.mark.parametrize(("choice", "calls"), [("required", 1), ("none", 0), ("auto", 0)])
async def test_tool_choice_reaches_the_model(
    start_emulator: StartEmulator, adapter_for: AdapterFor, choice: str, calls: int
) -> None:
    emulator = await start_emulator()
    request = conversation(user("hello there"), tools=[WEATHER], tool_choice=choice)
    result = await adapter_for("anthropic", emulator).complete(request, timeout_s=TIMEOUT_S)
    assert len(result.tool_calls) == calls


async def test_json_schema_and_images_round_trip(
    start_emulator: StartEmulator, adapter_for: AdapterFor
) -> None:
    emulator = await start_emulator()
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    request = conversation(
        user([TextPart(text="count these"), ImagePart(media_type="image/png", data=PNG),
              ImagePart(**URL_IMAGE)]),
        response_format=ResponseFormat(type="json_schema", json_schema=schema),
    )  # fmt: skip
    result = await adapter_for("anthropic", emulator).complete(request, timeout_s=TIMEOUT_S)
    assert orjson.loads(result.content) == {"n": 1}


async def test_repeated_long_prompt_reports_cache_reads(
    start_emulator: StartEmulator, adapter_for: AdapterFor, chat: Chat
) -> None:
    emulator = await start_emulator()
    adapter = adapter_for("anthropic", emulator)
    request = chat("word " * 1200)
    first = await adapter.complete(request, timeout_s=TIMEOUT_S)
    second = await adapter.complete(request, timeout_s=TIMEOUT_S)
    assert first.cached_input_tokens == 0
    assert 0 < second.cached_input_tokens < second.input_tokens
    # Anthropic reports the cached part apart; our input_tokens puts it back.
    assert second.input_tokens == first.input_tokens


# Replies no emulator profile produces: other documented error types and shapes.


def mocked(handler: Handler) -> ChatAdapter:
    config = AnthropicProvider(
        format="anthropic", base_url="http://mock.test/", headers={"anthropic-beta": "flag-1"}
    )
    return AnthropicAdapter("mock", config, mock_client(handler), Credentials(api_key="k"))


def reply(status: int, body: object, headers: dict[str, str] | None = None) -> Handler:
    sent = {"x-api-key": "k", "anthropic-version": API_VERSION, "anthropic-beta": "flag-1"}
    return json_reply(status, body, headers, url="http://mock.test/v1/messages", sent_headers=sent)


def error_body(error_type: str, message: str = "nope") -> dict[str, object]:
    return {
        "type": "error",
        "error": {"type": error_type, "message": message},
        "request_id": "req_body",
    }


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (413, error_body("request_too_large"), ContextWindowExceeded),
        (
            400,
            error_body("invalid_request_error", "input length and `max_tokens` exceed context"),
            ContextWindowExceeded,
        ),
        (400, error_body("invalid_request_error", "messages: field required"), InvalidRequest),
        # The context-window phrase only counts on a 400 invalid_request_error.
        (500, error_body("api_error", "prompt is too long"), ProviderUnavailable),
        (403, error_body("permission_error"), AuthenticationFailed),
        (404, error_body("not_found_error"), InvalidRequest),
        (504, error_body("timeout_error"), ProviderTimeout),
        (503, b"upstream connect error", ProviderUnavailable),
        (200, b"{", MalformedResponse),
        (200, {"type": "message", "content": "text"}, MalformedResponse),
        (
            200,
            {
                "content": [{"type": "tool_use", "name": "f", "input": {}}],
                "usage": {"input_tokens": 1, "output_tokens": 1},
            },
            MalformedResponse,
        ),
    ],
)
async def test_error_translation(
    chat: Chat, status: int, body: object, expected: type[ProviderError]
) -> None:
    with pytest.raises(expected) as caught:
        await mocked(reply(status, body)).complete(chat(), timeout_s=TIMEOUT_S)
    assert type(caught.value) is expected
    assert caught.value.status_code == status


async def test_error_body_request_id_is_used_without_header(chat: Chat) -> None:
    with pytest.raises(RateLimited) as caught:
        await mocked(reply(429, error_body("rate_limit_error"))).complete(
            chat(), timeout_s=TIMEOUT_S
        )
    assert caught.value.provider_request_id == "req_body"
    assert caught.value.retry_after_s is None


async def test_text_blocks_concatenate_and_tool_use_maps(chat: Chat) -> None:
    body = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-x-20250101",
        "content": [
            {"type": "text", "text": "Let me "},
            {"type": "tool_use", "id": "t1", "name": "f", "input": {}},
            {"type": "text", "text": "check."},
        ],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {"input_tokens": 12, "output_tokens": 5},
    }
    result = await mocked(reply(200, body)).complete(chat(), timeout_s=TIMEOUT_S)
    assert result.content == "Let me check."
    assert result.finish_reason == "tool_calls"
    assert result.provider_request_id == "msg_1"
    assert result.upstream_model == "claude-x-20250101"


async def test_usage_sums_cache_reads_and_writes(chat: Chat) -> None:
    body = {
        "id": "msg_2",
        "content": [{"type": "text", "text": "hi"}],
        "stop_reason": "pause_turn",
        "usage": {
            "input_tokens": 10,
            "output_tokens": 3,
            "cache_creation_input_tokens": 200,
            "cache_read_input_tokens": 1000,
        },
    }
    result = await mocked(reply(200, body)).complete(chat(), timeout_s=TIMEOUT_S)
    assert (result.input_tokens, result.cached_input_tokens) == (1210, 1000)
    assert result.finish_reason == "other"
    nulls = {**body, "usage": {**body["usage"], "cache_creation_input_tokens": None,  # type: ignore[dict-item]
                               "cache_read_input_tokens": None}}  # fmt: skip
    result = await mocked(reply(200, nulls)).complete(chat(), timeout_s=TIMEOUT_S)
    assert (result.input_tokens, result.cached_input_tokens) == (10, 0)


async def test_refusal_details_reach_the_error(chat: Chat) -> None:
    body = {
        "id": "msg_3",
        "content": [],
        "stop_reason": "refusal",
        "stop_details": {"type": "refusal", "category": "cyber", "explanation": "exploit code"},
        "usage": {"input_tokens": 4, "output_tokens": 0},
    }
    with pytest.raises(ContentFiltered, match="category cyber: exploit code") as caught:
        await mocked(reply(200, body)).complete(chat(), timeout_s=TIMEOUT_S)
    assert caught.value.provider_request_id == "msg_3"


async def test_rate_limit_reset_headers_stand_in_for_retry_after(chat: Chat) -> None:
    soon = datetime.now(UTC) + timedelta(seconds=30)
    later = soon + timedelta(seconds=30)
    headers = {
        "anthropic-ratelimit-requests-remaining": "5",
        "anthropic-ratelimit-requests-reset": later.isoformat(),
        "anthropic-ratelimit-input-tokens-remaining": "0",
        "anthropic-ratelimit-input-tokens-reset": soon.isoformat().replace("+00:00", "Z"),
    }
    with pytest.raises(RateLimited) as caught:
        await mocked(reply(429, error_body("rate_limit_error"), headers)).complete(
            chat(), timeout_s=TIMEOUT_S
        )
    # The exhausted limit (input tokens) decides, not the one with requests left.
    assert caught.value.retry_after_s is not None
    assert 25 < caught.value.retry_after_s <= 30
    with pytest.raises(RateLimited) as both:
        await mocked(
            reply(429, error_body("rate_limit_error"), {**headers, "retry-after": "3"})
        ).complete(chat(), timeout_s=TIMEOUT_S)
    assert both.value.retry_after_s == 3.0
