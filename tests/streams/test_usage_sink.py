"""The usage batcher against the real embedded engine, including an outage."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

from adapters.store import UsageStore, open_backend
from schemas.config import UsageSinkConfig
from schemas.events import UsageEvent
from streams.usage_sink import UsageBatcher
from tests.store_outage import StoreOutage


def _usage(i: int) -> UsageEvent:
    return UsageEvent(
        request_id=f"r{i}",
        attempt=1,
        tenant="acme",
        route="default",
        model="small",
        provider="emu",
        upstream_model="s",
        outcome="success",
        cost_usd=Decimal("0.25"),
    )


async def _until(check: Callable[[], bool], deadline_s: float) -> None:
    end = time.monotonic() + deadline_s
    while not check():
        assert time.monotonic() < end, "condition not met before the deadline"
        await asyncio.sleep(0.02)


async def test_events_are_done_only_after_insert_and_survive_an_outage(tmp_path: Path) -> None:
    path = tmp_path / "chdb"
    settings = UsageSinkConfig(batch_size=50, flush_interval_s=0.05)
    batcher = UsageBatcher(lambda: UsageStore(open_backend(path), "routeyard"), settings)
    outage = StoreOutage(path)
    runner = asyncio.create_task(batcher.run())
    adds = [asyncio.create_task(batcher.add(_usage(i))) for i in range(120)]
    try:
        await _until(lambda: batcher.failed_inserts >= 2, 10)
        assert not any(task.done() for task in adds), "acknowledged before the insert"
        outage.end()
        await asyncio.wait_for(asyncio.gather(*adds), 30)
    finally:
        outage.end()
        runner.cancel()
        batcher.close()
    assert batcher.inserted_rows == 120

    store = UsageStore(open_backend(path), "routeyard")
    try:
        [row] = store.query("SELECT count() AS n, sum(cost_usd) AS usd FROM routeyard.usage")
    finally:
        store.backend.close()
    assert int(row["n"]) == 120 and Decimal(row["usd"]) == Decimal(30)


async def test_drain_inserts_what_is_pending(tmp_path: Path) -> None:
    path = tmp_path / "chdb"
    settings = UsageSinkConfig(batch_size=1000, flush_interval_s=60)  # never flushes by itself
    batcher = UsageBatcher(lambda: UsageStore(open_backend(path), "routeyard"), settings)
    adds = [asyncio.create_task(batcher.add(_usage(i))) for i in range(10)]
    await asyncio.sleep(0)
    await batcher.drain()
    await asyncio.wait_for(asyncio.gather(*adds), 5)
    batcher.close()
    assert batcher.inserted_rows == 10
