"""Dispatch of streamed requests: chunks in order before the outcome, TTFT on the usage
row, and a stream broken after chunks were published ends in a dead letter, not a retry."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from adapters.http_client import make_http_client
from emulator.profile import EmulatorConfig
from emulator.server import RunningEmulator
from schemas.chat import ChatMessage
from schemas.chunks import ChunkEvent
from schemas.events import DeadLetter, LLMResponse, UsageEvent
from streams.dispatch import Dispatcher
from streams.model_client import ModelClient
from tests.emulated import StartEmulator, start_emulator  # noqa: F401
from tests.streams.recording import RecordingPublisher, ready_ledger
from tests.streams.test_dispatch import KEY, _config, _event


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    client = make_http_client()
    yield client
    await client.aclose()


@pytest.fixture
async def emulator(start_emulator: StartEmulator) -> RunningEmulator:  # noqa: F811
    return await start_emulator(EmulatorConfig())


def _dispatcher(
    emulator: RunningEmulator, http: httpx.AsyncClient
) -> tuple[Dispatcher, RecordingPublisher]:
    config = _config(emulator)
    publisher = RecordingPublisher()
    models = ModelClient(config, http, env={"EMU_KEY": KEY})
    return Dispatcher(config, models, publisher, ready_ledger()), publisher  # type: ignore[arg-type]


def _streamed(request_id: str = "s-1") -> bytes:
    ev = _event(request_id=request_id)
    request = ev.request.model_copy(
        update={"stream": True, "messages": [ChatMessage(role="user", content="a long story")]}
    )
    return ev.model_copy(update={"request": request}).to_bytes()


async def test_chunks_come_in_order_before_the_response(
    emulator: RunningEmulator, http: httpx.AsyncClient
) -> None:
    dispatcher, publisher = _dispatcher(emulator, http)
    await dispatcher.handle(_streamed())

    topics = [t for t, _, _ in publisher.sent]
    chunks: list[ChunkEvent] = publisher.on("llm.chunks")
    [response] = publisher.on("llm.responses")
    assert isinstance(response, LLMResponse)
    assert len(chunks) >= 2, "the emulator splits its answer into several deltas"
    assert [c.seq for c in chunks] == list(range(len(chunks)))
    assert max(i for i, t in enumerate(topics) if t == "llm.chunks") < topics.index("llm.responses")
    assert "".join(c.text for c in chunks) == response.content
    assert response.streamed is not None
    assert response.streamed.call_id == chunks[0].call_id
    assert response.streamed.chunks == len(chunks)
    usage: list[UsageEvent] = publisher.on("llm.usage")
    assert usage[-1].outcome == "success" and usage[-1].ttft_ms > 0
    assert usage[-1].call_id == chunks[0].call_id


async def test_a_stream_cut_after_chunks_is_a_dead_letter_not_a_retry(
    emulator: RunningEmulator, http: httpx.AsyncClient
) -> None:
    dispatcher, publisher = _dispatcher(emulator, http)
    cut = {"model": "small", "after_frames": 3, "seconds": 30}
    (await http.post(f"{emulator.base_url}/_emulator/cut", json=cut)).raise_for_status()
    await dispatcher.handle(_streamed())

    chunks = publisher.on("llm.chunks")
    assert chunks, "some deltas went out before the cut"
    [letter] = publisher.on("llm.dlq")
    assert isinstance(letter, DeadLetter)
    assert letter.reason == "stream_interrupted"
    assert letter.last_error is not None and letter.last_error.kind == "stream_interrupted"
    assert publisher.on("llm.dispatch") == publisher.on("llm.retry") == []
    assert publisher.on("llm.responses") == []
    usage: list[UsageEvent] = publisher.on("llm.usage")
    assert usage[-1].outcome == "error" and usage[-1].error_kind == "stream_interrupted"


async def test_a_stream_cut_before_any_chunk_is_retried(
    emulator: RunningEmulator, http: httpx.AsyncClient
) -> None:
    dispatcher, publisher = _dispatcher(emulator, http)
    cut = {"model": "small", "after_frames": 0, "seconds": 30}
    (await http.post(f"{emulator.base_url}/_emulator/cut", json=cut)).raise_for_status()
    await dispatcher.handle(_streamed())

    assert publisher.on("llm.chunks") == []
    assert publisher.on("llm.dlq") == []
    assert len(publisher.on("llm.retry")) == 1  # nothing relayed: retried as any failure
