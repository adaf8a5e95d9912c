"""The cache stage: lookups of one key meet their book in arrival order, so the first to
arrive leads and the ones behind it wait, however their handlers' waits wake."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from policy.cache_key import ticket_for
from schemas.cache_events import CacheLookup
from schemas.config import GatewayConfig
from schemas.events import DispatchEvent, LLMRequest
from streams.cache import CacheStage
from streams.triage import RecentIds, Routed, triage
from streams.window import Source
from tests.streams.recording import RecordingPublisher, ready_ledger
from tests.streams.stage_states import EmptyCacheStates, one_model_config

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _config() -> GatewayConfig:
    return one_model_config(routes=[{"name": "default", "primary": "m", "cache": {}}])


def _lookup(config: GatewayConfig, request_id: str) -> bytes:
    request = LLMRequest(
        request_id=request_id,
        tenant="acme",
        messages=[{"role": "user", "content": "Which planet has the most moons?"}],
        params={"temperature": 0},  # deterministic, so cached
        created_at=T0,
    )
    routed = triage(request.to_bytes(), config, RecentIds(0))
    assert isinstance(routed, Routed)
    ticket = ticket_for(config, routed.dispatch.request, routed.dispatch.route)
    assert ticket is not None
    dispatch = routed.dispatch.model_copy(update={"cache": ticket})
    return CacheLookup(request_id=request_id, tenant="acme", dispatch=dispatch).to_bytes()


async def test_the_first_lookup_to_arrive_leads_even_if_it_waited_for_its_partition() -> None:
    config = _config()
    led: list[str] = []

    async def forward(dispatch: DispatchEvent) -> None:
        led.append(dispatch.request_id)

    async def read_at(partition: int, offset: int) -> bytes | None:
        return None

    async def send_record(partition: int, key: str, value: bytes | None) -> None:
        pass

    def no_embedder() -> Any:
        raise AssertionError("an exact cache needs no embedder")

    states = EmptyCacheStates(config, "unused:9092", send_record, no_embedder, 0.001)
    stage = CacheStage(
        config,
        RecordingPublisher(),  # type: ignore[arg-type]
        ready_ledger(),
        states,
        forward,
        read_at,
    )
    writer = asyncio.create_task(states.run())
    try:
        # Offset 10 arrives before the worker's assignment signal ran: its handler polls
        # for the partition. Offset 11, the same question, arrives once it is loaded.
        early = asyncio.create_task(stage.handle(_lookup(config, "r10"), Source("c", 0, 10)))
        await asyncio.sleep(0)
        states.on_assigned([0])
        await asyncio.wait_for(states.ready(0), 5)
        late = asyncio.create_task(stage.handle(_lookup(config, "r11"), Source("c", 0, 11)))
        # r11 parks behind the leader (its handler returns; a fill would answer it).
        await asyncio.wait_for(asyncio.gather(early, late), 5)
    finally:
        writer.cancel()
    assert led == ["r10"]
