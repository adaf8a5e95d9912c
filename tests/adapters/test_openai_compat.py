import socket
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import httpx
import orjson
import pytest

from adapters.base import ChatAdapter, ProviderRequest
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
from adapters.openai_compat import OpenAICompatAdapter, build_payload
from emulator.generate import estimate_tokens, generate_reply
from emulator.profile import EmulatorConfig, FaultProfile
from emulator.server import RunningEmulator

StartEmulator = Callable[..., Awaitable[RunningEmulator]]
AdapterFor = Callable[..., ChatAdapter]
Chat = Callable[..., ProviderRequest]
Stats = Callable[[RunningEmulator], Awaitable[dict[str, Any]]]

TIMEOUT_S = 5.0


def faulty(**profile: object) -> EmulatorConfig:
    return EmulatorConfig(default=FaultProfile.model_validate(profile))


async def test_success_maps_content_tokens_and_ids(
    start_emulator: StartEmulator, adapter_for: AdapterFor, chat: Chat
) -> None:
    emulator = await start_emulator()
    request = chat("tell me about the weather in Lisbon today", system="be brief")
    result = await adapter_for("openai", emulator).complete(request, timeout_s=TIMEOUT_S)

    expected = generate_reply(request.messages[-1].text, max_tokens=None, stop=[])
    assert result.content == expected.text
    assert result.finish_reason == "stop"
    assert result.output_tokens == expected.output_tokens == estimate_tokens(result.content)
    assert result.input_tokens == estimate_tokens("be brief") + estimate_tokens(
        request.messages[-1].text
    )
    assert result.upstream_model == "model-a"
    assert result.provider_request_id is not None
    assert result.provider_request_id.startswith("req_")


async def test_max_tokens_truncates_with_length(
    start_emulator: StartEmulator, adapter_for: AdapterFor, chat: Chat
) -> None:
    emulator = await start_emulator()
    result = await adapter_for("openai", emulator).complete(chat(max_tokens=3), timeout_s=TIMEOUT_S)
    assert result.finish_reason == "length"
    assert result.output_tokens == 3


async def test_stop_sequence_cuts_the_answer(
    start_emulator: StartEmulator, adapter_for: AdapterFor, chat: Chat
) -> None:
    emulator = await start_emulator()
    result = await adapter_for("openai", emulator).complete(
        chat("tell me about the weather in Lisbon today", stop=["weather"]), timeout_s=TIMEOUT_S
    )
    assert result.content == "tell me about the "
    assert result.finish_reason == "stop"


async def test_rate_limit_carries_retry_after(
    start_emulator: StartEmulator, adapter_for: AdapterFor, chat: Chat
) -> None:
    emulator = await start_emulator(faulty(error_rates={429: 1.0}, retry_after_s=2.5))
    with pytest.raises(RateLimited) as caught:
        await adapter_for("openai", emulator).complete(chat(), timeout_s=TIMEOUT_S)
    error = caught.value
    # retry-after-ms is the precise one; Retry-After alone would round up to 3.
    assert error.retry_after_s == 2.5
    assert error.status_code == 429
    assert error.retryable
    assert error.provider == "openai-emu"
    assert error.provider_request_id is not None


@pytest.mark.parametrize("status", [500, 502, 503, 529])
async def test_server_errors_are_unavailable(
    start_emulator: StartEmulator, adapter_for: AdapterFor, chat: Chat, status: int
) -> None:
    emulator = await start_emulator(faulty(error_rates={status: 1.0}))
    with pytest.raises(ProviderUnavailable) as caught:
        await adapter_for("openai", emulator).complete(chat(), timeout_s=TIMEOUT_S)
    assert type(caught.value) is ProviderUnavailable
    assert caught.value.status_code == status


async def test_hang_times_out_at_the_deadline(
    start_emulator: StartEmulator, adapter_for: AdapterFor, chat: Chat, stats: Stats
) -> None:
    emulator = await start_emulator(faulty(hang_rate=1.0, hang_s=120))
    started = time.monotonic()
    with pytest.raises(ProviderTimeout):
        await adapter_for("openai", emulator).complete(chat(), timeout_s=0.3)
    assert time.monotonic() - started < 3.0
    assert (await stats(emulator))["outcomes"] == {"hang": 1}


async def test_context_window(
    start_emulator: StartEmulator, adapter_for: AdapterFor, chat: Chat
) -> None:
    emulator = await start_emulator(faulty(context_window=10))
    with pytest.raises(ContextWindowExceeded) as caught:
        await adapter_for("openai", emulator).complete(chat("word " * 40), timeout_s=TIMEOUT_S)
    assert caught.value.status_code == 400
    assert not caught.value.retryable


async def test_missing_key_is_authentication_failed(
    start_emulator: StartEmulator, adapter_for: AdapterFor, chat: Chat
) -> None:
    emulator = await start_emulator()
    with pytest.raises(AuthenticationFailed) as caught:
        await adapter_for("openai", emulator, api_key=None).complete(chat(), timeout_s=TIMEOUT_S)
    assert caught.value.status_code == 401


async def test_filtered_output_is_content_filtered(
    start_emulator: StartEmulator, adapter_for: AdapterFor, chat: Chat
) -> None:
    emulator = await start_emulator(faulty(content_filter_rate=1.0))
    with pytest.raises(ContentFiltered) as caught:
        await adapter_for("openai", emulator).complete(chat(), timeout_s=TIMEOUT_S)
    assert caught.value.provider_request_id is not None


async def test_truncated_body_is_malformed(
    start_emulator: StartEmulator, adapter_for: AdapterFor, chat: Chat
) -> None:
    emulator = await start_emulator(faulty(malformed_rate=1.0))
    with pytest.raises(MalformedResponse) as caught:
        await adapter_for("openai", emulator).complete(chat(), timeout_s=TIMEOUT_S)
    assert caught.value.retryable


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
    adapter = OpenAICompatAdapter("p", f"http://127.0.0.1:{closed_port}/v1", http_client, "k")
    with pytest.raises(ProviderConnectionError) as caught:
        await adapter.complete(chat(), timeout_s=TIMEOUT_S)
    assert isinstance(caught.value, ProviderUnavailable)
    assert caught.value.retryable


def test_payload_sends_only_set_params(chat: Chat) -> None:
    request = chat("hi", system="sys", max_tokens=7, temperature=0.2, stop=["x"])
    assert build_payload(request) == {
        "model": "model-a",
        "messages": [{"role": "system", "content": "sys"}, {"role": "user", "content": "hi"}],
        "max_tokens": 7,
        "temperature": 0.2,
        "stop": ["x"],
    }
    assert set(build_payload(chat("hi"))) == {"model", "messages"}


# Replies no emulator profile produces: vendor variants seen in the wild.

Handler = Callable[[httpx.Request], httpx.Response]


def mocked(handler: Handler) -> ChatAdapter:
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return OpenAICompatAdapter("mock", "http://mock.test/v1/", client, "k")


def reply(status: int, body: object, headers: dict[str, str] | None = None) -> Handler:
    content = body if isinstance(body, bytes) else orjson.dumps(body)

    def handle(request: httpx.Request) -> httpx.Response:
        assert request.url == "http://mock.test/v1/chat/completions"
        assert request.headers["authorization"] == "Bearer k"
        return httpx.Response(status, content=content, headers=headers)

    return handle


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
