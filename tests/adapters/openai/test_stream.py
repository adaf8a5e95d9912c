"""The OpenAI adapter's stream() against the emulator: deltas as they come, a result equal
to complete()'s for the same call, errors as complete() raises them, and a cut stream
that is never taken for a finished one."""

from typing import get_args

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
from adapters.capabilities import check_supported
from adapters.credentials import Credentials
from adapters.errors import (
    AuthenticationFailed,
    ContentFiltered,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
    StreamInterrupted,
)
from adapters.openai.adapter import OpenAIAdapter
from adapters.openai.payload import build_payload
from adapters.openai.presets import PRESETS
from emulator.server import RunningEmulator
from schemas.chat import ChatMessage, ResponseFormat, ToolSpec
from schemas.providers import OpenAIPreset, OpenAIProvider
from tests.adapters.helpers import TIMEOUT_S, AdapterFor, Chat
from tests.adapters.stream_checks import complete_and_stream, cut_streams, run_stream, stream_error
from tests.emulated import StartEmulator, faulty

WEATHER = ToolSpec(
    name="get_weather",
    description="current weather",
    parameters={
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 2}},
    },
)


async def streamed_and_completed(
    start_emulator: StartEmulator, adapter_for: AdapterFor, request: ProviderRequest
) -> tuple[list[StreamDelta], ProviderResult, ProviderResult]:
    completed, deltas, streamed = await complete_and_stream(
        start_emulator, lambda emulator: adapter_for("openai", emulator), request
    )
    return deltas, streamed, completed


async def fails_with(
    adapter: ChatAdapter, request: ProviderRequest, expected: type[ProviderError]
) -> tuple[list[StreamDelta], ProviderError]:
    deltas, error = await stream_error(adapter, request)
    assert isinstance(error, expected), error
    return deltas, error


async def test_text_stream_equals_complete(
    start_emulator: StartEmulator, adapter_for: AdapterFor, chat: Chat
) -> None:
    deltas, streamed, completed = await streamed_and_completed(
        start_emulator, adapter_for, chat("tell me about the rivers of Portugal")
    )
    assert streamed == completed
    assert all(isinstance(d, TextDelta) for d in deltas) and len(deltas) >= 2
    assert "".join(d.text for d in deltas if isinstance(d, TextDelta)) == streamed.content
    assert streamed.finish_reason == "stop"
    assert streamed.input_tokens > 0 and streamed.output_tokens > 0
    assert streamed.provider_request_id is not None


async def test_max_tokens_finish_equals_complete(
    start_emulator: StartEmulator, adapter_for: AdapterFor, chat: Chat
) -> None:
    request = chat("name every river you know", max_tokens=3)
    _, streamed, completed = await streamed_and_completed(start_emulator, adapter_for, request)
    assert streamed == completed
    assert (streamed.finish_reason, streamed.output_tokens) == ("length", 3)


async def test_tool_call_arguments_arrive_in_pieces(
    start_emulator: StartEmulator, adapter_for: AdapterFor, chat: Chat
) -> None:
    request = chat("use get_weather for Lisbon").model_copy(update={"tools": [WEATHER]})
    deltas, streamed, completed = await streamed_and_completed(start_emulator, adapter_for, request)
    assert streamed == completed
    [call] = streamed.tool_calls
    assert (call.name, call.arguments) == ("get_weather", {"city": "example", "days": 2})
    assert streamed.finish_reason == "tool_calls"
    first, *rest = deltas
    assert isinstance(first, ToolCallDelta)
    assert (first.index, first.id, first.name) == (0, call.id, "get_weather")
    # Only the first piece names the call; the arguments come split over several.
    assert len(rest) >= 2
    assert all(isinstance(d, ToolCallDelta) and (d.index, d.id, d.name) == (0, None, None)
               for d in rest)  # fmt: skip
    joined = "".join(d.arguments for d in deltas if isinstance(d, ToolCallDelta))
    assert orjson.loads(joined) == call.arguments


@pytest.mark.parametrize(
    "fmt",
    [
        ResponseFormat(type="json_object"),
        ResponseFormat(type="json_schema", json_schema=WEATHER.parameters),
    ],
)
async def test_json_output_equals_complete(
    start_emulator: StartEmulator, adapter_for: AdapterFor, chat: Chat, fmt: ResponseFormat
) -> None:
    request = chat("weather as json").model_copy(update={"response_format": fmt})
    deltas, streamed, completed = await streamed_and_completed(start_emulator, adapter_for, request)
    assert streamed == completed
    assert len(deltas) >= 2
    document = orjson.loads("".join(d.text for d in deltas if isinstance(d, TextDelta)))
    assert set(document) == ({"answer"} if fmt.type == "json_object" else {"city", "days"})


async def test_cached_tokens_equal_complete(
    start_emulator: StartEmulator, adapter_for: AdapterFor, chat: Chat
) -> None:
    streaming, completing = await start_emulator(), await start_emulator()
    request = chat("lorem ipsum " * 600)
    for _ in range(2):  # the emulator caches a long prompt the second time it sees it
        _, streamed = await run_stream(adapter_for("openai", streaming), request)
        completed = await adapter_for("openai", completing).complete(request, timeout_s=TIMEOUT_S)
    assert streamed == completed
    assert 0 < streamed.cached_input_tokens <= streamed.input_tokens


async def force_status(emulator: RunningEmulator, status: int) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.post(
            f"{emulator.base_url}/_emulator/fault",
            json={"model": "model-a", "status": status, "seconds": 60},
        )
    response.raise_for_status()


