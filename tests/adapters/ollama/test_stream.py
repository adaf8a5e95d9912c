"""Ollama's streamed ``/api/chat`` against the emulator: deltas, the assembled result
(equal to ``complete``'s), errors before the stream, cut streams, and the ends and
in-stream errors no emulator produces."""

import httpx
import orjson
import pytest

from adapters.base import ChatAdapter, TextDelta
from adapters.credentials import Credentials
from adapters.errors import (
    ContextWindowExceeded,
    MalformedResponse,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
    StreamInterrupted,
)
from adapters.ollama.adapter import OllamaAdapter
from emulator.profile import EmulatorConfig, FaultProfile
from emulator.server import RunningEmulator
from schemas.chat import ChatMessage, ResponseFormat, ToolCall
from schemas.providers import OllamaProvider
from tests.adapters.helpers import AdapterFor, Chat, ask, mock_client
from tests.adapters.stream_checks import (
    MakeAdapter,
    calls_of,
    complete_and_stream,
    cut_streams,
    run_stream,
    stream_error,
    text_of,
)
from tests.emulated import WEATHER, StartEmulator, faulty


@pytest.fixture
def ollama(adapter_for: AdapterFor) -> MakeAdapter:
    def make(emulator: RunningEmulator) -> ChatAdapter:
        return adapter_for("ollama", emulator)

    return make


async def test_text_streams_in_pieces_and_ends_as_complete_does(
    start_emulator: StartEmulator, ollama: MakeAdapter, chat: Chat
) -> None:
    request = chat("tell me about the weather in Lisbon today", system="be brief")
    whole, deltas, streamed = await complete_and_stream(start_emulator, ollama, request)
    assert len(deltas) > 3 and all(isinstance(d, TextDelta) for d in deltas)
    assert text_of(deltas) == streamed.content == whole.content
    assert streamed == whole
    assert streamed.upstream_model == "model-a"


async def test_a_tool_call_arrives_whole(
    start_emulator: StartEmulator, ollama: MakeAdapter
) -> None:
    request = ask(ChatMessage(role="user", content="use get_weather for Lisbon"), tools=[WEATHER])
    whole, deltas, streamed = await complete_and_stream(start_emulator, ollama, request)
    [call] = calls_of(deltas)
    # Ollama sends no id: the one derived for the whole reply's call is the same.
    assert (call.index, call.id, call.name) == (0, whole.tool_calls[0].id, "get_weather")
    assert orjson.loads(call.arguments) == {"city": "example"}
    assert (streamed.finish_reason, streamed.content) == ("tool_calls", "")
    assert streamed == whole


async def test_json_mode_and_max_tokens(start_emulator: StartEmulator, ollama: MakeAdapter) -> None:
    as_json = ask(
        ChatMessage(role="user", content="the weather as JSON"),
        response_format=ResponseFormat(type="json_object"),
    )
    whole, deltas, streamed = await complete_and_stream(start_emulator, ollama, as_json)
    assert "answer" in orjson.loads(text_of(deltas))
    assert streamed == whole
    short = ask(ChatMessage(role="user", content="a long story please"), params={"max_tokens": 3})
    whole, _, streamed = await complete_and_stream(start_emulator, ollama, short)
    assert (streamed.finish_reason, streamed.output_tokens) == ("length", 3)
    assert streamed == whole


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (faulty(error_rates={429: 1.0}), RateLimited),
        (faulty(error_rates={500: 1.0}), ProviderUnavailable),
        (EmulatorConfig(default=FaultProfile(context_window=5)), ContextWindowExceeded),
    ],
    ids=["429", "500", "context_window"],
)
async def test_error_statuses_before_the_stream_are_those_of_complete(
    start_emulator: StartEmulator,
    ollama: MakeAdapter,
    chat: Chat,
    config: EmulatorConfig,
    expected: type[ProviderError],
) -> None:
    request = chat("word " * 30)
    with pytest.raises(expected) as whole:
        await ollama(await start_emulator(config)).complete(request, timeout_s=5)
    deltas, error = await stream_error(ollama(await start_emulator(config)), request)
    assert deltas == []
    assert type(error) is expected
    assert str(error) == str(whole.value)
    assert error.retry_after_s == whole.value.retry_after_s


