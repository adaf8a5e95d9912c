"""A model's fixed answer in the emulator profile, through every adapter, whole and streamed:
plain-text replies say it, JSON mode and tool calls keep their shape, max_tokens cuts it."""

from __future__ import annotations

import orjson
import pytest

from adapters.base import ChatAdapter, ProviderRequest, ProviderResult
from emulator.profile import EmulatorConfig, FaultProfile
from schemas.chat import ResponseFormat
from tests.adapters.helpers import TIMEOUT_S, AdapterFor, Chat
from tests.emulated import WEATHER, StartEmulator

FORMATS = ["openai", "anthropic", "gemini", "cohere", "ollama", "bedrock"]
ANSWER = "The answer is 42."


async def answer(adapter: ChatAdapter, request: ProviderRequest, streamed: bool) -> ProviderResult:
    if not streamed:
        return await adapter.complete(request, timeout_s=TIMEOUT_S)
    parts = [part async for part in adapter.stream(request, timeout_s=TIMEOUT_S)]
    last = parts[-1]
    assert isinstance(last, ProviderResult)
    return last


def fixed(**more: str) -> EmulatorConfig:
    return EmulatorConfig(
        models={
            "model-a": FaultProfile(answer=ANSWER),
            **{name: FaultProfile(answer=text) for name, text in more.items()},
        }
    )


@pytest.mark.parametrize("streamed", [False, True])
@pytest.mark.parametrize("fmt", FORMATS)
async def test_a_model_with_a_fixed_answer_says_it(
    start_emulator: StartEmulator, adapter: AdapterFor, chat: Chat, fmt: str, streamed: bool
) -> None:
    emulator = await start_emulator(fixed(**{"model-b": "41"}))
    first = await answer(adapter(fmt, emulator), chat("what is 6 x 7?"), streamed)
    assert (first.content, first.finish_reason) == (ANSWER, "stop")
    other = await answer(adapter(fmt, emulator), chat("what is 6 x 7?", model="model-b"), streamed)
    assert other.content == "41"
    # A model without one still echoes the prompt.
    echo = await answer(adapter(fmt, emulator), chat("what is 6 x 7?", model="model-c"), streamed)
    assert "6" in echo.content and echo.content != ANSWER


@pytest.mark.parametrize("fmt", ["openai", "anthropic"])
async def test_an_empty_fixed_answer_is_empty(
    start_emulator: StartEmulator, adapter: AdapterFor, chat: Chat, fmt: str
) -> None:
    emulator = await start_emulator(EmulatorConfig(models={"model-a": FaultProfile(answer="")}))
    result = await answer(adapter(fmt, emulator), chat("hello"), streamed=False)
    assert (result.content, result.tool_calls) == ("", [])


@pytest.mark.parametrize("fmt", ["openai", "anthropic"])
async def test_max_tokens_cuts_a_fixed_answer(
    start_emulator: StartEmulator, adapter: AdapterFor, chat: Chat, fmt: str
) -> None:
    emulator = await start_emulator(fixed())
    result = await answer(adapter(fmt, emulator), chat("hello", max_tokens=2), streamed=False)
    assert ANSWER.startswith(result.content) and len(result.content) < len(ANSWER)
    assert (result.finish_reason, result.output_tokens) == ("length", 2)


async def test_json_mode_and_tool_calls_keep_their_shape(
    start_emulator: StartEmulator, adapter: AdapterFor, chat: Chat
) -> None:
    emulator = await start_emulator(fixed())
    client = adapter("openai", emulator)
    as_json = chat("give me json").model_copy(
        update={"response_format": ResponseFormat(type="json_object")}
    )
    document = await answer(client, as_json, streamed=False)
    assert isinstance(orjson.loads(document.content), dict)
    tool = chat("use get_weather for Lisbon").model_copy(update={"tools": [WEATHER]})
    called = await answer(client, tool, streamed=False)
    assert [c.name for c in called.tool_calls] == ["get_weather"]
