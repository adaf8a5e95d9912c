"""What routing saved: the paid cost against sending each call to its route's strongest model.

An estimate, by construction: it prices the tokens each call really used at another
model's prices, as if the strong model would have read and written as many tokens.

**The strongest model of a route** is the candidate (primary or fallback) that would
have cost the most for *this route's traffic*: each candidate prices the route's summed
input, cached-input and output tokens, and the dearest wins. Prices alone do not order
models (one may charge more for input, another for output), so the route's own token mix
decides. Ties go to the higher input + output price per million tokens, then to the
earlier model in the route (primary first). A route with no tokens in the range is thus
decided by the listed prices.

Per (route, model) row, ``cost_if_strongest`` is :func:`policy.pricing.cost_usd` of the
row's token sums at the strongest model's prices, except on the strongest model's own
rows, where it is what was paid (their saving is zero by definition, and re-pricing a sum
could differ from the per-call sum by rounding or by a price changed since).

Rows the config cannot price (their route is no longer in the config) are listed under
``unpriced`` and left out of the totals; rows of a model that the route no longer names
are priced all the same (only the strongest model's prices are needed) and named under
``warnings``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from policy.pricing import cost_usd
from schemas.config import GatewayConfig, ModelConfig
from schemas.routes import RouteConfig

# Shares are ratios for people to read: four decimals (0.01%) is finer than any decision.
_SHARE_DIGITS = 4


@dataclass(frozen=True)
class UsageSums:
    """One (route, model) group of provider calls over a time range."""

    route: str
    model: str
    requests: int
    input_tokens: int
    output_tokens: int
    cached_input_tokens: int
    cost_usd: Decimal


@dataclass(frozen=True)
class RouteSaving:
    route: str
    model: str
    requests: int
    cost_usd: Decimal
    cost_if_strongest_usd: Decimal
    strongest_model: str

    @property
    def saved_usd(self) -> Decimal:
        return self.cost_if_strongest_usd - self.cost_usd


@dataclass(frozen=True)
class Unpriced:
    route: str
    model: str
    requests: int
    cost_usd: Decimal
    reason: str


@dataclass(frozen=True)
class SavingsEstimate:
    routes: list[RouteSaving]
    unpriced: list[Unpriced]
    warnings: list[str]

    @property
    def cost_usd(self) -> Decimal:
        return sum((r.cost_usd for r in self.routes), Decimal(0))

    @property
    def cost_if_strongest_usd(self) -> Decimal:
        return sum((r.cost_if_strongest_usd for r in self.routes), Decimal(0))

    @property
    def saved_usd(self) -> Decimal:
        return self.cost_if_strongest_usd - self.cost_usd

    @property
    def saved_share(self) -> float | None:
        """Saved / cost if strongest; None when the strongest would have cost nothing."""
        if self.cost_if_strongest_usd == 0:
            return None
        return round(float(self.saved_usd / self.cost_if_strongest_usd), _SHARE_DIGITS)


def route_candidates(route: RouteConfig) -> list[str]:
    """The route's models in order, each once (a route may name a model twice)."""
    return list(dict.fromkeys([route.primary, *route.fallbacks]))


def strongest_model(config: GatewayConfig, route: RouteConfig, groups: Iterable[UsageSums]) -> str:
    """The route's candidate that would have cost the most for ``groups``' token sums."""
    groups = list(groups)
    inputs = sum(g.input_tokens for g in groups)
    outputs = sum(g.output_tokens for g in groups)
    cached = sum(g.cached_input_tokens for g in groups)
    candidates = route_candidates(route)

    def rank(name: str) -> tuple[Decimal, Decimal, int]:
        model = config.models[name]
        mix = cost_usd(model, inputs, outputs, cached)
        return mix, model.input_per_mtok + model.output_per_mtok, -candidates.index(name)

    return max(candidates, key=rank)


