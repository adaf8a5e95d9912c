"""A sliding window of completed calls in time buckets, and what alert rules read from it.

The window is ``BUCKETS`` buckets of ``window_s / BUCKETS`` seconds. At ``now`` it holds
the buckets that start at or after ``now - window_s``: never older than the window, and
at least 95 % of it. Latencies of successes go into a sparse histogram of log bins 1 %
wide, so memory stays bounded however many calls a bucket takes and a quantile read from
it is within 0.5 % of the true value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal

from schemas.alerts import AlertMetric
from schemas.events import UsageEvent

BUCKETS = 20
_GROWTH = 1.01
_LOG_GROWTH = math.log(_GROWTH)


@dataclass(frozen=True, slots=True)
class CallFact:
    """What the alert rules need of one completed provider call."""

    call_id: str
    at: float  # epoch seconds the call ended
    ok: bool
    fallback: bool
    latency_ms: float
    cost_usd: Decimal
    model: str
    provider: str
    tenant: str
    route: str

    def dim(self, by: str) -> str:
        value: str = getattr(self, by)
        return value


def call_fact(event: UsageEvent) -> CallFact | None:
    """The fact of a usage row, or None for rows that are no completed call.

    ``started`` says nothing about how the call went, ``skipped`` and ``rejected`` rows
    made no call.
    """
    if event.outcome not in ("success", "error"):
        return None
    return CallFact(
        # Rows from before call ids existed are told apart as the store does.
        call_id=event.call_id or f"{event.request_id}:{event.attempt}",
        at=event.started_at.timestamp() + event.latency_ms / 1000,
        ok=event.outcome == "success",
        fallback=event.is_fallback,
        latency_ms=event.latency_ms,
        cost_usd=event.cost_usd,
        model=event.model,
        provider=event.provider,
        tenant=event.tenant,
        route=event.route,
    )


def latency_bin(ms: float) -> int:
    """Bin 0 holds everything under 1 ms; bin b >= 1 holds [1.01^(b-1), 1.01^b)."""
    if ms < 1:
        return 0
    return 1 + int(math.log(ms) / _LOG_GROWTH)


def bin_value(b: int) -> float:
    """The bin's geometric middle: within 0.5 % of anything in it."""
    return 0.5 if b == 0 else float(_GROWTH ** (b - 0.5))


@dataclass(slots=True)
class _Bucket:
    calls: int = 0
    errors: int = 0
    fallbacks: int = 0
    cost: Decimal = Decimal(0)
    latencies: dict[int, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class WindowStats:
    calls: int = 0
    errors: int = 0
    fallbacks: int = 0
    cost: Decimal = Decimal(0)
    latencies: tuple[tuple[int, int], ...] = ()  # (bin, count), sorted by bin

    @property
    def successes(self) -> int:
        return self.calls - self.errors

    def samples(self, metric: AlertMetric) -> int:
        """How many calls ``metric`` is over: latency is measured on successes only."""
        return self.successes if metric == "p95_latency_ms" else self.calls

    def value(self, metric: AlertMetric) -> float | None:
        if self.samples(metric) == 0:
            return None
        if metric == "error_rate":
            return self.errors / self.calls
        if metric == "fallback_rate":
            return self.fallbacks / self.calls
        if metric == "cost_usd":
            return float(self.cost)
        return self.quantile(0.95)

    def quantile(self, q: float) -> float | None:
        """Nearest rank: the smallest latency with at least ``q`` of the samples at or under it."""
        total = sum(count for _, count in self.latencies)
        if total == 0:
            return None
        rank = max(1, math.ceil(q * total))
        seen = 0
        for b, count in self.latencies:
            seen += count
            if seen >= rank:
                return bin_value(b)
        raise AssertionError("unreachable: the ranks add up to the total")


class Window:
    def __init__(self, window_s: float, latencies: bool) -> None:
        self.window_s = window_s
        self.width = window_s / BUCKETS
        self._latencies = latencies
        self._buckets: dict[int, _Bucket] = {}

    def _first(self, now: float) -> int:
        """The oldest bucket index inside the window at ``now``."""
        return math.ceil((now - self.window_s) / self.width)

    def add(self, fact: CallFact, now: float) -> bool:
        """Count the call; False when it is older than the window (nothing counted)."""
        # A gateway clock ahead of ours would put the call past the newest bucket.
        index = math.floor(min(fact.at, now) / self.width)
        first = self._first(now)
        if index < first:
            return False
        bucket = self._buckets.get(index)
        if bucket is None:
            self._prune(first)  # new buckets are rare: old ones go then, not per call
            bucket = self._buckets[index] = _Bucket()
        bucket.calls += 1
        bucket.errors += not fact.ok
        bucket.fallbacks += fact.fallback
        bucket.cost += fact.cost_usd
        if self._latencies and fact.ok:
            b = latency_bin(fact.latency_ms)
            bucket.latencies[b] = bucket.latencies.get(b, 0) + 1
        return True

    def _prune(self, first: int) -> None:
        for index in [i for i in self._buckets if i < first]:
            del self._buckets[index]

    def stats(self, now: float) -> WindowStats:
        self._prune(self._first(now))
        if not self._buckets:
            return WindowStats()
        merged: dict[int, int] = {}
        calls = errors = fallbacks = 0
        cost = Decimal(0)
        for bucket in self._buckets.values():
            calls += bucket.calls
            errors += bucket.errors
            fallbacks += bucket.fallbacks
            cost += bucket.cost
            for b, count in bucket.latencies.items():
                merged[b] = merged.get(b, 0) + count
        return WindowStats(calls, errors, fallbacks, cost, tuple(sorted(merged.items())))

    @property
    def empty(self) -> bool:
        return not self._buckets
