"""Bedrock's ConverseStream against the emulator: deltas, the assembled result (equal to
``complete``'s), errors before the stream, cut streams; and, served from a mock
transport, what the emulator does not send: exceptions inside the stream, bodies split
mid-message, and ends before ``metadata``."""

from collections.abc import AsyncIterator

import httpx
import orjson
import pytest

from adapters.base import ChatAdapter, TextDelta, ToolCallDelta
from adapters.bedrock.adapter import BedrockAdapter
from adapters.credentials import Credentials
from adapters.errors import (
    AuthenticationFailed,
    ContentFiltered,
    ContextWindowExceeded,
    MalformedResponse,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
    StreamInterrupted,
)
from emulator.bedrock.eventstream import encode_message, event, exception
from emulator.profile import EmulatorConfig, FaultProfile
from emulator.server import RunningEmulator
from schemas.chat import ResponseFormat
from schemas.providers import BedrockProvider
from tests.adapters.bedrock.helpers import CLAUDE, KEYS, WEATHER, ask, user
from tests.adapters.helpers import Bedrock, mock_client
from tests.adapters.stream_checks import (
    MakeAdapter,
    calls_of,
    complete_and_stream,
    cut_streams,
    run_stream,
    stream_error,
    text_of,
)
from tests.emulated import StartEmulator, faulty


@pytest.fixture
def signed(bedrock: Bedrock) -> MakeAdapter:
    def make(emulator: RunningEmulator) -> ChatAdapter:
        return bedrock(emulator.base_url)

    return make


async def test_text_streams_in_pieces_and_ends_as_complete_does(
    start_emulator: StartEmulator, signed: MakeAdapter
) -> None:
    # The model id's dots and colon go into the signed converse-stream path too.
    request = ask(user("tell me about the weather in Lisbon today"), model=CLAUDE)
    whole, deltas, streamed = await complete_and_stream(start_emulator, signed, request)
    assert len(deltas) > 3 and all(isinstance(d, TextDelta) for d in deltas)
    assert text_of(deltas) == streamed.content == whole.content
    assert streamed == whole
    assert streamed.provider_request_id and streamed.provider_request_id.startswith("req_")


async def test_tool_input_arrives_split(start_emulator: StartEmulator, signed: MakeAdapter) -> None:
    request = ask(user("use get_weather for Lisbon"), model=CLAUDE, tools=[WEATHER])
    whole, deltas, streamed = await complete_and_stream(start_emulator, signed, request)
    first, *rest = calls_of(deltas)
    assert (first.index, first.id, first.name, first.arguments) == (
        0,
        whole.tool_calls[0].id,
        "get_weather",
        "",
    )
    assert len(rest) > 1 and all(c.index == 0 and c.id is None for c in rest)
    assert orjson.loads("".join(c.arguments for c in rest)) == {"city": "example"}
    assert streamed.finish_reason == "tool_calls"
    assert streamed == whole


async def test_json_schema_and_max_tokens(
    start_emulator: StartEmulator, signed: MakeAdapter
) -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}}
    as_json = ask(
        user("a number as JSON"),
        model=CLAUDE,
        response_format=ResponseFormat(type="json_schema", json_schema=schema),
    )
    whole, deltas, streamed = await complete_and_stream(start_emulator, signed, as_json)
    assert orjson.loads(text_of(deltas)) == {"n": 1}
    assert streamed == whole
    short = ask(user("a long story please"), model=CLAUDE, params={"max_tokens": 3})
    whole, _, streamed = await complete_and_stream(start_emulator, signed, short)
    assert (streamed.finish_reason, streamed.output_tokens) == ("length", 3)
    assert streamed == whole


async def test_cached_tokens_reach_the_streamed_result(
    start_emulator: StartEmulator, signed: MakeAdapter
) -> None:
    emulator = await start_emulator()
    request = ask(user("shared preamble " * 400), model=CLAUDE)
    first = await signed(emulator).complete(request, timeout_s=5)
    _, repeat = await run_stream(signed(emulator), request)
    assert first.cached_input_tokens == 0
    assert 0 < repeat.cached_input_tokens <= repeat.input_tokens == first.input_tokens


