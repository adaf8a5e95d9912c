"""The chaos run: start the emulator and the fleet, publish, inject faults, drain, measure."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from devtools.chaos.faults import FaultRecord, inject_fault
from devtools.chaos.fleet import Fleet, roles_supported
from devtools.chaos.observe import Lag, OutcomeCollector, Outcomes, count_usage
from devtools.chaos.plan import ChaosPlan, Event, build_traffic
from devtools.chaos.report import describe_method
from devtools.chaos.result import ChaosResult, summarize
from devtools.chaos.trail import trail
from devtools.paths import EXAMPLE_CONFIG
from devtools.stack import Emulator, derive_config, wait_committed


async def run_chaos(plan: ChaosPlan, bootstrap: str, tmp: Path, name: str) -> ChaosResult:
    """Run the whole scenario in ``tmp`` on topics prefixed ``name``; stops what it started."""
    if os.environ.get("CLICKHOUSE_URL"):
        raise RuntimeError(
            "the chaos run needs the embedded store (its outage holds the folder lock):"
            " unset CLICKHOUSE_URL"
        )
    wall_start = time.monotonic()
    hang_s = plan.provider_timeout_s + 2
    profile = {
        "seed": plan.seed,
        "default": {
            "latency": {
                "dist": "lognormal",
                "median_ms": plan.latency_median_ms,
                "sigma": 0.5,
                "max_ms": plan.latency_median_ms * 10,
            },
            "error_rates": plan.error_rates,
            "retry_after_s": 1,
            "hang_rate": plan.hang_rate,
            # Past the provider timeout so the gateway gives up first; not much past, so
            # hung handlers do not pile up in the emulator.
            "hang_s": hang_s,
        },
    }
    emulator = await asyncio.to_thread(Emulator, tmp, profile)
    try:
        return await _run_with_emulator(plan, bootstrap, tmp, name, emulator, wall_start, hang_s)
    finally:
        await asyncio.to_thread(emulator.stop)


async def _run_with_emulator(
    plan: ChaosPlan,
    bootstrap: str,
    tmp: Path,
    name: str,
    emulator: Emulator,
    wall_start: float,
    hang_s: float,
) -> ChaosResult:
    config = derive_config(EXAMPLE_CONFIG, tmp, emulator.url, name)
    data = yaml.safe_load(config.read_text())
    for provider in data["providers"].values():
        provider["timeout_s"] = plan.provider_timeout_s
    # acme's requests (most of the traffic) pass the admission stage and its tenant state
    # through every fault; the limits are far above what the run spends or sends.
    data["admission"] = {
        "tenants": {
            "acme": {
                "budgets": [{"period": "day", "limit_usd": "1000"}],
                "rate_limit": {"requests_per_minute": 1_000_000, "on_limit": "delay"},
            }
        }
    }
    data.setdefault("dispatch", {})["inline_first_attempts"] = plan.inline_first_attempts
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    topics: dict[str, Any] = data["topics"]
    group = str(data["app_id"])
    store_path = Path(data["store"]["path"])

    split = {"split": True, "single": False}.get(plan.topology)
    if split is None:
        split = await asyncio.to_thread(roles_supported)
    fleet = Fleet(tmp, config, bootstrap, split, plan)
    for slot in fleet.slots:
        slot.lock.acquire()
    try:
        await asyncio.gather(*(asyncio.to_thread(fleet.start, s) for s in fleet.slots))
    finally:
        for slot in fleet.slots:
            slot.lock.release()

    traffic = build_traffic(plan)
    t0 = time.monotonic()

    def now() -> float:
        return time.monotonic() - t0

    collector = OutcomeCollector(bootstrap, topics["responses"], topics["dlq"], now)
    gateway_lag = Lag(
        bootstrap,
        group,
        [topics["requests"], topics["admission"], topics["dispatch"], topics["retry"]],
        int(topics["partitions"]),
    )
    await collector.start()
    await gateway_lag.start()
    records: list[FaultRecord] = []
    stop_watch = asyncio.Event()
    watchdog: asyncio.Task[None] | None = None
    faults: list[asyncio.Task[None]] = []
    try:
        t0 = time.monotonic()
        watchdog = asyncio.create_task(_watch(fleet, now, stop_watch))
        faults = [
            asyncio.create_task(
                inject_fault(kind, at, i, plan, fleet, emulator, store_path, now, records)
            )
            for i, (at, kind) in enumerate(plan.schedule())
        ]
        await _publish(bootstrap, topics["requests"], traffic, plan.rate, t0)
        published_at = now()
        await asyncio.gather(*faults)
        cleared = [r.cleared_at for r in records if r.cleared_at is not None]
        # Without faults, draining starts when publishing ends.
        last_cleared = max(cleared) if cleared else published_at
        valid = [e.id for e in traffic if e.kind == "valid"]
        bad = [e.id for e in traffic if e.kind != "valid"]
        complete_at, idle_at, notes = await _drain(
            plan, collector.outcomes, gateway_lag, valid, bad, now
        )
        stop_watch.set()
        await watchdog
        await collector.catch_up()
        missing = [rid for rid in valid if not collector.outcomes.by_id.get(rid)]
        if missing:
            # Which stage held each lost request last, for whoever reads the failed run.
            stages = ["requests", "cache", "admission", "dispatch", "retry", "usage"]
            notes.extend(
                await trail(
                    bootstrap,
                    group,
                    [topics[s] for s in stages],
                    int(topics["partitions"]),
                    missing,
                )
            )
        usage_at: float | None = None
        try:
            await wait_committed(
                bootstrap,
                await _usage_group(bootstrap, group),
                topics["usage"],
                int(topics["partitions"]),
                deadline_s=plan.usage_deadline_s,
            )
            usage_at = now()
        except TimeoutError as exc:
            notes.append(f"usage topic not fully committed: {exc}")
    finally:
        stop_watch.set()
        for task in [*faults, *([watchdog] if watchdog else [])]:
            task.cancel()
        await asyncio.gather(*faults, *([watchdog] if watchdog else []), return_exceptions=True)
        await collector.stop()
        await gateway_lag.stop()
        exit_codes = await asyncio.to_thread(fleet.stop_all)
    done_at = now()
    stats = await asyncio.to_thread(emulator.stats)
    usage = await asyncio.to_thread(count_usage, store_path, data["store"]["database"])

    method = describe_method(plan, fleet, hang_s, traffic, published_at, records)
    return summarize(
        method=method,
        traffic=traffic,
        outcomes=collector.outcomes,
        usage=usage,
        stats=stats,
        drain={
            "last_fault_cleared_at": last_cleared,
            "published_at": published_at,
            "outcomes_complete": None if complete_at is None else complete_at - last_cleared,
            "pipeline_idle": None if idle_at is None else idle_at - last_cleared,
            "usage_committed": None if usage_at is None else usage_at - last_cleared,
            "traffic_s": done_at,
        },
        run_s=time.monotonic() - wall_start,
        exit_codes=exit_codes,
        notes=[*notes, *fleet.exits],
    )


async def _usage_group(bootstrap: str, app_id: str) -> str:
    """The usage sink's consumer group: its own when it runs in an analytics process."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        groups = {str(g[0]) for g in await admin.list_consumer_groups()}
    finally:
        await admin.close()
    analytics = f"{app_id}-analytics"
    return analytics if analytics in groups else app_id


