import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from adapters.base import ChatAdapter, ProviderRequest
from adapters.credentials import Credentials
from adapters.errors import (
    AuthenticationFailed,
    ContentFiltered,
    ContextWindowExceeded,
    InvalidRequest,
    MalformedResponse,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
)
from adapters.openai.adapter import OpenAIAdapter
from adapters.openai.errors import parse_duration_s
from adapters.openai.payload import build_payload
from schemas.chat import ChatMessage, ResponseFormat, ToolCall, ToolSpec
from schemas.providers import OpenAIPreset, OpenAIProvider
from tests.adapters.helpers import (
    TIMEOUT_S,
    AdapterFor,
    Chat,
    Handler,
    json_reply,
    mock_client,
)
from tests.emulated import StartEmulator


@pytest.fixture
def closed_port() -> Iterator[int]:
    # Bound but not listening: connecting is refused for as long as we hold it.
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    yield sock.getsockname()[1]
    sock.close()


async def test_refused_connection(
    http_client: httpx.AsyncClient, chat: Chat, closed_port: int
) -> None:
    config = OpenAIProvider(format="openai", base_url=f"http://127.0.0.1:{closed_port}/v1")
    adapter = OpenAIAdapter("p", config, http_client, Credentials(api_key="k"))
    with pytest.raises(ProviderConnectionError) as caught:
        await adapter.complete(chat(), timeout_s=TIMEOUT_S)
    assert isinstance(caught.value, ProviderUnavailable)
    assert caught.value.retryable


def test_payload_sends_only_set_params(chat: Chat) -> None:
    request = chat("hi", system="sys", max_tokens=7, temperature=0.2, stop=["x"])
    assert build_payload(request) == {
        "model": "model-a",
        "messages": [{"role": "system", "content": "sys"}, {"role": "user", "content": "hi"}],
        "max_completion_tokens": 7,
        "temperature": 0.2,
        "stop": ["x"],
    }
    assert set(build_payload(chat("hi"))) == {"model", "messages"}


# Replies no emulator profile produces: vendor variants seen in the wild.


def mocked(handler: Handler, preset: OpenAIPreset = "openai") -> ChatAdapter:
    client = mock_client(handler)
    version = "2024-10-21" if preset == "azure" else None
    config = OpenAIProvider(
        format="openai", preset=preset, base_url="http://mock.test/v1/", api_version=version
    )
    return OpenAIAdapter("mock", config, client, Credentials(api_key="k"))


def reply(status: int, body: object, headers: dict[str, str] | None = None) -> Handler:
    url = "http://mock.test/v1/chat/completions"
    return json_reply(status, body, headers, url=url, sent_headers={"authorization": "Bearer k"})


def error_body(code: str | None, error_type: str = "invalid_request_error") -> dict[str, object]:
    return {"error": {"message": "nope", "type": error_type, "param": None, "code": code}}


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (400, error_body("content_filter"), ContentFiltered),
        (400, error_body("context_length_exceeded"), ContextWindowExceeded),
        (400, error_body("invalid_value"), InvalidRequest),
        (404, error_body("model_not_found"), InvalidRequest),
        (403, error_body(None, "permission_error"), AuthenticationFailed),
        (429, error_body("insufficient_quota", "insufficient_quota"), AuthenticationFailed),
        (408, error_body(None), ProviderTimeout),
        (502, b"<html>Bad Gateway</html>", ProviderUnavailable),
        (200, b"not json", MalformedResponse),
        (200, {"id": "x", "choices": []}, MalformedResponse),
        (307, b"", MalformedResponse),
    ],
)
async def test_error_translation(
    chat: Chat, status: int, body: object, expected: type[ProviderError]
) -> None:
    with pytest.raises(expected) as caught:
        await mocked(reply(status, body)).complete(chat(), timeout_s=TIMEOUT_S)
    assert type(caught.value) is expected
    assert caught.value.status_code == status


async def test_http_date_retry_after(chat: Chat) -> None:
    later = time.time() + 30
    date = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(later))
    handler = reply(429, error_body("rate_limit_exceeded", "requests"), {"retry-after": date})
    with pytest.raises(RateLimited) as caught:
        await mocked(handler).complete(chat(), timeout_s=TIMEOUT_S)
    assert caught.value.retry_after_s is not None
    assert 25 <= caught.value.retry_after_s <= 30


