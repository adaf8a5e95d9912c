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
from tests.emulated import WEATHER, StartEmulator

URL_IMAGE: dict[str, Any] = {"media_type": "image/jpeg", "url": "https://example.com/cat.jpg"}
# For adapters that only declare capabilities and are never called.
UNUSED = AnthropicProvider(format="anthropic", base_url="http://unused")


conversation = partial(ask, model="claude-emu")


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
