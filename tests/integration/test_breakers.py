"""Dispatch's gate through the real broker, two worker processes and the emulator
(docs/design/routing.md): a circuit breaker shared through the health topic stops calls to
a failing deployment across both workers and lets traffic back after it recovers; a
provider limit held by partition share keeps the calls under the limit in every minute."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from schemas.config_loader import load_config
from schemas.health import HealthRecord, deployment_key
from streams.topic_reader import partitions_of
from tests.integration.budget_helpers import read_all
from tests.integration.harness import Emulator, Worker, collect
from tests.integration.routing_helpers import (
    FAST,
    HAIKU_UPSTREAM,
    MINI_UPSTREAM,
    StatsSampler,
    all_ended,
    by_request,
    outcome_counts,
    paced_publish,
    publish_to,
    routed_request,
    routes_config,
)

pytestmark = pytest.mark.integration

WORKERS = 2
# Short timings, so one test sees a breaker open, re-open and close (README, "Breakers").
BREAKER = {
    "window_s": 10,
    "min_calls": 5,
    "failure_rate": 0.5,
    "consecutive_failures": 5,
    "cooldown_s": 2,
    "cooldown_max_s": 8,
    "probe_calls": 2,
}
RATE_PER_S = 20  # requests published per second, in batches of 5 every 250 ms
RUN_S = 60
FAULT_AT_S = 10
FAULT_S = 30


def half_opens_within(span_s: float) -> int:
    """How many times a breaker that opens at 0 and whose every probe fails half-opens
    within ``span_s``: after cooldown_s, then each doubled cool-down up to the cap."""
    count, at, cooldown = 0, 0.0, float(BREAKER["cooldown_s"])
    while at + cooldown < span_s:
        at += cooldown
        count += 1
        cooldown = min(cooldown * 2, float(BREAKER["cooldown_max_s"]))
    return count


async def health_records(bootstrap: str, topic: str) -> list[HealthRecord]:
    """Every record still on the health topic (compaction has not run in a test's time)."""
    partitions = len(await partitions_of(bootstrap, [topic]))
    records = await read_all(bootstrap, topic, partitions)
    return sorted((HealthRecord.model_validate(r.value) for r in records), key=lambda h: h.since)


async def test_breaker_stops_calls_to_a_failing_model_on_both_workers(
    kafka_bootstrap: str, test_name: str, tmp_path: Path
) -> None:
    emulator = Emulator(tmp_path, {"seed": 13, "default": FAST})
    route = {
        "name": "guarded",
        "by_name_only": True,
        "primary": "gpt-4o-mini",
        "fallbacks": ["claude-haiku"],
    }
    config_path = routes_config(tmp_path, emulator.url, test_name, [route], breaker=BREAKER)
    topics = load_config(config_path).topics.model_dump()
    ids = [f"brk-{i}" for i in range(RATE_PER_S * RUN_S)]
    items = [(rid, routed_request(rid, "guarded")) for rid in ids]
    sampler = StatsSampler(emulator.url)
    first = Worker(tmp_path, config_path, kafka_bootstrap, tag="worker-1")
    second = Worker(tmp_path, config_path, kafka_bootstrap, tag="worker-2", role="gateway")
    try:
        t0, wall0 = time.monotonic(), time.time()
        stop = asyncio.Event()
        sampling = asyncio.create_task(sampler.run(t0, stop))

        async def fault() -> float:
            await asyncio.sleep(t0 + FAULT_AT_S - time.monotonic())  # on the schedule
            await asyncio.to_thread(emulator.fault, MINI_UPSTREAM, 503, FAULT_S)
            return time.monotonic() - t0

        faulting = asyncio.create_task(fault())
        published = await paced_publish(kafka_bootstrap, topics["requests"], items, 5, 0.25, t0)
        fault_s = await faulting
        got = await collect(
            kafka_bootstrap, [topics["responses"], topics["dlq"]], all_ended(ids, topics), 120
        )
        stop.set()
        await sampling
        health = await health_records(kafka_bootstrap, topics["health"])
        usage = await read_all(kafka_bootstrap, topics["usage"], 4)
    finally:
        assert second.stop() == 0, second.process.log_text()[-3000:]
        assert first.stop() == 0, first.process.log_text()[-3000:]
        emulator.stop()

    # None lost, none answered twice, none dead-lettered: the fallback answered meanwhile.
    assert got[topics["dlq"]] == [], got[topics["dlq"]][:3]
    assert outcome_counts(got, topics) == dict.fromkeys(ids, 1)
    responses = by_request(got[topics["responses"]])

    end_s = published - t0
    fault_end_s = fault_s + FAULT_S
    mini = deployment_key("openai", MINI_UPSTREAM)
    transitions = [(h.since - wall0, h.state) for h in health if h.deployment == mini]
    opened = [s for s, state in transitions if state == "open" and s >= fault_s]
    assert opened, f"the breaker of {mini} never opened: {transitions}"
    opened_s = opened[0]
    closed = [s for s, state in transitions if state == "closed" and s >= fault_end_s]
    assert closed, f"the breaker of {mini} did not close after the fault: {transitions}"

    before, _ = sampler.rate(MINI_UPSTREAM, 2, fault_s)
    # From a second after the opening: calls already in flight when it opened are done.
    during_from = opened_s + 1
    during, during_span = sampler.rate(MINI_UPSTREAM, during_from, fault_end_s)
    during_calls = sampler.calls(MINI_UPSTREAM, during_from, fault_end_s)
    per_second = sampler.per_second(MINI_UPSTREAM, during_from, fault_end_s)
    # Traffic is back once a probe after the fault closed it: within the longest cool-down.
    after_from = fault_end_s + float(BREAKER["cooldown_max_s"]) + 2
    after, _ = sampler.rate(MINI_UPSTREAM, after_from, end_s)

    # While open no call goes through; each half-open lets probe_calls through per worker.
    probes = WORKERS * int(BREAKER["probe_calls"])
    periods = half_opens_within(fault_end_s - opened_s)
    bound = probes * (periods + 1)
    assert during_calls <= bound, (
        f"{during_calls} calls to {MINI_UPSTREAM} in {during_span:.0f}s while its breaker was"
        f" open or half-open; at most {probes} per half-open period x ({periods} + 1): {bound}"
        f" (per second: {per_second})"
    )
    assert max(per_second) <= probes, f"more than {probes} calls in one second: {per_second}"
    assert before >= RATE_PER_S * 0.8, f"only {before:.1f} calls/s before the fault"
    assert after >= before * 0.5, (
        f"{after:.1f} calls/s to {MINI_UPSTREAM} after the fault vs {before:.1f} before"
    )

    in_fault = [
        r
        for rid, r in responses.items()
        if during_from <= int(rid.rsplit("-", 1)[1]) / RATE_PER_S <= fault_end_s - 2
    ]
    by_fallback = sum(1 for r in in_fault if r["model"] == "claude-haiku")
    assert by_fallback == len(in_fault), "a request published while open was not served by B"
    skipped = sum(
        1 for u in usage if u.value["outcome"] == "skipped" and u.value["model"] == "gpt-4o-mini"
    )
    assert skipped > 0, "no skipped usage row for the open breaker"
    haiku_calls = sampler.samples[-1][1].get(HAIKU_UPSTREAM, 0)
    # Workers restate each deployment periodically: one line per distinct transition.
    shown = sorted({(round(s, 2), state) for s, state in transitions if s >= 0})
    print(
        f"\nbreaker, {RATE_PER_S} req/s for {end_s:.0f}s on {WORKERS} workers, {MINI_UPSTREAM}"
        f" 503 from {fault_s:.1f}s to {fault_end_s:.1f}s: opened at {opened_s:.2f}s, closed at"
        f" {closed[0]:.2f}s. Calls/s to {MINI_UPSTREAM}: before {before:.1f};"
        f" during (from {during_from:.1f}s, {during_span:.0f}s) {during:.2f} ="
        f" {during_calls} calls (bound {bound}; per second {per_second});"
        f" after (from {after_from:.1f}s) {after:.1f}. {len(ids)} requests answered, 0 lost;"
        f" {by_fallback} published while open all answered by claude-haiku"
        f" ({haiku_calls} calls); {skipped} skipped usage rows;"
        f" transitions (s, state) {shown}"
    )


def started_at(row: dict[str, Any]) -> float:
    return datetime.fromisoformat(row["started_at"]).timestamp()


def most_in_window(times: list[float], window_s: float) -> int:
    """The largest number of ``times`` (sorted) within any ``window_s``-long interval."""
    most, lo = 0, 0
    for hi, t in enumerate(times):
        while t - times[lo] >= window_s:
            lo += 1
        most = max(most, hi - lo + 1)
    return most


async def test_provider_rpm_holds_across_two_workers(
    kafka_bootstrap: str, test_name: str, tmp_path: Path
) -> None:
    emulator = Emulator(tmp_path, {"seed": 17, "default": FAST})
    rpm = 300
    limits = {"openai": {"rpm": rpm, "burst_s": 1, "on_limit": "wait", "max_wait_s": 120}}
    route = {"name": "metered", "by_name_only": True, "primary": "gpt-4o-mini"}
    config_path = routes_config(tmp_path, emulator.url, test_name, [route], provider_limits=limits)
    topics = load_config(config_path).topics.model_dump()
    ids = [f"rpm-{i}" for i in range(400)]
    first = Worker(tmp_path, config_path, kafka_bootstrap, tag="worker-1")
    second = Worker(tmp_path, config_path, kafka_bootstrap, tag="worker-2", role="gateway")
    try:
        t0 = time.monotonic()
        await publish_to(
            kafka_bootstrap,
            topics["requests"],
            [(r, routed_request(r, "metered"), None) for r in ids],
        )
        got = await collect(
            kafka_bootstrap, [topics["responses"], topics["dlq"]], all_ended(ids, topics), 300
        )
        elapsed = time.monotonic() - t0

        def rows_in(usage: dict[str, list[dict[str, Any]]]) -> bool:
            done = {u["request_id"] for u in usage[topics["usage"]] if u["outcome"] == "success"}
            return done >= set(ids)

        usage = (await collect(kafka_bootstrap, [topics["usage"]], rows_in, 60))[topics["usage"]]
        stats = emulator.stats()
    finally:
        assert second.stop() == 0, second.process.log_text()[-3000:]
        assert first.stop() == 0, first.process.log_text()[-3000:]
        emulator.stop()

    assert got[topics["dlq"]] == [], got[topics["dlq"]][:3]
    assert outcome_counts(got, topics) == dict.fromkeys(ids, 1)
    calls = [u for u in usage if u["provider"] == "openai" and u["outcome"] == "success"]
    assert stats["models"][MINI_UPSTREAM]["requests"] == len(calls) == len(ids)
    times = sorted(started_at(u) for u in calls)
    most = most_in_window(times, 60.0)
    # The design's bound (policy/provider_limits.py): the limit plus each worker's bucket,
    # max(rpm * k/n * burst_s / 60, 1), which sums to rpm/60 * burst_s = 5 over the workers.
    # Plus 3 for the timestamps: a call's start is read after its slot, so an event loop
    # busy for a moment can bunch the starts of calls whose slots were apart.
    bound = rpm + rpm // 60 + 3
    assert most <= bound, f"{most} calls in one 60 s window, limit {rpm}, bound {bound}"
    # And the limit is used, not undershot: the calls spread over the minute at its rate.
    assert most >= rpm * 0.8, f"only {most} calls in the busiest minute of a {rpm} rpm limit"
    spread = times[-1] - times[0]
    print(
        f"\nprovider limit {rpm} rpm over {WORKERS} workers, {len(ids)} requests at once:"
        f" at most {most} calls in any 60 s (bound {bound}); calls spread over {spread:.1f}s"
        f" ({(len(times) - 1) / spread * 60:.0f}/min), all answered in {elapsed:.1f}s"
    )
