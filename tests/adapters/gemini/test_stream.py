"""The Gemini adapter's ``stream``: against the emulator, its result is ``complete``'s for
the same call, its errors are ``complete``'s, and a cut stream never ends as a finished
one; mocked replies cover the chunks the emulator never sends."""

from functools import partial
from typing import Any

import httpx
import orjson
import pytest

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
    RateLimited,
    StreamInterrupted,
)
from adapters.gemini.adapter import GeminiAdapter
from adapters.gemini.payload import GENERATED_ID_PREFIX
from emulator.server import RunningEmulator
from schemas.chat import ResponseFormat
from schemas.providers import GeminiProvider
from tests.adapters.helpers import TIMEOUT_S, AdapterFor, ask, mock_client, user
from tests.emulated import FAULT_STATUSES, WEATHER, StartEmulator, faulty

MODEL = "gemini-emu"
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
    "json_object": conversation(
        user("answer in JSON about the weather in Lisbon today"),
        response_format=ResponseFormat(type="json_object"),
    ),
    "json_schema": conversation(
        user("count"), response_format=ResponseFormat(type="json_schema", json_schema=SCHEMA)
    ),
    "max_tokens": conversation(user("a long answer please"), params={"max_tokens": 3}),
}


async def collect(
    adapter: ChatAdapter, request: ProviderRequest
) -> tuple[list[StreamDelta], ProviderResult]:
    *parts, result = [part async for part in adapter.stream(request, timeout_s=TIMEOUT_S)]
    assert isinstance(result, ProviderResult)
    deltas = [p for p in parts if isinstance(p, TextDelta | ToolCallDelta)]
    assert deltas == parts
    return deltas, result


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
    # Fresh emulators number their replies alike, so even the response ids agree.
    streamed = adapter_for("gemini", await start_emulator())
    whole = adapter_for("gemini", await start_emulator())
    deltas, result = await collect(streamed, request)
    assert result == await whole.complete(request, timeout_s=TIMEOUT_S)
    texts = [d.text for d in deltas if isinstance(d, TextDelta)]
    assert "".join(texts) == result.content
    calls = [d for d in deltas if isinstance(d, ToolCallDelta)]
    if result.tool_calls:
        # A function call arrives whole: one delta with its id, name and arguments.
        [call] = result.tool_calls
        assert call.id.startswith(GENERATED_ID_PREFIX)
        [delta] = calls
        assert (delta.index, delta.id, delta.name) == (0, call.id, call.name)
        assert orjson.loads(delta.arguments) == call.arguments
        assert result.finish_reason == "tool_calls"
    else:
        assert not calls
        assert result.finish_reason == ("length" if name == "max_tokens" else "stop")
        assert len(texts) > 1 or name == "max_tokens"


async def test_cached_prompt_streams_its_cache_reads(
    start_emulator: StartEmulator, adapter_for: AdapterFor
) -> None:
    request = conversation(user("word " * 1200))
    streamed = adapter_for("gemini", await start_emulator())
    whole = adapter_for("gemini", await start_emulator())
    for _ in range(2):
        _, result = await collect(streamed, request)
        assert result == await whole.complete(request, timeout_s=TIMEOUT_S)
    assert 0 < result.cached_input_tokens <= result.input_tokens


@pytest.mark.parametrize("status", FAULT_STATUSES)
async def test_error_status_before_the_stream_is_completes_error(
    start_emulator: StartEmulator, adapter_for: AdapterFor, status: int
) -> None:
    profile = faulty(error_rates={status: 1.0}, retry_after_s=2)
    streamed = adapter_for("gemini", await start_emulator(profile))
    whole = adapter_for("gemini", await start_emulator(profile))
    parts, error = await collect_until_error(streamed, REQUESTS["text"])
    assert parts == []
    with pytest.raises(ProviderError) as expected:
        await whole.complete(REQUESTS["text"], timeout_s=TIMEOUT_S)
    assert type(error) is type(expected.value)
    assert str(error) == str(expected.value)
    assert (error.status_code, error.retry_after_s) == (status, expected.value.retry_after_s)


async def chunk_count(emulator: RunningEmulator, request: ProviderRequest) -> int:
    url = f"{emulator.base_url}/v1beta/models/{MODEL}:streamGenerateContent"
    body = {"contents": [{"role": "user", "parts": [{"text": request.messages[-1].text}]}]}
    async with httpx.AsyncClient() as http:
        response = await http.post(
            url, params={"alt": "sse"}, json=body, headers={"x-goog-api-key": "k"}
        )
    return response.text.count("\r\n\r\n")


