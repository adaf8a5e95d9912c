"""Cohere's streamed chat against the emulator: deltas, the assembled result (equal to
``complete``'s), errors before the stream, cut streams, and ends no emulator produces."""

import httpx
import orjson
import pytest

from adapters.base import ChatAdapter, TextDelta, ToolCallDelta
from adapters.cohere.adapter import CohereAdapter
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
from emulator.base import ChatCall
from emulator.cohere.wire import CohereWire
from emulator.generate import EmulatedToolCall, Reply
from emulator.profile import EmulatorConfig, FaultProfile
from emulator.server import RunningEmulator
from schemas.chat import ChatMessage, ResponseFormat
from schemas.providers import CohereProvider
from tests.adapters.helpers import TIMEOUT_S, AdapterFor, Chat, ask, mock_client
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
def cohere(adapter_for: AdapterFor) -> MakeAdapter:
    def make(emulator: RunningEmulator) -> ChatAdapter:
        return adapter_for("cohere", emulator)

    return make


async def test_text_streams_in_pieces_and_ends_as_complete_does(
    start_emulator: StartEmulator, cohere: MakeAdapter, chat: Chat
) -> None:
    request = chat("tell me about the weather in Lisbon today", system="be brief")
    whole, deltas, streamed = await complete_and_stream(start_emulator, cohere, request)
    assert len(deltas) > 3 and all(isinstance(d, TextDelta) for d in deltas)
    assert text_of(deltas) == streamed.content == whole.content
    assert streamed == whole
    assert streamed.provider_request_id and streamed.provider_request_id.startswith("req_")


async def test_tool_call_arguments_arrive_split(
    start_emulator: StartEmulator, cohere: MakeAdapter
) -> None:
    request = ask(ChatMessage(role="user", content="use get_weather for Lisbon"), tools=[WEATHER])
    whole, deltas, streamed = await complete_and_stream(start_emulator, cohere, request)
    calls = calls_of(deltas)
    assert len(calls) > 2
    first, *rest = calls
    assert (first.index, first.name, first.id) == (0, "get_weather", whole.tool_calls[0].id)
    assert all(c.index == 0 and c.name is None for c in rest)
    assert orjson.loads("".join(c.arguments for c in calls)) == {"city": "example"}
    # The plan said before the call is the answer's text, streamed and whole.
    assert text_of(deltas) == streamed.content == whole.content == "I will call get_weather."
    assert streamed.finish_reason == "tool_calls"
    assert streamed == whole


async def test_json_mode_and_max_tokens(start_emulator: StartEmulator, cohere: MakeAdapter) -> None:
    as_json = ask(
        ChatMessage(role="user", content="the weather as JSON"),
        response_format=ResponseFormat(type="json_object"),
    )
    whole, deltas, streamed = await complete_and_stream(start_emulator, cohere, as_json)
    assert "answer" in orjson.loads(text_of(deltas))
    assert streamed == whole
    short = ask(ChatMessage(role="user", content="a long story please"), params={"max_tokens": 3})
    whole, _, streamed = await complete_and_stream(start_emulator, cohere, short)
    assert (streamed.finish_reason, streamed.output_tokens) == ("length", 3)
    assert streamed == whole


async def test_cached_tokens_reach_the_streamed_result(
    start_emulator: StartEmulator, cohere: MakeAdapter
) -> None:
    emulator = await start_emulator()
    request = ask(ChatMessage(role="user", content="word " * 6000))
    first = await cohere(emulator).complete(request, timeout_s=TIMEOUT_S)
    _, repeat = await run_stream(cohere(emulator), request)
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
    ids=["429", "503", "context_window", "no_key"],
)
async def test_error_statuses_before_the_stream_are_those_of_complete(
    start_emulator: StartEmulator,
    adapter: AdapterFor,
    chat: Chat,
    config: EmulatorConfig,
    keyed: bool,
    expected: type[ProviderError],
) -> None:
    request = chat("word " * 30)
    with pytest.raises(expected) as whole:
        await adapter("cohere", await start_emulator(config), keyed=keyed).complete(
            request, timeout_s=TIMEOUT_S
        )
    deltas, error = await stream_error(
        adapter("cohere", await start_emulator(config), keyed=keyed), request
    )
    assert deltas == []
    assert type(error) is expected
    assert str(error) == str(whole.value)
    assert error.retry_after_s == whole.value.retry_after_s
    assert error.provider_request_id == whole.value.provider_request_id