@pytest.mark.parametrize(
    ("config", "keyed", "expected"),
    [
        (faulty(error_rates={429: 1.0}), True, RateLimited),
        (faulty(error_rates={503: 1.0}), True, ProviderUnavailable),
        (EmulatorConfig(default=FaultProfile(context_window=5)), True, ContextWindowExceeded),
        (EmulatorConfig(), False, AuthenticationFailed),
    ],
    ids=["429", "503", "context_window", "unsigned"],
)
async def test_error_statuses_before_the_stream_are_those_of_complete(
    start_emulator: StartEmulator,
    bedrock: Bedrock,
    config: EmulatorConfig,
    keyed: bool,
    expected: type[ProviderError],
) -> None:
    request = ask(user("word " * 30), model=CLAUDE)
    keys = KEYS if keyed else None
    with pytest.raises(expected) as whole:
        await bedrock((await start_emulator(config)).base_url, keys).complete(request, timeout_s=5)
    deltas, error = await stream_error(
        bedrock((await start_emulator(config)).base_url, keys), request
    )
    assert deltas == []
    assert type(error) is expected
    assert str(error) == str(whole.value)
    assert error.retry_after_s == whole.value.retry_after_s
    assert error.provider_request_id == whole.value.provider_request_id


@pytest.mark.parametrize("after_frames", [0, 1, 4])
async def test_a_cut_stream_raises_stream_interrupted(
    start_emulator: StartEmulator, signed: MakeAdapter, after_frames: int
) -> None:
    emulator = await start_emulator()
    await cut_streams(emulator, CLAUDE, after_frames)
    deltas, error = await stream_error(signed(emulator), ask(user("tell me a story"), model=CLAUDE))
    assert type(error) is StreamInterrupted
    # messageStart is the first message; each later one held a piece of text.
    assert len(deltas) == max(0, after_frames - 1)


# Streams the emulator does not send, served from a mock transport.

START = event("messageStart", {"role": "assistant"})
METADATA = event(
    "metadata",
    {"usage": {"inputTokens": 3, "outputTokens": 2, "totalTokens": 5}, "metrics": {"latencyMs": 9}},
)


def text(piece: str, index: int = 0) -> bytes:
    return event("contentBlockDelta", {"contentBlockIndex": index, "delta": {"text": piece}})


def block_stop(index: int) -> bytes:
    return event("contentBlockStop", {"contentBlockIndex": index})


def message_stop(reason: str = "end_turn") -> bytes:
    return event("messageStop", {"stopReason": reason})


def tool_block(index: int, tool_id: str, *pieces: str) -> list[bytes]:
    start = {"toolUse": {"toolUseId": tool_id, "name": "get_weather"}}
    return [
        event("contentBlockStart", {"contentBlockIndex": index, "start": start}),
        *(
            event(
                "contentBlockDelta",
                {"contentBlockIndex": index, "delta": {"toolUse": {"input": p}}},
            )
            for p in pieces
        ),
        block_stop(index),
    ]


def served(messages: list[bytes], *, chunk: int | None = None) -> ChatAdapter:
    """An adapter whose calls get ``messages`` as the body, in pieces of ``chunk`` bytes."""
    body = b"".join(messages)

    async def pieces() -> AsyncIterator[bytes]:
        size = chunk or len(body) or 1
        for i in range(0, len(body), size):
            yield body[i : i + size]

    def handle(request: httpx.Request) -> httpx.Response:
        assert request.url.path == f"/model/{CLAUDE}/converse-stream"
        assert request.headers["authorization"].startswith("AWS4-HMAC-SHA256 ")
        headers = {"content-type": "application/vnd.amazon.eventstream", "x-amzn-RequestId": "r-1"}
        return httpx.Response(200, content=pieces(), headers=headers)

    config = BedrockProvider(format="bedrock", base_url="http://mock.test", region="us-east-1")
    return BedrockAdapter("mock", config, mock_client(handle), Credentials(aws=KEYS))