async def test_tool_calls_and_body_id_fallback(chat: Chat) -> None:
    body = {
        "id": "chatcmpl-abc",
        "model": "gpt-x-2025-01-01",
        "choices": [
            {"message": {"role": "assistant", "content": None}, "finish_reason": "tool_calls"}
        ],
        "usage": {"prompt_tokens": 4, "completion_tokens": 9},
    }
    result = await mocked(reply(200, body)).complete(chat(), timeout_s=TIMEOUT_S)
    assert result.content == ""
    assert result.finish_reason == "tool_calls"
    assert result.provider_request_id == "chatcmpl-abc"
    assert result.upstream_model == "gpt-x-2025-01-01"
    assert (result.input_tokens, result.output_tokens) == (4, 9)


# Tools, JSON output, images and cached tokens, end to end through the emulator.

WEATHER = ToolSpec(
    name="get_weather",
    description="current weather",
    parameters={
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 2}},
    },
)


def with_parts(request: ProviderRequest, **changes: Any) -> ProviderRequest:
    return request.model_copy(update=changes)


async def test_tool_call_then_tool_result(
    start_emulator: StartEmulator, adapter_for: AdapterFor, chat: Chat
) -> None:
    emulator = await start_emulator()
    adapter = adapter_for("openai", emulator)
    ask = with_parts(chat("use get_weather for Lisbon"), tools=[WEATHER])
    first = await adapter.complete(ask, timeout_s=TIMEOUT_S)
    assert first.finish_reason == "tool_calls"
    [call] = first.tool_calls
    assert (call.name, call.arguments) == ("get_weather", {"city": "example", "days": 2})
    assert call.id.startswith("call_")
    assert first.content == ""

    answer = [
        *ask.messages,
        ChatMessage(role="assistant", tool_calls=[call]),
        ChatMessage(role="tool", tool_call_id=call.id, content='{"temp_c": 21}'),
    ]
    second = await adapter.complete(with_parts(ask, messages=answer), timeout_s=TIMEOUT_S)
    # A tool result is answered in text, not with another call.
    assert second.finish_reason == "stop"
    assert second.tool_calls == []
    assert second.content


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        # json_object: tests/adapters/test_contract.py::test_json_object_output.
        (ResponseFormat(type="json_schema", json_schema=WEATHER.parameters), {"city", "days"}),
    ],
)
async def test_json_output(
    start_emulator: StartEmulator,
    adapter_for: AdapterFor,
    chat: Chat,
    fmt: ResponseFormat,
    expected: set[str],
) -> None:
    emulator = await start_emulator()
    request = with_parts(chat("weather as json"), response_format=fmt)
    result = await adapter_for("openai", emulator).complete(request, timeout_s=TIMEOUT_S)
    assert set(orjson.loads(result.content)) == expected
    assert result.finish_reason == "stop"


async def test_repeated_long_prompt_reports_cached_tokens(
    start_emulator: StartEmulator, adapter_for: AdapterFor, chat: Chat
) -> None:
    emulator = await start_emulator()
    adapter = adapter_for("openai", emulator)
    request = chat("lorem ipsum " * 600)
    first = await adapter.complete(request, timeout_s=TIMEOUT_S)
    second = await adapter.complete(request, timeout_s=TIMEOUT_S)
    assert first.cached_input_tokens == 0
    assert second.input_tokens == first.input_tokens > 1024
    assert second.cached_input_tokens == first.input_tokens - first.input_tokens % 128


# Vendor variants of successful replies.


def completion(message: dict[str, Any], finish: str = "stop", **extra: Any) -> dict[str, Any]:
    usage = {"prompt_tokens": 40, "completion_tokens": 5, **extra.pop("usage", {})}
    return {
        "id": "cmpl-1",
        "model": "m",
        "choices": [{"message": {"role": "assistant", **message}, "finish_reason": finish}],
        "usage": usage,
        **extra,
    }


async def test_deepseek_cache_hits_count_as_cached(chat: Chat) -> None:
    body = completion(
        {"content": "hi"}, usage={"prompt_cache_hit_tokens": 32, "prompt_cache_miss_tokens": 8}
    )
    result = await mocked(reply(200, body), "deepseek").complete(chat(), timeout_s=TIMEOUT_S)
    assert (result.input_tokens, result.cached_input_tokens) == (40, 32)


async def test_mistral_chunks_object_arguments_and_model_length(chat: Chat) -> None:
    message = {
        "content": [{"type": "thinking", "thinking": []}, {"type": "text", "text": "done"}],
        "tool_calls": [{"id": "aB3dE6gH9", "function": {"name": "f", "arguments": {"x": 1}}}],
    }
    result = await mocked(reply(200, completion(message, "model_length")), "mistral").complete(
        chat(), timeout_s=TIMEOUT_S
    )
    assert result.content == "done"
    assert result.finish_reason == "length"
    assert result.tool_calls == [ToolCall(id="aB3dE6gH9", name="f", arguments={"x": 1})]