async def _publish(
    bootstrap: str, topic: str, traffic: list[Event], rate: float, t0: float
) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await producer.start()
    try:
        pending: list[asyncio.Future[Any]] = []
        for i, event in enumerate(traffic):
            delay = t0 + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            pending.append(await producer.send(topic, event.value, key=event.id.encode()))
            if len(pending) >= 1000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


async def _watch(fleet: Fleet, now: Callable[[], float], stop: asyncio.Event) -> None:
    while not stop.is_set():
        await asyncio.to_thread(fleet.restart_exited, now)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)


async def _drain(
    plan: ChaosPlan,
    outcomes: Outcomes,
    lag: Lag,
    valid: list[str],
    bad: list[str],
    now: Callable[[], float],
) -> tuple[float | None, float | None, list[str]]:
    """Wait until every event has its outcome and the gateway group has nothing left.

    Returns when outcomes were complete, when the pipeline went idle, and notes. Gives
    up at the deadline, or when the pipeline has been idle for a while with outcomes
    still missing: nothing would produce them any more.
    """
    notes: list[str] = []
    deadline = now() + plan.drain_deadline_s
    complete_at: float | None = None
    idle_since: float | None = None
    expected = [*valid, *bad]
    while True:
        complete = all(outcomes.by_id.get(rid) for rid in expected)
        if complete and complete_at is None:
            complete_at = outcomes.last_new_at
        idle = await lag.total() == 0
        if not idle:
            idle_since = None
        elif idle_since is None:
            idle_since = now()
        # Two looks a second apart: a stage may publish between reading two topics.
        if complete and idle_since is not None and now() - idle_since >= 1.0:
            return complete_at, idle_since, notes
        if idle_since is not None and now() - max(idle_since, outcomes.last_new_at) > 15:
            notes.append(
                f"gave up waiting at t={now():.1f}: the pipeline was idle for 15 s"
                " with outcomes still missing"
            )
            return complete_at, idle_since, notes
        if now() > deadline:
            notes.append(
                f"gave up waiting at t={now():.1f}: drain deadline of"
                f" {plan.drain_deadline_s:g} s passed"
            )
            return complete_at, idle_since if idle else None, notes
        await asyncio.sleep(0.5)