async def test_messages_split_across_reads_and_blocks_after_text() -> None:
    messages = [
        START,
        text("let me "),
        text("check"),
        block_stop(0),
        *tool_block(1, "t-1", '{"city"', ': "Lisbon"}'),
        *tool_block(2, "t-2"),
        message_stop("tool_use"),
        METADATA,
    ]
    deltas, result = await run_stream(served(messages, chunk=5), ask(user("hi"), model=CLAUDE))
    assert deltas[:2] == [TextDelta(text="let me "), TextDelta(text="check")]
    assert deltas[2:] == [
        ToolCallDelta(index=0, id="t-1", name="get_weather"),
        ToolCallDelta(index=0, arguments='{"city"'),
        ToolCallDelta(index=0, arguments=': "Lisbon"}'),
        ToolCallDelta(index=1, id="t-2", name="get_weather"),
    ]
    assert result.content == "let me check"
    assert [(c.id, c.arguments) for c in result.tool_calls] == [
        ("t-1", {"city": "Lisbon"}),
        ("t-2", {}),
    ]
    assert (result.finish_reason, result.input_tokens, result.output_tokens) == ("tool_calls", 3, 2)
    assert result.provider_request_id == "r-1"


@pytest.mark.parametrize(
    ("name", "message", "expected"),
    [
        ("throttlingException", "Too many tokens, please wait", RateLimited),
        ("modelStreamErrorException", "the model stopped", ProviderUnavailable),
        ("internalServerException", "oops", ProviderUnavailable),
        ("serviceUnavailableException", "busy", ProviderUnavailable),
        ("validationException", "Input is too long for requested model.", ContextWindowExceeded),
        ("somethingNewException", "new", ProviderUnavailable),
    ],
)
async def test_exceptions_inside_the_stream(
    name: str, message: str, expected: type[ProviderError]
) -> None:
    messages = [START, text("partial"), exception(name, message), METADATA]
    deltas, error = await stream_error(served(messages), ask(user("hi"), model=CLAUDE))
    assert deltas == [TextDelta(text="partial")]
    assert type(error) is expected
    assert error.message == f"{name[0].upper()}{name[1:]}: {message}"
    assert error.provider_request_id == "r-1"


async def test_an_unmodelled_error_message_is_named_by_its_code() -> None:
    headers = {
        ":message-type": "error",
        ":error-code": "ThrottlingException",
        ":error-message": "slow down",
    }
    messages = [START, encode_message(headers, b"")]
    _, error = await stream_error(served(messages), ask(user("hi"), model=CLAUDE))
    assert type(error) is RateLimited
    assert error.message == "ThrottlingException: slow down"


def corrupted(message: bytes) -> bytes:
    return message[:-1] + bytes([message[-1] ^ 0xFF])


@pytest.mark.parametrize(
    ("messages", "expected"),
    [
        ([], StreamInterrupted),
        ([START, text("hi")], StreamInterrupted),
        # messageStop came, but the usage never did.
        ([START, text("hi"), block_stop(0), message_stop()], StreamInterrupted),
        ([START, text("hi"), METADATA], MalformedResponse),
        ([START, corrupted(text("hi"))], MalformedResponse),
        ([START, event("contentBlockDelta", {"delta": {"text": "no index"}})], MalformedResponse),
        ([START, *tool_block(0, "t", "{}")[1:]], MalformedResponse),
        ([START, text("hi"), message_stop("guardrail_intervened"), METADATA], ContentFiltered),
    ],
    ids=[
        "empty",
        "no_stop",
        "no_metadata",
        "metadata_first",
        "bad_crc",
        "no_index",
        "unopened_tool",
        "guardrail",
    ],
)
async def test_unfinished_or_unusable_streams(
    messages: list[bytes], expected: type[ProviderError]
) -> None:
    _, error = await stream_error(served(messages, chunk=7), ask(user("hi"), model=CLAUDE))
    assert type(error) is expected