@pytest.mark.parametrize(
    ("status", "expected"),
    [(429, RateLimited), (500, ProviderUnavailable), (503, ProviderUnavailable)],
)
async def test_error_status_before_the_stream(
    start_emulator: StartEmulator,
    adapter_for: AdapterFor,
    chat: Chat,
    status: int,
    expected: type[ProviderError],
) -> None:
    emulator = await start_emulator()
    await force_status(emulator, status)
    adapter = adapter_for("openai", emulator)
    parts, error = await fails_with(adapter, chat(), expected)
    assert parts == []
    with pytest.raises(expected) as completing:
        await adapter.complete(chat(), timeout_s=TIMEOUT_S)
    # Translated exactly as complete() translates it.
    assert type(error) is type(completing.value)
    assert (error.status_code, error.retry_after_s) == (status, completing.value.retry_after_s)
    assert error.retry_after_s == (1.0 if status == 429 else None)


async def test_missing_key_is_an_authentication_failure(
    start_emulator: StartEmulator, adapter_for: AdapterFor, chat: Chat
) -> None:
    adapter = adapter_for("openai", await start_emulator(), api_key=None)
    _, error = await fails_with(adapter, chat(), AuthenticationFailed)
    assert error.status_code == 401


async def test_content_filter_fault_is_content_filtered(
    start_emulator: StartEmulator, adapter_for: AdapterFor, chat: Chat
) -> None:
    emulator = await start_emulator(faulty(content_filter_rate=1.0))
    await fails_with(adapter_for("openai", emulator), chat(), ContentFiltered)


async def frame_count(emulator: RunningEmulator, request: ProviderRequest) -> int:
    """How many SSE events the uncut stream of ``request`` has, [DONE] included."""
    payload = {**build_payload(request), "stream": True, "stream_options": {"include_usage": True}}
    async with httpx.AsyncClient() as client:
        response = await client.post(
            f"{emulator.base_url}/v1/chat/completions",
            json=payload,
            headers={"authorization": "Bearer k"},
        )
    return response.content.count(b"\n\n")


@pytest.mark.parametrize("missing", ["all", "most", "usage and done", "done"])
async def test_cut_stream_raises_stream_interrupted(
    start_emulator: StartEmulator, adapter_for: AdapterFor, chat: Chat, missing: str
) -> None:
    emulator = await start_emulator()
    request = chat("tell me about the rivers of Portugal")
    total = await frame_count(emulator, request)
    after = {"all": 0, "most": 3, "usage and done": total - 2, "done": total - 1}[missing]
    await cut_streams(emulator, "model-a", after)
    parts, error = await fails_with(adapter_for("openai", emulator), request, StreamInterrupted)
    assert error.kind == "stream_interrupted" and error.retryable
    # What came before the cut was delivered. The frames: the role chunk, the text
    # pieces, the finish chunk, the usage chunk and [DONE].
    assert len(parts) == min(max(after - 1, 0), total - 4)
    assert all(isinstance(p, TextDelta) for p in parts)


def preset_adapter(
    preset: OpenAIPreset, emulator: RunningEmulator, client: httpx.AsyncClient
) -> OpenAIAdapter:
    base = emulator.base_url
    url = base if preset in ("azure", "perplexity") else f"{base}/v1"
    version = "2024-10-21" if preset == "azure" else None
    config = OpenAIProvider(format="openai", preset=preset, base_url=url, api_version=version)
    return OpenAIAdapter(preset, config, client, Credentials("k"))


def preset_request(preset: OpenAIPreset) -> ProviderRequest:
    request = ProviderRequest(
        upstream_model="model-a",
        messages=[ChatMessage(role="user", content="call get_weather about Lisbon")],
    )
    if "tools" in PRESETS[preset].features:
        request = request.model_copy(update={"tools": [WEATHER]})
    check_supported(request, PRESETS[preset].capabilities, preset)
    return request


@pytest.mark.parametrize("preset", get_args(OpenAIPreset))
async def test_every_preset_streams_what_it_completes(
    start_emulator: StartEmulator, http_client: httpx.AsyncClient, preset: OpenAIPreset
) -> None:
    streaming, completing = await start_emulator(), await start_emulator()
    request = preset_request(preset)
    _, streamed = await run_stream(preset_adapter(preset, streaming, http_client), request)
    completed = await preset_adapter(preset, completing, http_client).complete(
        request, timeout_s=TIMEOUT_S
    )
    assert bool(streamed.citations) is (preset == "perplexity")
    if PRESETS[preset].stream_options or preset == "perplexity":
        assert streamed == completed
        return
    # Mistral is not asked for usage, and the emulator (OpenAI's behaviour) sends none
    # unasked: the tokens are estimated, never 0; everything else is the same.
    assert streamed.input_tokens > 0 and streamed.output_tokens > 0
    tokens = {"input_tokens", "output_tokens"}
    assert streamed.model_dump(exclude=tokens) == completed.model_dump(exclude=tokens)


async def test_perplexity_cut_before_its_finish_is_interrupted(
    start_emulator: StartEmulator, http_client: httpx.AsyncClient
) -> None:
    emulator = await start_emulator()
    await cut_streams(emulator, "model-a", 3)
    adapter = preset_adapter("perplexity", emulator, http_client)
    parts, _ = await fails_with(adapter, preset_request("perplexity"), StreamInterrupted)
    assert len(parts) == 2
