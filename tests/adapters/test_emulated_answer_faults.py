"""The emulator's answer faults (a call that succeeds with a bad answer) through every
adapter, whole and streamed: what arrives is a normal result the quality checks reject,
and the emulator's stats count each fault."""

from __future__ import annotations

import random

import pytest
from pydantic import ValidationError

from adapters.base import ChatAdapter, ProviderRequest, ProviderResult
from adapters.capabilities import check_supported
from adapters.errors import UnsupportedFeature
from emulator.generate import REFUSAL_TEXT
from emulator.profile import EmulatorConfig, FaultProfile
from policy.quality import ORDER, first_failure
from schemas.chat import ResponseFormat
from schemas.events import LLMRequest
from tests.adapters.helpers import TIMEOUT_S, AdapterFor, Chat, Stats
from tests.emulated import WEATHER, StartEmulator, faulty

FORMATS = ["openai", "anthropic", "gemini", "cohere", "ollama", "bedrock"]
# Anthropic's and Bedrock's wire formats have no JSON mode (checked below).
JSON_MODE_FORMATS = ["openai", "gemini", "cohere", "ollama"]
JSON_MODE = ResponseFormat(type="json_object")


async def answer(adapter: ChatAdapter, request: ProviderRequest, streamed: bool) -> ProviderResult:
    if not streamed:
        return await adapter.complete(request, timeout_s=TIMEOUT_S)
    parts = [part async for part in adapter.stream(request, timeout_s=TIMEOUT_S)]
    last = parts[-1]
    assert isinstance(last, ProviderResult)
    return last


def as_llm_request(request: ProviderRequest) -> LLMRequest:
    return LLMRequest(
        request_id="r1",
        tenant="acme",
        messages=request.messages,
        tools=request.tools,
        response_format=request.response_format,
    )


def supported(adapter: ChatAdapter, request: ProviderRequest, fmt: str) -> bool:
    try:
        check_supported(request, adapter.capabilities, fmt)
    except UnsupportedFeature:
        return False
    return True


@pytest.mark.parametrize("streamed", [False, True])
@pytest.mark.parametrize("fmt", FORMATS)
async def test_empty_answers_have_no_text_and_no_tool_call(
    start_emulator: StartEmulator,
    adapter: AdapterFor,
    chat: Chat,
    stats: Stats,
    fmt: str,
    streamed: bool,
) -> None:
    emulator = await start_emulator(faulty(empty_rate=1.0))
    client = adapter(fmt, emulator)
    # The prompt names the offered tool: a healthy answer would call it.
    request = chat("what is get_weather for Oslo").model_copy(update={"tools": [WEATHER]})
    if not supported(client, request, fmt):
        request = chat("what is the weather in Oslo")
    result = await answer(client, request, streamed)
    assert result.content.strip() == "" and result.tool_calls == []
    failure = first_failure(as_llm_request(request), result, ORDER)
    assert failure is not None and failure.check == "empty"
    assert (await stats(emulator))["outcomes"] == {"empty": 1}


@pytest.mark.parametrize("streamed", [False, True])
@pytest.mark.parametrize("fmt", FORMATS)
async def test_refusals_only_refuse(
    start_emulator: StartEmulator,
    adapter: AdapterFor,
    chat: Chat,
    stats: Stats,
    fmt: str,
    streamed: bool,
) -> None:
    emulator = await start_emulator(faulty(refusal_rate=1.0))
    request = chat()
    result = await answer(adapter(fmt, emulator), request, streamed)
    assert result.content == REFUSAL_TEXT
    failure = first_failure(as_llm_request(request), result, ORDER)
    assert failure is not None and failure.check == "refusal"
    assert (await stats(emulator))["outcomes"] == {"refusal": 1}


@pytest.mark.parametrize("fmt", sorted(set(FORMATS) - set(JSON_MODE_FORMATS)))
async def test_formats_without_json_mode_refuse_it(
    start_emulator: StartEmulator, adapter: AdapterFor, chat: Chat, fmt: str
) -> None:
    client = adapter(fmt, await start_emulator(faulty(invalid_json_rate=1.0)))
    assert not supported(client, chat().model_copy(update={"response_format": JSON_MODE}), fmt)


@pytest.mark.parametrize("streamed", [False, True])
@pytest.mark.parametrize("fmt", JSON_MODE_FORMATS)
async def test_invalid_json_breaks_json_mode_answers_only(
    start_emulator: StartEmulator,
    adapter: AdapterFor,
    chat: Chat,
    stats: Stats,
    fmt: str,
    streamed: bool,
) -> None:
    emulator = await start_emulator(faulty(invalid_json_rate=1.0))
    client = adapter(fmt, emulator)
    json_request = chat().model_copy(update={"response_format": JSON_MODE})
    assert supported(client, json_request, fmt)
    result = await answer(client, json_request, streamed)
    failure = first_failure(as_llm_request(json_request), result, ORDER)
    assert failure is not None and failure.check == "json", result.content
    # A plain-text call of the same model is answered as usual, and counted so.
    plain = await answer(client, chat(), streamed)
    assert plain.content and first_failure(as_llm_request(chat()), plain, ORDER) is None
    assert (await stats(emulator))["outcomes"] == {"invalid_json": 1, "ok": 1}


def test_answer_fault_rates_count_in_the_sum() -> None:
    with pytest.raises(ValidationError, match="refusal_rate sum above 1"):
        FaultProfile(empty_rate=0.6, refusal_rate=0.3, error_rates={500: 0.2})


def test_answer_faults_leave_the_older_faults_draws_alone() -> None:
    older = FaultProfile(error_rates={500: 0.2}, hang_rate=0.1)
    newer = FaultProfile(
        error_rates={500: 0.2}, hang_rate=0.1, empty_rate=0.3, invalid_json_rate=0.1
    )
    a, b = random.Random(7), random.Random(7)
    picks = [(older.pick_fault(a).fault, newer.pick_fault(b).fault) for _ in range(5000)]
    # Every draw that hit an older fault hits it again; the answer faults take from "ok".
    assert all(new == old for old, new in picks if old != "ok")
    empty_share = sum(new == "empty" for _, new in picks) / len(picks)
    assert abs(empty_share - 0.3) < 0.03
    assert {new for old, new in picks if old == "ok"} == {"ok", "empty", "invalid_json"}


async def test_the_same_seed_gives_the_same_faults(
    start_emulator: StartEmulator, adapter: AdapterFor, chat: Chat, stats: Stats
) -> None:
    profile = FaultProfile(empty_rate=0.3, refusal_rate=0.3)
    runs = []
    for _ in range(2):
        emulator = await start_emulator(EmulatorConfig(seed=3, default=profile))
        client = adapter("openai", emulator)
        runs.append(
            [(await client.complete(chat(), timeout_s=TIMEOUT_S)).content for _ in range(40)]
        )
    assert runs[0] == runs[1]
    assert {"", REFUSAL_TEXT} <= set(runs[0])
