"""The usage batcher against the real embedded engine, including an outage."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

from devtools.store_outage import StoreOutage
from schemas.config import UsageSinkConfig
from schemas.events import UsageEvent, UsageOutcome
from store import UsageStore, open_backend
from store.owner import StoreOwner
from streams.usage_sink import UsageBatcher, fold_started


def _owner(path: Path) -> StoreOwner:
    return StoreOwner(lambda: UsageStore(open_backend(path), "routeyard"), raw_retention_days=0)


def _usage(i: int) -> UsageEvent:
    return UsageEvent(
        request_id=f"r{i}",
        attempt=1,
        call_id=f"c{i}",
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
    batcher = UsageBatcher(_owner(path), settings)
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
        batcher.owner.close()
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
    batcher = UsageBatcher(_owner(path), settings)
    adds = [asyncio.create_task(batcher.add(_usage(i))) for i in range(10)]
    await asyncio.sleep(0)
    await batcher.drain()
    await asyncio.wait_for(asyncio.gather(*adds), 5)
    batcher.owner.close()
    assert batcher.inserted_rows == 10


def _call(call_id: str, outcome: UsageOutcome) -> UsageEvent:
    return UsageEvent(
        request_id=f"req-{call_id}",
        attempt=1,
        call_id=call_id,
        tenant="acme",
        route="default",
        model="small",
        provider="emu",
        upstream_model="s",
        outcome=outcome,
        cost_usd=Decimal("0.25") if outcome == "success" else Decimal(0),
    )


async def test_a_started_row_is_not_written_when_its_completion_is_in_the_batch(
    tmp_path: Path,
) -> None:
    path = tmp_path / "chdb"
    settings = UsageSinkConfig(batch_size=1000, flush_interval_s=60)  # flushed by drain only
    batcher = UsageBatcher(_owner(path), settings)
    first = [_call(f"c{i}", "started") for i in range(10)]
    # c0..c7 finish in this batch (c0's completion replayed too); c8, c9 are still running.
    second = [_call(f"c{i}", "success") for i in range(8)] + [_call("c0", "success")]
    adds = [asyncio.create_task(batcher.add(e)) for e in first + second]
    await asyncio.sleep(0)
    await batcher.drain()
    await asyncio.wait_for(asyncio.gather(*adds), 5)  # folded rows are acknowledged too
    assert (batcher.inserted_rows, batcher.folded_rows, batcher.held_rows) == (10, 8, 1)

    # c8 and c9 finish in a later batch: their started rows are already written.
    late = [asyncio.create_task(batcher.add(_call(f"c{i}", "success"))) for i in (8, 9)]
    await asyncio.sleep(0)
    await batcher.drain()
    await asyncio.wait_for(asyncio.gather(*late), 5)
    batcher.owner.close()
    assert (batcher.inserted_rows, batcher.folded_rows) == (12, 8)

    store = UsageStore(open_backend(path), "routeyard")
    try:
        raw = store.query(
            "SELECT outcome, count() AS n FROM routeyard.usage GROUP BY outcome ORDER BY outcome"
        )
        [calls] = store.query(
            "SELECT count() AS n, countIf(outcome = 'success') AS ok, sum(cost_usd) AS usd"
            " FROM routeyard.usage_dedup"
        )
    finally:
        store.backend.close()
    assert {r["outcome"]: int(r["n"]) for r in raw} == {"started": 2, "success": 10}
    assert (int(calls["n"]), int(calls["ok"]), Decimal(calls["usd"])) == (10, 10, Decimal("2.5"))


def test_fold_keeps_started_rows_whose_call_has_not_ended_in_the_batch() -> None:
    batch = [
        _call("a", "started"),
        _call("a", "started"),  # a replay: folded with its twin
        _call("b", "started"),
        _call("a", "error"),
        _call("x:rejected", "rejected"),
        _call("c", "success"),  # its started row went in an earlier batch
    ]
    kept = [(e.call_id, e.outcome) for e in fold_started(batch)]
    assert kept == [("b", "started"), ("a", "error"), ("x:rejected", "rejected"), ("c", "success")]


async def test_a_replayed_batch_is_not_written_twice(tmp_path: Path) -> None:
    """A sink that stopped between insert and commit sees its batch again after a restart."""
    path = tmp_path / "chdb"
    settings = UsageSinkConfig(batch_size=1000, flush_interval_s=60)
    events = [_call(f"c{i}", "success") for i in range(20)]
    for run, replayed in enumerate((events[:12], events)):  # the restart replays from c0
        batcher = UsageBatcher(_owner(path), settings)
        adds = [asyncio.create_task(batcher.add(e)) for e in replayed]
        await asyncio.sleep(0)
        await batcher.drain()
        await asyncio.wait_for(asyncio.gather(*adds), 5)  # held rows are acknowledged too
        batcher.owner.close()
        assert (batcher.inserted_rows, batcher.held_rows) == ((12, 0), (8, 12))[run]

    store = UsageStore(open_backend(path), "routeyard")
    try:
        [row] = store.query(
            "SELECT count() AS n, uniqExact(call_id) AS calls, sum(cost_usd) AS usd"
            " FROM routeyard.usage"
        )
        [rollup] = store.query("SELECT sum(rows) AS n FROM routeyard.usage_minute")
    finally:
        store.backend.close()
    assert (int(row["n"]), int(row["calls"]), Decimal(row["usd"])) == (20, 20, Decimal(5))
    assert int(rollup["n"]) == 20
