"""Synthetic but plausible usage events for the analytics benchmark.

Requests arrive in time order (a sink reads its topic roughly in the order calls started)
over the routes and prices of the example config. Per request: about 1% are rejected
before any call; the first call fails about 9% of the time, and a failed call is followed
by a fallback to the route's next model (70%) or a retry on the same model (30%); about
0.1% of calls keep only their ``started`` row (a worker died mid-call). Latency and token
counts are log-normal around per-model medians; a third of the calls have cached prompt
tokens. Twelve tenants with skewed traffic. Seeded: every run writes the same rows.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from schemas.config import GatewayConfig
from schemas.events import UsageEvent
from streams.usage_sink import fold_started

TENANTS = [f"tenant-{i}" for i in range(1, 13)]
TENANT_WEIGHTS = [1 / i for i in range(1, 13)]  # Zipf-like: tenant-1 sends the most

# route -> (share of requests, tiers it serves, task types it serves)
ROUTE_MIX: dict[str, tuple[float, tuple[str, ...], tuple[str, ...]]] = {
    "default": (0.45, ("simple", "moderate"), ("chat", "extract", "creative")),
    "hard": (0.15, ("complex",), ("reasoning", "math")),
    "code": (0.15, ("moderate", "complex"), ("code",)),
    "summarize": (0.10, ("simple", "moderate"), ("summarize",)),
    "budget": (0.07, ("simple",), ("chat", "extract")),
    "search": (0.05, ("moderate",), ("chat",)),
    "on-prem": (0.03, ("simple",), ("chat",)),
}
ERROR_KINDS = [("unavailable", 503), ("rate_limited", 429), ("timeout", 0), ("connection_error", 0)]
REJECTION_KINDS = ["budget_exceeded", "rate_limited", "no_capable_model"]

P_REJECTED = 0.01
P_FIRST_CALL_FAILS = 0.09
P_FALLBACK_AFTER_ERROR = 0.7
P_RETRY_FAILS = 0.05
P_INTERRUPTED = 0.001
P_CACHED = 0.33

_NANO = Decimal("0.000000001")
_MTOK = Decimal(1_000_000)


@dataclass(frozen=True)
class _Model:
    name: str
    provider: str
    upstream: str
    prices: tuple[Decimal, Decimal, Decimal]  # input, cached input, output per 1M tokens
    median_latency_ms: float


class UsageFaker:
    """Usage events of requests that start at an even pace between ``start`` and ``end``."""

    def __init__(self, config: GatewayConfig, seed: int = 10) -> None:
        self.rng = random.Random(seed)
        self.routes: dict[str, list[_Model]] = {}
        for route in config.routes:
            if route.name not in ROUTE_MIX:
                continue
            models = []
            for name in [route.primary, *route.fallbacks]:
                m = config.models[name]
                cached = m.cached_input_per_mtok
                prices = (m.input_per_mtok, cached if cached is not None else m.input_per_mtok)
                # Slow models are the expensive ones: median latency grows with the price.
                median = 350.0 + 120.0 * float(m.output_per_mtok)
                models.append(
                    _Model(name, m.provider, m.upstream, (*prices, m.output_per_mtok), median)
                )
            self.routes[route.name] = models
        self.route_names = list(self.routes)
        self.route_weights = [ROUTE_MIX[r][0] for r in self.route_names]
        self.serial = 0

    def requests(
        self, start: datetime, end: datetime, rows: int, tag: str
    ) -> Iterator[list[UsageEvent]]:
        """Each request's events (``started`` ones included), in order of start, until the
        sink would have written ``rows`` rows; the clock runs from ``start`` to ``end`` at an
        even pace in those rows, with up to 2 s of jitter (events arrive slightly out of order)."""
        step = (end - start) / rows
        written = 0
        while written < rows:
            at = start + step * written + timedelta(milliseconds=self.rng.uniform(0, 2000))
            events = self._request(f"{tag}-{self.serial}", min(at, end))
            self.serial += 1
            written += len(fold_started(events))
            yield events

    def _request(self, request_id: str, at: datetime) -> list[UsageEvent]:
        rng = self.rng
        tenant = rng.choices(TENANTS, TENANT_WEIGHTS)[0]
        route = rng.choices(self.route_names, self.route_weights)[0]
        _, tiers, tasks = ROUTE_MIX[route]
        common = {
            "request_id": request_id,
            "tenant": tenant,
            "route": route,
            "tier": rng.choice(tiers),
            "task_type": rng.choice(tasks),
            "complexity": round(rng.random(), 3),
            "strategy": "priority",
        }
        if rng.random() < P_REJECTED:
            return [
                UsageEvent(
                    **common,
                    attempt=0,
                    call_id=f"{request_id}:rejected",
                    model="",
                    provider="",
                    upstream_model="",
                    outcome="rejected",
                    error_kind=rng.choice(REJECTION_KINDS),
                    started_at=at,
                )
            ]
        models = self.routes[route]
        events = self._call(common, models[0], 1, False, at, P_FIRST_CALL_FAILS)
        if events[-1].outcome == "error":
            after = at + timedelta(milliseconds=events[-1].latency_ms + rng.uniform(200, 1500))
            fallback = rng.random() < P_FALLBACK_AFTER_ERROR and len(models) > 1
            model = models[1] if fallback else models[0]
            events += self._call(common, model, 2, fallback, after, P_RETRY_FAILS)
        return events

    def _call(
        self,
        common: dict[str, object],
        model: _Model,
        attempt: int,
        fallback: bool,
        at: datetime,
        p_error: float,
    ) -> list[UsageEvent]:
        rng = self.rng
        call = {
            **common,
            "attempt": attempt,
            "call_id": f"{common['request_id']}:{attempt}:{rng.getrandbits(48):012x}",
            "model": model.name,
            "provider": model.provider,
            "upstream_model": model.upstream,
            "is_fallback": fallback,
            "started_at": at,
        }
        started = UsageEvent(**call, outcome="started")
        if rng.random() < P_INTERRUPTED:
            return [started]
        if rng.random() < p_error:
            kind, status = rng.choice(ERROR_KINDS)
            latency = rng.uniform(5, 200) if kind != "timeout" else 20_000.0
            end = UsageEvent(
                **call,
                outcome="error",
                error_kind=kind,
                status_code=status,
                latency_ms=round(latency, 1),
            )
            return [started, end]
        input_tokens = int(rng.lognormvariate(math.log(800), 0.9)) + 1
        output_tokens = int(rng.lognormvariate(math.log(250), 0.8)) + 1
        cached = int(input_tokens * rng.uniform(0.2, 0.9)) if rng.random() < P_CACHED else 0
        price_in, price_cached, price_out = model.prices
        cost = (
            (input_tokens - cached) * price_in + cached * price_cached + output_tokens * price_out
        ) / _MTOK
        latency = rng.lognormvariate(math.log(model.median_latency_ms), 0.5)
        end = UsageEvent(
            **call,
            outcome="success",
            status_code=200,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cached_input_tokens=cached,
            cost_usd=cost.quantize(_NANO),
            latency_ms=round(latency, 1),
        )
        return [started, end]