@pytest.mark.parametrize("after_frames", [0, 1, 4])
async def test_a_cut_stream_raises_stream_interrupted(
    start_emulator: StartEmulator, cohere: MakeAdapter, chat: Chat, after_frames: int
) -> None:
    emulator = await start_emulator()
    await cut_streams(emulator, "model-a", after_frames)
    deltas, error = await stream_error(cohere(emulator), chat())
    assert type(error) is StreamInterrupted
    # message-start is the first frame; each later one held a piece of text.
    assert len(deltas) == max(0, after_frames - 2)


# Stream ends the emulator does not produce, served whole from a mock transport.

TEXT = Reply("it is sunny in Lisbon", 6, "end_turn")
TOOL = Reply("", 4, "tool_use", tool_call=EmulatedToolCall("get_weather", {"city": "X"}, "c1"))
CALL = ChatCall(model="model-a", prompt="hi", prompt_tokens=3, max_tokens=None)


def frames_of(reply: Reply) -> list[bytes]:
    return CohereWire().stream_frames(CALL, reply, "gen-1", 0)


def served(frames: list[bytes]) -> ChatAdapter:
    def handle(request: httpx.Request) -> httpx.Response:
        assert orjson.loads(request.content)["stream"] is True
        return httpx.Response(
            200, content=b"".join(frames), headers={"content-type": "text/event-stream"}
        )

    config = CohereProvider(format="cohere", base_url="http://mock.test")
    return CohereAdapter("mock", config, mock_client(handle), Credentials(api_key="k"))


def message_end(**delta: object) -> bytes:
    event = {"type": "message-end", "delta": delta}
    return b"event: message-end\ndata: " + orjson.dumps(event) + b"\n\n"


@pytest.mark.parametrize(
    ("frames", "expected"),
    [
        # A body that ends cleanly, but before message-end.
        (frames_of(TEXT)[:-1], StreamInterrupted),
        (frames_of(TOOL)[:-1], StreamInterrupted),
        ([], StreamInterrupted),
        ([*frames_of(TEXT)[:-1], message_end(finish_reason="ERROR_TOXIC")], ContentFiltered),
        ([*frames_of(TEXT)[:-1], message_end(finish_reason="ERROR")], ProviderUnavailable),
        ([*frames_of(TEXT)[:-1], message_end(finish_reason="COMPLETE")], MalformedResponse),
        ([*frames_of(TEXT)[:2], b"data: {oops\n\n"], MalformedResponse),
    ],
    ids=["no_end", "no_end_tool", "empty", "toxic", "error", "no_usage", "bad_json"],
)
async def test_unfinished_or_failed_streams(
    chat: Chat, frames: list[bytes], expected: type[ProviderError]
) -> None:
    _, error = await stream_error(served(frames), chat())
    assert type(error) is expected
    # With no header to name the call, the generation id from message-start does.
    assert error.provider_request_id == ("gen-1" if frames else None)


async def test_a_whole_mocked_stream_reads_back(chat: Chat) -> None:
    deltas, result = await run_stream(served(frames_of(TOOL)), chat())
    assert [type(d) for d in deltas[-3:]] == [ToolCallDelta] * 3
    assert result.tool_calls[0].arguments == {"city": "X"}
    assert (result.input_tokens, result.output_tokens) == (3, 4)
    assert result.provider_request_id == "gen-1"
