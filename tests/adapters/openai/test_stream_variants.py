"""Streams no emulator profile produces: what compatible services send in the wild, and
bodies that end or break in ways a stream must not be mistaken for a finished one."""

import logging
from typing import Any, get_args

import httpx
import orjson
import pytest

from adapters.base import ProviderRequest, ProviderResult, TextDelta, ToolCallDelta
from adapters.credentials import Credentials
from adapters.errors import (
    ContentFiltered,
    MalformedResponse,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
    StreamInterrupted,
)
from adapters.openai.adapter import OpenAIAdapter
from adapters.openai.presets import PRESETS
from schemas.chat import ChatMessage, ToolCall, ToolSpec
from schemas.providers import OpenAIPreset, OpenAIProvider
from tests.adapters.helpers import TIMEOUT_S, mock_client

REQUEST = ProviderRequest(
    upstream_model="model-a", messages=[ChatMessage(role="user", content="hello there")]
)
USAGE = {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17}


def chunk(delta: dict[str, Any] | None = None, finish: str | None = None, **extra: Any) -> bytes:
    choice = {"index": 0, "delta": delta or {}, "finish_reason": finish}
    return orjson.dumps({"id": "cmpl-1", "model": "m-2025", "choices": [choice], **extra})


def event(data: bytes) -> bytes:
    return b"data: " + data + b"\n\n"


class Server:
    """Answers every request with ``body``; keeps the JSON bodies it was sent."""

    def __init__(self, body: bytes, content_type: str = "text/event-stream") -> None:
        self.body = body
        self.content_type = content_type
        self.sent: list[dict[str, Any]] = []

    def adapter(self, preset: OpenAIPreset = "openai") -> OpenAIAdapter:
        def handle(request: httpx.Request) -> httpx.Response:
            self.sent.append(orjson.loads(request.content))
            headers = {"content-type": self.content_type}
            return httpx.Response(200, content=self.body, headers=headers)

        version = "2024-10-21" if preset == "azure" else None
        config = OpenAIProvider(
            format="openai", preset=preset, base_url="http://mock.test/v1", api_version=version
        )
        return OpenAIAdapter("mock", config, mock_client(handle), Credentials("k"))


def sse(*chunks: bytes, done: bool = True) -> bytes:
    return b"".join(event(c) for c in chunks) + (event(b"[DONE]") if done else b"")


async def run(adapter: OpenAIAdapter, request: ProviderRequest = REQUEST) -> list[object]:
    return [part async for part in adapter.stream(request, timeout_s=TIMEOUT_S)]


TEXT = sse(
    chunk({"role": "assistant", "content": ""}),
    chunk({"content": "Hel"}),
    chunk({"content": "lo"}),
    chunk(finish="stop"),
    orjson.dumps({"id": "cmpl-1", "model": "m-2025", "choices": [], "usage": USAGE}),
)


@pytest.mark.parametrize("preset", get_args(OpenAIPreset))
async def test_stream_switches_per_preset(preset: OpenAIPreset) -> None:
    server = Server(TEXT)
    await run(server.adapter(preset))
    [sent] = server.sent
    assert sent["stream"] is True
    asked = sent.get("stream_options")
    assert asked == ({"include_usage": True} if PRESETS[preset].stream_options else None)


async def test_openai_text_and_usage_chunk() -> None:
    *deltas, result = await run(Server(TEXT).adapter())
    assert deltas == [TextDelta(text="Hel"), TextDelta(text="lo")]
    assert result == ProviderResult(
        content="Hello",
        finish_reason="stop",
        input_tokens=12,
        output_tokens=5,
        provider_request_id="cmpl-1",
        upstream_model="m-2025",
    )


async def test_mistral_usage_on_the_finish_chunk_and_whole_tool_calls() -> None:
    # Mistral sends each call whole, arguments as an object at times, with no index.
    calls = [
        {"id": "aB3dE6gH9", "function": {"name": "f", "arguments": {"x": 1}}},
        {"id": "zZ9yY8xX7", "function": {"name": "g", "arguments": '{"y": 2}'}},
    ]
    body = sse(
        chunk({"role": "assistant", "content": ""}),
        chunk({"tool_calls": calls}),
        chunk(finish="tool_calls", usage=USAGE),
    )
    *deltas, result = await run(Server(body).adapter("mistral"))
    assert [d.index for d in deltas if isinstance(d, ToolCallDelta)] == [0, 1]
    assert isinstance(result, ProviderResult)
    assert result.tool_calls == [
        ToolCall(id="aB3dE6gH9", name="f", arguments={"x": 1}),
        ToolCall(id="zZ9yY8xX7", name="g", arguments={"y": 2}),
    ]
    assert (result.finish_reason, result.input_tokens, result.output_tokens) == (
        "tool_calls",
        12,
        5,
    )


async def test_repeated_ids_and_names_name_the_call_once() -> None:
    def piece(arguments: str) -> bytes:
        call = {"index": 0, "id": "call_9", "function": {"name": "f", "arguments": arguments}}
        return chunk({"tool_calls": [call]})

    body = sse(piece('{"a"'), piece(": 1}"), chunk(finish="tool_calls", usage=USAGE))
    *deltas, result = await run(Server(body).adapter("vllm"))
    assert deltas == [
        ToolCallDelta(index=0, id="call_9", name="f", arguments='{"a"'),
        ToolCallDelta(index=0, arguments=": 1}"),
    ]
    assert isinstance(result, ProviderResult)
    assert result.tool_calls == [ToolCall(id="call_9", name="f", arguments={"a": 1})]


