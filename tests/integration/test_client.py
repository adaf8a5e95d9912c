"""RouteyardClient, the Kafka-native caller's helper, against a worker and the emulator."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from typing import Any
from uuid import uuid4

import pytest
import yaml

from routeyard.client import ReplyTimeout, RequestFailed, RouteyardClient
from routeyard.replies import TooManyPending
from schemas.chat import ChatMessage
from schemas.chunks import ChunkEvent
from schemas.config import TopicsConfig
from schemas.events import LLMRequest, LLMResponse
from tests.integration.harness import Emulator, Worker, gateway_config

pytestmark = pytest.mark.integration

FAST = {"latency": {"dist": "lognormal", "median_ms": 20, "sigma": 0.3, "max_ms": 200}}
# Generous: a chaos run may share the CPU; only the timeout test relies on a short wait.
WAIT_S = 90.0


@pytest.fixture(scope="module")
def stack(
    kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("client")
    emulator = Emulator(tmp, {"seed": 7, "default": FAST})
    config = gateway_config(tmp, emulator.url, f"client-{tmp.name[-6:]}")
    try:
        worker = Worker(tmp, config, kafka_bootstrap)
    except BaseException:
        emulator.stop()
        raise
    try:
        topics = TopicsConfig(**yaml.safe_load(config.read_text())["topics"])
        yield {"emulator": emulator, "bootstrap": kafka_bootstrap, "topics": topics}
    finally:
        worker.stop()
        emulator.stop()


@pytest.fixture
async def client(stack: dict[str, Any]) -> AsyncIterator[RouteyardClient]:
    async with RouteyardClient(stack["bootstrap"], stack["topics"]) as started:
        yield started


def _request(tag: str, **fields: Any) -> LLMRequest:
    # The emulator echoes the prompt, so the tag shows whose answer came back.
    return LLMRequest(
        request_id=f"{tag}-{uuid4().hex[:12]}",
        tenant="acme",
        messages=[ChatMessage(role="user", content=f"<{tag}> please answer")],
        **fields,
    )


async def test_complete_returns_each_request_its_own_response(client: RouteyardClient) -> None:
    requests = [_request(f"client-complete-{i}", route="default") for i in range(20)]
    responses = await asyncio.gather(*(client.complete(r, WAIT_S) for r in requests))
    for request, response in zip(requests, responses, strict=True):
        assert isinstance(response, LLMResponse)
        assert response.request_id == request.request_id
        assert response.tenant == "acme"
        tag = request.request_id.rsplit("-", 1)[0]
        assert f"<{tag}>" in response.content
        others = {f"<client-complete-{i}>" for i in range(20)} - {f"<{tag}>"}
        assert not any(other in response.content for other in others)
        assert response.streamed is None
    assert client.book.pending == 0


async def test_stream_yields_chunks_in_order_then_the_response(client: RouteyardClient) -> None:
    request = _request("client-stream", route="default", stream=True)
    parts = [part async for part in client.stream(request, WAIT_S)]
    *chunks, last = parts
    assert all(isinstance(c, ChunkEvent) for c in chunks)
    assert isinstance(last, LLMResponse)
    assert len(chunks) >= 2
    assert [c.seq for c in chunks if isinstance(c, ChunkEvent)] == list(range(len(chunks)))
    assert {c.request_id for c in chunks if isinstance(c, ChunkEvent)} == {request.request_id}
    assert last.request_id == request.request_id
    assert last.streamed is not None
    assert last.streamed.chunks == len(chunks)
    assert {c.call_id for c in chunks if isinstance(c, ChunkEvent)} == {last.streamed.call_id}
    assert last.content == "".join(c.text for c in chunks if isinstance(c, ChunkEvent))
    assert "<client-stream>" in last.content


async def test_a_dead_letter_raises_request_failed(client: RouteyardClient) -> None:
    request = _request("client-dead", route="no-such-route")
    with pytest.raises(RequestFailed) as caught:
        await client.complete(request, WAIT_S)
    assert caught.value.letter.request_id == request.request_id
    assert caught.value.letter.reason == "unknown_route"
    assert "unknown_route" in str(caught.value)
    assert client.book.pending == 0


async def test_a_pinned_model_answers(client: RouteyardClient) -> None:
    # claude-haiku is no route's primary: only the pin can send a first attempt there.
    for model in ("gpt-4o-mini", "claude-haiku"):
        response = await client.complete(_request(f"client-pin-{model}", model=model), WAIT_S)
        assert response.model == model
        assert f"<client-pin-{model}>" in response.content


async def test_too_many_pending_beyond_max_pending(stack: dict[str, Any]) -> None:
    async with RouteyardClient(stack["bootstrap"], stack["topics"], max_pending=1) as client:
        first = _request("client-first", route="default", stream=True)
        second = _request("client-second", route="default", stream=True)
        stream = client.stream(first, WAIT_S)
        assert isinstance(stream, AsyncGenerator)  # closed on the way out, should we fail
        async with contextlib.aclosing(stream) as parts:
            # Suspended after its first chunk, the first stream still holds the one slot.
            assert isinstance(await anext(parts), ChunkEvent)
            assert client.book.pending == 1
            with pytest.raises(TooManyPending):
                await anext(client.stream(second, WAIT_S))
            rest = [part async for part in parts]
        assert isinstance(rest[-1], LLMResponse)
        assert rest[-1].request_id == first.request_id
        # The slot is free again: the refused request goes through now.
        assert client.book.pending == 0
        response = await client.complete(second, WAIT_S)
        assert response.request_id == second.request_id


async def test_reply_timeout_names_the_request(
    client: RouteyardClient, stack: dict[str, Any]
) -> None:
    # gpt-4o is pinned only here: the slowdown cannot reach the other tests' requests.
    stack["emulator"].latency("gpt-4o", 8000, seconds=20)
    request = _request("client-late", model="gpt-4o")
    with pytest.raises(ReplyTimeout) as caught:
        await client.complete(request, timeout_s=2)
    assert caught.value.request_id == request.request_id
    assert request.request_id in str(caught.value)
    assert client.book.pending == 0
