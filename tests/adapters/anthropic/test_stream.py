"""The Anthropic adapter's ``stream``: against the emulator, its result is ``complete``'s
for the same call, its errors are ``complete``'s, and a cut stream never ends as a
finished one; mocked replies cover the events the emulator never sends."""

from functools import partial
from typing import Any

import httpx
import orjson
import pytest

from adapters.anthropic.adapter import AnthropicAdapter
from adapters.base import (
    ChatAdapter,
    ProviderRequest,
    ProviderResult,
    StreamDelta,
    TextDelta,
    ToolCallDelta,
)
from adapters.credentials import Credentials
from adapters.errors import (
    ContentFiltered,
    MalformedResponse,
    ProviderError,
    ProviderUnavailable,
    StreamInterrupted,
)
from emulator.server import RunningEmulator
from schemas.chat import ResponseFormat
from schemas.providers import AnthropicProvider
from tests.adapters.helpers import TIMEOUT_S, AdapterFor, ask, mock_client, user
from tests.emulated import FAULT_STATUSES, WEATHER, StartEmulator, faulty

MODEL = "claude-emu"
conversation = partial(ask, model=MODEL)
# Long enough a document to arrive in several pieces.
SCHEMA = {
    "type": "object",
    "properties": {"n": {"type": "integer"}, "city": {"type": "string"},
                   "tags": {"type": "array", "items": {"type": "string"}}},
}  # fmt: skip
REQUESTS: dict[str, ProviderRequest] = {
    "text": conversation(user("tell me about the weather in Lisbon today")),
    "named_tool": conversation(user("call get_weather for Lisbon"), tools=[WEATHER]),
    "required_tool": conversation(user("hello"), tools=[WEATHER], tool_choice="required"),
    "json_schema": conversation(
        user("count"), response_format=ResponseFormat(type="json_schema", json_schema=SCHEMA)
    ),
    "max_tokens": conversation(user("a long answer please"), params={"max_tokens": 3}),
}


async def collect(
    adapter: ChatAdapter, request: ProviderRequest
) -> tuple[list[StreamDelta], ProviderResult]:
    *deltas, result = [part async for part in adapter.stream(request, timeout_s=TIMEOUT_S)]
    assert isinstance(result, ProviderResult)
    assert all(isinstance(d, TextDelta | ToolCallDelta) for d in deltas)
    return [d for d in deltas if not isinstance(d, ProviderResult)], result


async def collect_until_error(
    adapter: ChatAdapter, request: ProviderRequest
) -> tuple[list[object], ProviderError]:
    """What the stream yielded before it raised, and what it raised."""
    parts: list[object] = []
    with pytest.raises(ProviderError) as caught:
        async for part in adapter.stream(request, timeout_s=TIMEOUT_S):
            parts.append(part)
    return parts, caught.value


@pytest.mark.parametrize("name", sorted(REQUESTS))
async def test_stream_result_is_completes_result(
    start_emulator: StartEmulator, adapter_for: AdapterFor, name: str
) -> None:
    request = REQUESTS[name]
    # Fresh emulators number their replies alike, so even the request ids agree.
    streamed = adapter_for("anthropic", await start_emulator())
    whole = adapter_for("anthropic", await start_emulator())
    deltas, result = await collect(streamed, request)
    assert result == await whole.complete(request, timeout_s=TIMEOUT_S)
    texts = [d.text for d in deltas if isinstance(d, TextDelta)]
    assert "".join(texts) == result.content
    calls = [d for d in deltas if isinstance(d, ToolCallDelta)]
    if result.tool_calls:
        [call] = result.tool_calls
        first, *pieces = calls
        assert (first.index, first.id, first.name, first.arguments) == (0, call.id, call.name, "")
        assert len(pieces) > 1 and all(p.id is None and p.name is None for p in pieces)
        assert orjson.loads("".join(p.arguments for p in pieces)) == call.arguments
        assert result.finish_reason == "tool_calls"
    else:
        assert not calls
        assert result.finish_reason == ("length" if name == "max_tokens" else "stop")
        assert len(texts) > 1 or name == "max_tokens"


async def test_cached_prompt_streams_its_cache_reads(
    start_emulator: StartEmulator, adapter_for: AdapterFor
) -> None:
    request = conversation(user("word " * 1200))
    streamed = adapter_for("anthropic", await start_emulator())
    whole = adapter_for("anthropic", await start_emulator())
    for _ in range(2):
        _, result = await collect(streamed, request)
        assert result == await whole.complete(request, timeout_s=TIMEOUT_S)
    assert 0 < result.cached_input_tokens <= result.input_tokens


@pytest.mark.parametrize("status", FAULT_STATUSES)
async def test_error_status_before_the_stream_is_completes_error(
    start_emulator: StartEmulator, adapter_for: AdapterFor, status: int
) -> None:
    profile = faulty(error_rates={status: 1.0}, retry_after_s=2)
    streamed = adapter_for("anthropic", await start_emulator(profile))
    whole = adapter_for("anthropic", await start_emulator(profile))
    parts, error = await collect_until_error(streamed, REQUESTS["text"])
    assert parts == []
    with pytest.raises(ProviderError) as expected:
        await whole.complete(REQUESTS["text"], timeout_s=TIMEOUT_S)
    assert type(error) is type(expected.value)
    assert str(error) == str(expected.value)
    assert (error.status_code, error.retry_after_s, error.provider_request_id) == (
        status,
        expected.value.retry_after_s,
        expected.value.provider_request_id,
    )


async def frame_count(emulator: RunningEmulator, request: ProviderRequest) -> int:
    body = {"model": MODEL, "max_tokens": 1024, "stream": True, "messages": [
        {"role": "user", "content": request.messages[-1].text}]}  # fmt: skip
    headers = {"x-api-key": "k", "anthropic-version": "2023-06-01"}
    async with httpx.AsyncClient() as http:
        response = await http.post(f"{emulator.base_url}/v1/messages", json=body, headers=headers)
    return response.text.count("\n\n")