async def test_a_call_streamed_without_an_id_gets_complete_s_fallback() -> None:
    call = {"index": 0, "function": {"name": "f", "arguments": "{}"}}
    body = sse(chunk({"tool_calls": [call]}), chunk(finish="tool_calls", usage=USAGE))
    *_, result = await run(Server(body).adapter("tgi"))
    assert isinstance(result, ProviderResult)
    assert result.tool_calls == [ToolCall(id="call_0", name="f", arguments={})]


async def test_azure_prompt_filter_chunk_is_skipped_and_filtered_output_raises() -> None:
    filters = {"prompt_index": 0, "content_filter_results": {}}
    body = sse(
        orjson.dumps({"id": "", "model": "", "choices": [], "prompt_filter_results": [filters]}),
        chunk({"role": "assistant", "content": "Some"}),
        chunk(finish="content_filter"),
    )
    parts: list[object] = []
    with pytest.raises(ContentFiltered):
        async for part in Server(body).adapter("azure").stream(REQUEST, timeout_s=TIMEOUT_S):
            parts.append(part)
    assert parts == [TextDelta(text="Some")]


async def test_refusal_is_content_filtered() -> None:
    body = sse(chunk({"refusal": "I can't "}), chunk({"refusal": "help."}), chunk(finish="stop"))
    with pytest.raises(ContentFiltered, match=r"I can't help\."):
        await run(Server(body).adapter())


async def test_no_usage_at_all_is_estimated_not_zero(caplog: pytest.LogCaptureFixture) -> None:
    # LM Studio streams no usage, asked or not.
    body = sse(chunk({"content": "x" * 40}), chunk(finish="stop"))
    with caplog.at_level(logging.WARNING):
        *_, result = await run(Server(body).adapter("lmstudio"))
    assert isinstance(result, ProviderResult)
    # 40 bytes of answer at 4 per token; the prompt's 11 bytes plus one message's overhead.
    assert (result.input_tokens, result.output_tokens) == (3 + 4, 10)
    assert "mock streamed no usage" in caplog.text


async def test_perplexity_ends_at_its_finish_chunk_with_running_usage() -> None:
    sources: dict[str, Any] = {"citations": ["https://a.example/1"]}
    body = sse(
        chunk({"content": "Lis"}, usage={**USAGE, "completion_tokens": 1}, **sources),
        chunk({"content": "bon"}, usage={**USAGE, "completion_tokens": 3}, **sources),
        chunk(finish="stop", usage=USAGE, **sources),
        done=False,
    )
    *_, result = await run(Server(body).adapter("perplexity"))
    assert isinstance(result, ProviderResult)
    assert (result.content, result.output_tokens) == ("Lisbon", 5)
    assert result.citations == ["https://a.example/1"]


@pytest.mark.parametrize(
    ("preset", "body"),
    [
        # Everything but the closing [DONE]: the failure that looks like a success.
        ("openai", TEXT.removesuffix(event(b"[DONE]"))),
        ("openai", sse(chunk({"content": "Hel"}), done=False)),
        ("openai", b""),
        # Perplexity sends no [DONE], but a body without the finish chunk is still cut.
        ("perplexity", sse(chunk({"content": "Hel"}, usage=USAGE), done=False)),
        # The body ends inside an event.
        ("openai", event(chunk({"content": "Hel"})) + b'data: {"id": "cmpl-1", "cho'),
    ],
)
async def test_a_body_ending_early_is_interrupted(preset: OpenAIPreset, body: bytes) -> None:
    with pytest.raises(StreamInterrupted) as caught:
        await run(Server(body).adapter(preset))
    assert caught.value.retryable


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b'{"error": {"message": "boom", "type": "server_error", "code": null}}',
         ProviderUnavailable),
        # OpenRouter names the status in the code.
        (b'{"error": {"message": "slow down", "code": 429}}', RateLimited),
        (b'{"object": "error", "message": "bad", "type": "BadRequestError", "code": 400}',
         ProviderError),
        (b'{"choices": "nope"}', MalformedResponse),
    ],
)  # fmt: skip
async def test_errors_sent_mid_stream(data: bytes, expected: type[ProviderError]) -> None:
    body = sse(chunk({"content": "Hel"}), data)
    with pytest.raises(expected) as caught:
        await run(Server(body).adapter())
    assert not isinstance(caught.value, StreamInterrupted)


async def test_a_broken_chunk_followed_by_more_is_malformed() -> None:
    body = event(b'{"choices": [') + TEXT
    with pytest.raises(MalformedResponse):
        await run(Server(body).adapter())


async def test_a_server_ignoring_stream_is_read_as_one_completion() -> None:
    whole = {
        "id": "cmpl-9",
        "model": "m",
        "choices": [{"message": {"content": "Hello"}, "finish_reason": "stop"}],
        "usage": USAGE,
    }
    server = Server(orjson.dumps(whole), content_type="application/json")
    *deltas, result = await run(server.adapter())
    assert deltas == [TextDelta(text="Hello")]
    assert isinstance(result, ProviderResult)
    assert (result.content, result.output_tokens, result.provider_request_id) == (
        "Hello",
        5,
        "cmpl-9",
    )


async def test_tools_in_the_request_count_in_the_estimate() -> None:
    tool = ToolSpec(name="lookup", parameters={"type": "object"})
    body = sse(chunk({"content": "ok"}), chunk(finish="stop"))
    request = REQUEST.model_copy(update={"tools": [tool]})
    *_, plain = await run(Server(body).adapter("lmstudio"))
    *_, with_tool = await run(Server(body).adapter("lmstudio"), request)
    assert isinstance(plain, ProviderResult) and isinstance(with_tool, ProviderResult)
    assert with_tool.input_tokens > plain.input_tokens
