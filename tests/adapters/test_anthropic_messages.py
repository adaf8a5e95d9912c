import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import orjson
import pytest

from adapters.anthropic_messages import (
    API_VERSION,
    DEFAULT_MAX_TOKENS,
    AnthropicMessagesAdapter,
    build_payload,
)
from adapters.base import ChatAdapter, ProviderRequest
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
)
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


async def test_hang_times_out(
    start_emulator: StartEmulator, adapter_for: AdapterFor, chat: Chat, stats: Stats
) -> None:
    emulator = await start_emulator(faulty(hang_rate=1.0))
    started = time.monotonic()
    with pytest.raises(ProviderTimeout):
        await adapter_for("anthropic", emulator).complete(chat(), timeout_s=0.3)
    assert time.monotonic() - started < 3.0
    assert (await stats(emulator))["models"]["model-a"]["outcomes"] == {"hang": 1}


async def test_prompt_too_long_is_context_window(
    start_emulator: StartEmulator, adapter_for: AdapterFor, chat: Chat
) -> None:
    emulator = await start_emulator(faulty(context_window=10))
    with pytest.raises(ContextWindowExceeded) as caught:
        await adapter_for("anthropic", emulator).complete(chat("word " * 40), timeout_s=TIMEOUT_S)
    assert caught.value.status_code == 400
    assert "prompt is too long" in caught.value.message


async def test_missing_key_is_authentication_failed(
    start_emulator: StartEmulator, adapter_for: AdapterFor, chat: Chat
) -> None:
    emulator = await start_emulator()
    adapter = adapter_for("anthropic", emulator, api_key=None)
    with pytest.raises(AuthenticationFailed) as caught:
        await adapter.complete(chat(), timeout_s=TIMEOUT_S)
    assert caught.value.status_code == 401


async def test_refusal_is_content_filtered(
    start_emulator: StartEmulator, adapter_for: AdapterFor, chat: Chat
) -> None:
    emulator = await start_emulator(faulty(content_filter_rate=1.0))
    with pytest.raises(ContentFiltered):
        await adapter_for("anthropic", emulator).complete(chat(), timeout_s=TIMEOUT_S)


async def test_truncated_body_is_malformed(
    start_emulator: StartEmulator, adapter_for: AdapterFor, chat: Chat
) -> None:
    emulator = await start_emulator(faulty(malformed_rate=1.0))
    with pytest.raises(MalformedResponse):
        await adapter_for("anthropic", emulator).complete(chat(), timeout_s=TIMEOUT_S)


def test_payload_hoists_system_and_defaults_max_tokens(chat: Chat) -> None:
    # The Messages API has no sampling parameters, so temperature and top_p stay home.
    request = chat("hi", system="sys", temperature=1.5, top_p=0.9, stop=["END"])
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


# Replies no emulator profile produces: other documented error types and shapes.

Handler = Callable[[httpx.Request], httpx.Response]


def mocked(handler: Handler) -> ChatAdapter:
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return AnthropicMessagesAdapter("mock", "http://mock.test/", client, "k")


def reply(status: int, body: object, headers: dict[str, str] | None = None) -> Handler:
    content = body if isinstance(body, bytes) else orjson.dumps(body)

    def handle(request: httpx.Request) -> httpx.Response:
        assert request.url == "http://mock.test/v1/messages"
        assert request.headers["x-api-key"] == "k"
        assert request.headers["anthropic-version"] == API_VERSION
        return httpx.Response(status, content=content, headers=headers)

    return handle


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