@pytest.mark.parametrize("kept", ["first_delta", "all_but_message_stop"])
async def test_cut_stream_is_interrupted_never_finished(
    start_emulator: StartEmulator, adapter_for: AdapterFor, kept: str
) -> None:
    request = REQUESTS["text"]
    total = await frame_count(await start_emulator(), request)
    # message_start, ping, content_block_start, then the first text delta.
    after = 4 if kept == "first_delta" else total - 1
    emulator = await start_emulator()
    async with httpx.AsyncClient() as http:
        cut = {"model": MODEL, "after_frames": after, "seconds": 60}
        assert (await http.post(f"{emulator.base_url}/_emulator/cut", json=cut)).is_success
    parts, error = await collect_until_error(adapter_for("anthropic", emulator), request)
    assert type(error) is StreamInterrupted
    assert error.kind == "stream_interrupted" and error.retryable
    assert parts and all(isinstance(p, TextDelta) for p in parts)
    _, whole = await collect(adapter_for("anthropic", await start_emulator()), request)
    text = "".join(p.text for p in parts if isinstance(p, TextDelta))
    assert whole.content.startswith(text)
    assert (text == whole.content) == (kept == "all_but_message_stop")


async def test_malformed_fault_breaks_the_stream(
    start_emulator: StartEmulator, adapter_for: AdapterFor
) -> None:
    emulator = await start_emulator(faulty(malformed_rate=1.0))
    parts, error = await collect_until_error(adapter_for("anthropic", emulator), REQUESTS["text"])
    assert (parts, type(error)) == ([], StreamInterrupted)


# Replies the emulator never streams: errors after the 200, refusals, odd events.


def event(name: str, data: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: ".encode() + orjson.dumps({"type": name, **data}) + b"\n\n"


START = event("message_start", {"message": {
    "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-x", "content": [],
    "stop_reason": None, "stop_sequence": None,
    "usage": {"input_tokens": 10, "output_tokens": 1, "cache_read_input_tokens": 4}}})  # fmt: skip
TEXT = event(
    "content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}
) + event("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": "Hi"}})


def streamed(body: bytes) -> ChatAdapter:
    def handle(request: httpx.Request) -> httpx.Response:
        assert request.url == "http://mock.test/v1/messages"
        assert orjson.loads(request.content)["stream"] is True
        return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})

    config = AnthropicProvider(format="anthropic", base_url="http://mock.test")
    return AnthropicAdapter("mock", config, mock_client(handle), Credentials(api_key="k"))


async def test_error_event_mid_stream_is_translated() -> None:
    overloaded = event("error", {"error": {"type": "overloaded_error", "message": "Overloaded"}})
    parts, error = await collect_until_error(streamed(START + TEXT + overloaded), REQUESTS["text"])
    assert parts == [TextDelta(text="Hi")]
    assert type(error) is ProviderUnavailable
    assert (error.message, error.status_code, error.provider_request_id) == (
        "Overloaded",
        200,
        "msg_1",
    )
    unknown = event("error", {"error": {"type": "brand_new_error", "message": "?"}})
    _, error = await collect_until_error(streamed(START + unknown), REQUESTS["text"])
    assert type(error) is MalformedResponse


async def test_clean_end_before_message_stop_is_interrupted() -> None:
    _, error = await collect_until_error(streamed(START + TEXT), REQUESTS["text"])
    assert type(error) is StreamInterrupted
    assert error.provider_request_id == "msg_1"


async def test_refusal_is_content_filtered() -> None:
    refused = event("message_delta", {"delta": {"stop_reason": "refusal", "stop_details": {
        "type": "refusal", "category": "cyber", "explanation": None}},
        "usage": {"output_tokens": 2}})  # fmt: skip
    _, error = await collect_until_error(streamed(START + TEXT + refused), REQUESTS["text"])
    assert type(error) is ContentFiltered
    assert "category cyber" in error.message


async def test_thinking_and_unknown_events_are_skipped_and_usage_is_cumulative() -> None:
    thinking = event(
        "content_block_start", {"index": 0, "content_block": {"type": "thinking", "thinking": ""}}
    ) + event("content_block_delta", {"index": 0, "delta": {"type": "thinking_delta",
                                                              "thinking": "hmm"}})  # fmt: skip
    text = event(
        "content_block_start", {"index": 1, "content_block": {"type": "text", "text": ""}}
    ) + event("content_block_delta", {"index": 1, "delta": {"type": "text_delta", "text": "ok"}})
    done = (
        b": keep-alive comment\n\n"
        + event("brand_new_event", {"x": 1})
        + event("message_delta", {"delta": {"stop_reason": "max_tokens", "stop_sequence": None},
                "usage": {"output_tokens": 7, "input_tokens": 12, "cache_read_input_tokens": 4}})
        + event("message_stop", {})
    )  # fmt: skip
    deltas, result = await collect(streamed(START + thinking + text + done), REQUESTS["text"])
    assert deltas == [TextDelta(text="ok")]
    assert (result.content, result.finish_reason, result.upstream_model) == (
        "ok",
        "length",
        "claude-x",
    )
    assert (result.input_tokens, result.cached_input_tokens, result.output_tokens) == (16, 4, 7)
    assert result.provider_request_id == "msg_1"


async def test_undecodable_event_is_malformed() -> None:
    bad = b"event: content_block_delta\ndata: {not json\n\n"
    _, error = await collect_until_error(streamed(START + bad), REQUESTS["text"])
    assert type(error) is MalformedResponse
    assert "content_block_delta" in error.message