async def test_perplexity_citations_are_kept(chat: Chat) -> None:
    body = completion(
        {"content": "Lisbon [1]"},
        citations=["https://a.example/1", "https://b.example/2"],
        search_results=[{"title": "A", "url": "https://a.example/1"}, {"title": "C"}],
    )
    result = await mocked(reply(200, body), "perplexity").complete(chat(), timeout_s=TIMEOUT_S)
    assert result.citations == ["https://a.example/1", "https://b.example/2"]


@pytest.mark.parametrize("arguments", ['{"city": ', "[1, 2]"])
async def test_unusable_tool_arguments_are_malformed(chat: Chat, arguments: str) -> None:
    call = {"id": "c1", "function": {"name": "f", "arguments": arguments}}
    message = {"content": None, "tool_calls": [call]}
    with pytest.raises(MalformedResponse):
        await mocked(reply(200, completion(message, "tool_calls"))).complete(
            chat(), timeout_s=TIMEOUT_S
        )


# Vendor error shapes, each classified by what that vendor sends.

MISTRAL_TOO_LONG = {
    "object": "error",
    "message": "Prompt contains 40000 tokens and 0 draft tokens, too large for model with "
    "32768 maximum context length",
    "type": "invalid_request_error",
    "param": None,
    "code": None,
}


@pytest.mark.parametrize(
    ("preset", "status", "body", "expected"),
    [
        ("azure", 429, {"error": {"code": "429", "message": "Requests ... exceeded"}}, RateLimited),
        ("azure", 400, error_body("content_filter"), ContentFiltered),
        ("mistral", 400, MISTRAL_TOO_LONG, ContextWindowExceeded),
        # The same words from a service that has a code for it are not trusted.
        ("openai", 400, MISTRAL_TOO_LONG, InvalidRequest),
        ("openrouter", 400, {"error": {"code": 400, "message": "This endpoint's maximum "
         "context length is 32768 tokens. However, you requested about 42832 tokens"}},
         ContextWindowExceeded),
        ("openrouter", 403, {"error": {"code": 403, "message": "input was flagged",
         "metadata": {"reasons": ["violence"]}}}, ContentFiltered),
        ("openrouter", 402, {"error": {"code": 402, "message": "Insufficient credits"}},
         AuthenticationFailed),
        ("xai", 400, {"code": "Client specified an invalid argument", "error": "This model's "
         "maximum prompt length is 131072 but the request contains 200000 tokens."},
         ContextWindowExceeded),
        ("tgi", 422, {"error": "Input validation error: `inputs` tokens + `max_new_tokens` "
         "must be <= 4096. Given: 4000 `inputs` tokens and 200 `max_new_tokens`",
         "error_type": "validation"}, ContextWindowExceeded),
        ("lmstudio", 400, {"error": "'response_format.type' must be 'json_schema'"},
         InvalidRequest),
        ("groq", 400, error_body("context_length_exceeded"), ContextWindowExceeded),
    ],
)  # fmt: skip
async def test_vendor_error_shapes(
    chat: Chat,
    preset: OpenAIPreset,
    status: int,
    body: dict[str, Any],
    expected: type[ProviderError],
) -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=orjson.dumps(body), headers={"retry-after": "6"})

    with pytest.raises(expected) as caught:
        await mocked(handle, preset).complete(chat(), timeout_s=TIMEOUT_S)
    assert type(caught.value) is expected
    assert caught.value.status_code == status
    assert "{" not in caught.value.message  # the vendor's message, not the raw body


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "6m0s",
          "x-ratelimit-remaining-tokens": "900", "x-ratelimit-reset-tokens": "1s"}, 360.0),
        ({"x-ratelimit-reset-requests": "20ms", "x-ratelimit-reset-tokens": "7.66s"}, 7.66),
        ({"retry-after": "2", "x-ratelimit-reset-requests": "6m0s"}, 2.0),
        ({"x-ratelimit-reset-requests": "soon"}, None),
    ],
)  # fmt: skip
async def test_ratelimit_reset_is_a_retry_after_fallback(
    chat: Chat, headers: dict[str, str], expected: float | None
) -> None:
    handler = reply(429, error_body("rate_limit_exceeded", "requests"), headers)
    with pytest.raises(RateLimited) as caught:
        await mocked(handler).complete(chat(), timeout_s=TIMEOUT_S)
    assert caught.value.retry_after_s == pytest.approx(expected)


@pytest.mark.parametrize(
    ("raw", "seconds"),
    [("1s", 1.0), ("6m0s", 360.0), ("1h2m3.5s", 3723.5), ("250ms", 0.25), ("5", None),
     ("1s junk", None), ("", None)],
)  # fmt: skip
def test_parse_duration(raw: str, seconds: float | None) -> None:
    assert parse_duration_s(raw) == pytest.approx(seconds)