def estimate_savings(config: GatewayConfig, rows: Iterable[UsageSums]) -> SavingsEstimate:
    rows = list(rows)
    by_route: dict[str, list[UsageSums]] = {}
    for row in rows:
        by_route.setdefault(row.route, []).append(row)
    routes: list[RouteSaving] = []
    unpriced: list[Unpriced] = []
    warnings: list[str] = []
    for name in sorted(by_route):
        groups = sorted(by_route[name], key=lambda g: g.model)
        route = config.route(name)
        if route is None:
            reason = f"route {name!r} is not in the config"
            unpriced += [Unpriced(g.route, g.model, g.requests, g.cost_usd, reason) for g in groups]
            continue
        strongest = strongest_model(config, route, groups)
        prices: ModelConfig = config.models[strongest]
        candidates = route_candidates(route)
        for g in groups:
            if g.model not in candidates:
                warnings.append(
                    f"model {g.model!r} is not one of route {name!r}'s models in the config;"
                    f" its tokens are priced at {strongest!r} all the same"
                )
            if g.model == strongest:
                if_strongest = g.cost_usd
            else:
                if_strongest = cost_usd(
                    prices, g.input_tokens, g.output_tokens, g.cached_input_tokens
                )
            routes.append(
                RouteSaving(name, g.model, g.requests, g.cost_usd, if_strongest, strongest)
            )
    return SavingsEstimate(routes, unpriced, warnings)


class SavingsInputError(ValueError):
    """A row handed to :func:`router_savings` lacks a field or holds a value of the wrong kind."""


def usage_sums(row: Mapping[str, Any], index: int = 0) -> UsageSums:
    """A query row (counts may come as strings: ClickHouse quotes 64-bit integers in JSON)."""

    def field(name: str) -> Any:
        if name not in row:
            raise SavingsInputError(f"rows[{index}].{name}: missing")
        return row[name]

    def count(name: str) -> int:
        value = field(name)
        try:
            if isinstance(value, bool | float):
                raise ValueError(value)
            number = int(value)
        except (TypeError, ValueError) as exc:
            raise SavingsInputError(f"rows[{index}].{name}: not a count: {value!r}") from exc
        if number < 0:
            raise SavingsInputError(f"rows[{index}].{name}: not a count: {value!r}")
        return number

    raw_cost = field("cost_usd")
    try:
        # Through str: a float would carry its binary error into the sum.
        cost = Decimal(str(raw_cost)) if not isinstance(raw_cost, float | bool) else None
    except InvalidOperation:
        cost = None
    if cost is None or not cost.is_finite():
        raise SavingsInputError(f"rows[{index}].cost_usd: not a decimal amount: {raw_cost!r}")
    return UsageSums(
        route=str(field("route")),
        model=str(field("model")),
        requests=count("requests"),
        input_tokens=count("input_tokens"),
        output_tokens=count("output_tokens"),
        cached_input_tokens=count("cached_input_tokens"),
        cost_usd=cost,
    )


def router_savings(config: GatewayConfig, rows: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The saving part of ``/api/router``, JSON-ready (decimals as strings).

    ``rows``: provider calls summed per (route, model), each with ``route, model,
    requests, input_tokens, output_tokens, cached_input_tokens, cost_usd``.
    """
    estimate = estimate_savings(config, (usage_sums(r, i) for i, r in enumerate(rows)))
    return {
        "routes": [
            {
                "route": r.route,
                "model": r.model,
                "requests": r.requests,
                "cost_usd": str(r.cost_usd),
                "cost_if_strongest_usd": str(r.cost_if_strongest_usd),
                "saved_usd": str(r.saved_usd),
                "strongest_model": r.strongest_model,
            }
            for r in estimate.routes
        ],
        "cost_usd": str(estimate.cost_usd),
        "cost_if_strongest_usd": str(estimate.cost_if_strongest_usd),
        "saved_usd": str(estimate.saved_usd),
        "saved_share": estimate.saved_share,
        "estimate": True,
        "unpriced": [
            {
                "route": u.route,
                "model": u.model,
                "requests": u.requests,
                "cost_usd": str(u.cost_usd),
                "reason": u.reason,
            }
            for u in estimate.unpriced
        ],
        "warnings": estimate.warnings,
    }


def tier_mix(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """``[{tier, model, requests, share}]`` from rows of ``{tier, model, requests}``.

    ``share`` is of every request in the rows, so the shares add up to 1 (to rounding).
    """
    counted = [(str(r["tier"]), str(r["model"]), int(r["requests"])) for r in rows]
    total = sum(n for _, _, n in counted)
    return [
        {
            "tier": tier,
            "model": model,
            "requests": n,
            "share": round(n / total, _SHARE_DIGITS) if total else None,
        }
        for tier, model, n in sorted(counted)
    ]