@pytest.mark.parametrize("after_frames", [0, 1, 4])
async def test_a_cut_stream_raises_stream_interrupted(
    start_emulator: StartEmulator, ollama: MakeAdapter, chat: Chat, after_frames: int
) -> None:
    emulator = await start_emulator()
    await cut_streams(emulator, "model-a", after_frames)
    deltas, error = await stream_error(ollama(emulator), chat())
    assert type(error) is StreamInterrupted
    # Every line before the cut held a piece of text.
    assert len(deltas) == after_frames


# Streams the emulator does not produce, served whole from a mock transport.


def line(content: str = "", *, done: bool = False, **fields: object) -> bytes:
    body: dict[str, object] = {
        "model": "llama3.2",
        "created_at": "2025-01-01T00:00:00Z",
        "message": {"role": "assistant", "content": content, **fields},
        "done": done,
    }
    if done:
        body |= {"done_reason": "stop", "prompt_eval_count": 9, "eval_count": 5}
    return orjson.dumps(body) + b"\n"


def served(lines: list[bytes], sent: list[httpx.Request] | None = None) -> ChatAdapter:
    def handle(request: httpx.Request) -> httpx.Response:
        (sent if sent is not None else []).append(request)
        return httpx.Response(
            200, content=b"".join(lines), headers={"content-type": "application/x-ndjson"}
        )

    config = OllamaProvider(format="ollama", base_url="http://mock.test")
    return OllamaAdapter("mock", config, mock_client(handle), Credentials())


def calls(*names: str) -> list[dict[str, object]]:
    return [{"function": {"name": name, "arguments": {"q": name}}} for name in names]


async def test_calls_in_several_lines_are_numbered_across_the_reply(chat: Chat) -> None:
    lines = [
        line("let me look"),
        line(tool_calls=calls("a", "b")),
        line(tool_calls=calls("c")),
        line(done=True),
    ]
    sent: list[httpx.Request] = []
    deltas, streamed = await run_stream(served(lines, sent), chat())
    assert orjson.loads(sent[0].content)["stream"] is True
    assert [(d.index, d.name) for d in calls_of(deltas)] == [(0, "a"), (1, "b"), (2, "c")]
    whole_body = orjson.loads(line("let me look", done=True, tool_calls=calls("a", "b", "c")))
    whole = await served([orjson.dumps(whole_body)], sent).complete(chat(), timeout_s=5)
    assert orjson.loads(sent[1].content)["stream"] is False
    assert streamed == whole
    assert [c.id for c in streamed.tool_calls] == [d.id for d in calls_of(deltas)]
    assert streamed.tool_calls[2] == ToolCall(
        id=calls_of(deltas)[2].id or "", name="c", arguments={"q": "c"}
    )


@pytest.mark.parametrize(
    ("lines", "deltas", "expected"),
    [
        # A body that ends cleanly, but before its done line.
        ([line("hello"), line(" there")], 2, StreamInterrupted),
        ([], 0, StreamInterrupted),
        # The runner failed after the stream had begun.
        ([line("hello"), b'{"error":"llama runner process has terminated"}\n'], 1,
         ProviderUnavailable),
        ([line("hello"), b"{oops\n"], 1, MalformedResponse),
        ([line("hello"), b'{"done": true}\n'], 1, MalformedResponse),
    ],
    ids=["no_done", "empty", "error_line", "bad_json", "no_message"],
)  # fmt: skip
async def test_unfinished_or_failed_streams(
    chat: Chat, lines: list[bytes], deltas: int, expected: type[ProviderError]
) -> None:
    before, error = await stream_error(served(lines), chat())
    assert len(before) == deltas
    assert type(error) is expected
    if expected is ProviderUnavailable:
        assert error.message == "llama runner process has terminated"


async def test_blank_lines_are_skipped(chat: Chat) -> None:
    deltas, result = await run_stream(served([line("hi"), b"\n", line(done=True)]), chat())
    assert deltas == [TextDelta(text="hi")]
    assert (result.content, result.input_tokens, result.output_tokens) == ("hi", 9, 5)