@pytest.mark.parametrize("kept", ["first_chunk", "all_but_the_finish"])
async def test_cut_stream_is_interrupted_never_finished(
    start_emulator: StartEmulator, adapter_for: AdapterFor, kept: str
) -> None:
    request = REQUESTS["text"]
    total = await chunk_count(await start_emulator(), request)
    after = 1 if kept == "first_chunk" else total - 1
    emulator = await start_emulator()
    async with httpx.AsyncClient() as http:
        cut = {"model": MODEL, "after_frames": after, "seconds": 60}
        assert (await http.post(f"{emulator.base_url}/_emulator/cut", json=cut)).is_success
    parts, error = await collect_until_error(adapter_for("gemini", emulator), request)
    assert type(error) is StreamInterrupted
    assert error.kind == "stream_interrupted" and error.retryable
    assert len(parts) == after and all(isinstance(p, TextDelta) for p in parts)
    _, whole = await collect(adapter_for("gemini", await start_emulator()), request)
    assert whole.content.startswith("".join(p.text for p in parts if isinstance(p, TextDelta)))


async def test_malformed_fault_breaks_the_stream(
    start_emulator: StartEmulator, adapter_for: AdapterFor
) -> None:
    emulator = await start_emulator(faulty(malformed_rate=1.0))
    parts, error = await collect_until_error(adapter_for("gemini", emulator), REQUESTS["text"])
    assert type(error) is StreamInterrupted
    assert len(parts) == 1  # the emulator breaks a malformed stream after its first chunk


# Replies the emulator never streams: errors after the 200, blocked answers, odd chunks.


def data(chunk: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(chunk) + b"\r\n\r\n"


def text_chunk(text: str, **candidate: object) -> bytes:
    content = {"role": "model", "parts": [{"text": text}]}
    return data({"candidates": [{"content": content, **candidate}], "responseId": "resp_1",
                 "usageMetadata": {"promptTokenCount": 5, "totalTokenCount": 5}})  # fmt: skip


def streamed(body: bytes) -> ChatAdapter:
    def handle(request: httpx.Request) -> httpx.Response:
        assert (
            request.url == f"http://mock.test/v1beta/models/{MODEL}:streamGenerateContent?alt=sse"
        )
        assert request.headers["x-goog-api-key"] == "k"
        return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})

    config = GeminiProvider(format="gemini", base_url="http://mock.test")
    return GeminiAdapter("mock", config, mock_client(handle), Credentials(api_key="k"))


@pytest.mark.parametrize(
    ("error", "expected", "retry_after_s"),
    [
        ({"code": 503, "message": "overloaded", "status": "UNAVAILABLE"}, ProviderUnavailable,
         None),
        ({"code": 429, "message": "quota", "status": "RESOURCE_EXHAUSTED", "details": [
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "5s"}]},
         RateLimited, 5.0),
    ],
)  # fmt: skip
async def test_error_chunk_mid_stream_is_translated(
    error: dict[str, Any], expected: type[ProviderError], retry_after_s: float | None
) -> None:
    body = text_chunk("Hi") + data({"error": error})
    parts, raised = await collect_until_error(streamed(body), REQUESTS["text"])
    assert parts == [TextDelta(text="Hi")]
    assert type(raised) is expected
    assert (raised.status_code, raised.retry_after_s) == (error["code"], retry_after_s)
    assert raised.provider_request_id == "resp_1"


async def test_clean_end_without_a_finish_reason_is_interrupted() -> None:
    _, error = await collect_until_error(streamed(text_chunk("Hi")), REQUESTS["text"])
    assert type(error) is StreamInterrupted
    assert error.provider_request_id == "resp_1"


async def test_blocked_answer_is_content_filtered() -> None:
    body = text_chunk("Hi") + text_chunk("", finishReason="SAFETY")
    _, error = await collect_until_error(streamed(body), REQUESTS["text"])
    assert type(error) is ContentFiltered


async def test_thoughts_are_skipped_and_the_last_usage_counts() -> None:
    thought = data({"candidates": [{"content": {"role": "model", "parts": [
        {"text": "pondering", "thought": True}]}}]})  # fmt: skip
    last = data({"candidates": [{"content": {"role": "model", "parts": [{"text": "lo"}]},
                                 "finishReason": "STOP"}],
                 "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 2,
                                   "thoughtsTokenCount": 3, "cachedContentTokenCount": 1},
                 "modelVersion": "gemini-x-001"})  # fmt: skip
    deltas, result = await collect(streamed(thought + text_chunk("Hel") + last), REQUESTS["text"])
    assert deltas == [TextDelta(text="Hel"), TextDelta(text="lo")]
    assert (result.content, result.finish_reason, result.upstream_model) == (
        "Hello",
        "stop",
        "gemini-x-001",
    )
    assert (result.input_tokens, result.output_tokens, result.cached_input_tokens) == (5, 5, 1)


async def test_undecodable_chunk_is_malformed() -> None:
    _, error = await collect_until_error(streamed(b"data: {nope\r\n\r\n"), REQUESTS["text"])
    assert type(error) is MalformedResponse
