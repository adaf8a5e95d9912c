"""Helpers shared by the routing integration tests (strategies, breakers, provider limits):
configs with the test's own routes, traffic on a fixed schedule, per-second samples of the
emulator's counters, and tallies of outcomes."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
from aiokafka import AIOKafkaProducer

from tests.integration.harness import gateway_config, request_event

Got = dict[str, list[dict[str, Any]]]

# Fast and steady, so traffic is bounded by the pipeline rather than by the provider.
FAST = {"latency": {"dist": "lognormal", "median_ms": 25, "sigma": 0.4, "max_ms": 400}}
# Upstream names as the emulator counts them (models: ...upstream in the example config).
MINI_UPSTREAM = "gpt-4o-mini"
HAIKU_UPSTREAM = "claude-3-5-haiku-latest"
SONAR_UPSTREAM = "sonar"


def routes_config(
    tmp: Path, emulator_url: str, name: str, routes: list[dict[str, Any]], **overrides: Any
) -> Path:
    """The example config with only ``routes`` (by name) and the given sections."""
    return gateway_config(tmp, emulator_url, name, routes=routes, **overrides)


def routed_request(
    rid: str, route: str, text: str = "hello, a short question", **extra: Any
) -> bytes:
    event = request_event(rid, f"{text} {rid}", route=route, **extra)
    event.setdefault("params", {"max_tokens": 16})
    return orjson.dumps(event)


async def publish_to(
    bootstrap: str, topic: str, items: Iterable[tuple[str, bytes, int | None]]
) -> None:
    """Like harness.publish, with an explicit partition per record (None: by key)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await producer.start()
    try:
        sent = [
            await producer.send(topic, value, key=key.encode(), partition=partition)
            for key, value, partition in items
        ]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


async def paced_publish(
    bootstrap: str,
    topic: str,
    items: Sequence[tuple[str, bytes]],
    per_tick: int,
    tick_s: float,
    t0: float,
) -> float:
    """Publish ``per_tick`` items at ``t0 + k * tick_s`` (monotonic), k = 0, 1, ...

    Ticks are on a fixed schedule, so a slow send does not stretch the rate it is meant to
    keep. Returns the monotonic time the last batch was acknowledged.
    """
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0)
    await producer.start()
    try:
        for k, start in enumerate(range(0, len(items), per_tick)):
            due = t0 + k * tick_s
            if (ahead := due - time.monotonic()) > 0:
                await asyncio.sleep(ahead)
            batch = [
                await producer.send(topic, value, key=key.encode())
                for key, value in items[start : start + per_tick]
            ]
            await asyncio.gather(*batch)
        return time.monotonic()
    finally:
        await producer.stop()


@dataclass
class StatsSampler:
    """The emulator's request count per upstream model, read every ``interval_s``."""

    url: str
    interval_s: float = 1.0
    samples: list[tuple[float, dict[str, int]]] = field(default_factory=list)

    async def run(self, t0: float, stop: asyncio.Event) -> None:
        async with httpx.AsyncClient(timeout=5) as client:
            k = 0
            while True:
                stats = (await client.get(f"{self.url}/_emulator/stats")).json()
                counts = {m: int(v["requests"]) for m, v in stats["models"].items()}
                self.samples.append((time.monotonic() - t0, counts))
                if stop.is_set():
                    return
                k += 1
                if (ahead := t0 + k * self.interval_s - time.monotonic()) > 0:
                    # Wakes on the schedule, or at once when told to stop.
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), ahead)

    def calls(self, model: str, start_s: float, end_s: float) -> int:
        """Calls to ``model`` between the samples nearest after ``start_s`` and at or
        before ``end_s`` (seconds since t0)."""
        inside = [(t, c.get(model, 0)) for t, c in self.samples if start_s <= t <= end_s]
        if len(inside) < 2:
            raise ValueError(f"fewer than 2 samples in [{start_s:.1f}, {end_s:.1f}] s")
        return inside[-1][1] - inside[0][1]

    def rate(self, model: str, start_s: float, end_s: float) -> tuple[float, float]:
        """(calls per second, seconds covered) between the samples in the interval."""
        inside = [t for t, _ in self.samples if start_s <= t <= end_s]
        span = inside[-1] - inside[0]
        return self.calls(model, start_s, end_s) / span, span

    def per_second(self, model: str, start_s: float, end_s: float) -> list[int]:
        """Calls to ``model`` in each sampling interval within the interval."""
        inside = [c.get(model, 0) for t, c in self.samples if start_s <= t <= end_s]
        return [b - a for a, b in itertools.pairwise(inside)]


def outcome_counts(got: Got, topics: dict[str, str]) -> dict[str, int]:
    """Terminal outcomes (responses and dead letters) per request_id."""
    seen: dict[str, int] = {}
    for topic in (topics["responses"], topics["dlq"]):
        for event in got[topic]:
            rid = event.get("request_id")
            if rid is not None:
                seen[rid] = seen.get(rid, 0) + 1
    return seen


def all_ended(ids: Iterable[str], topics: dict[str, str]) -> Callable[[Got], bool]:
    wanted = set(ids)

    def done(got: Got) -> bool:
        return set(outcome_counts(got, topics)) >= wanted

    return done


def by_request(events: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {e["request_id"]: e for e in events}
