"""Pick a route for a classified request: the first route whose conditions all hold."""

from __future__ import annotations

from dataclasses import dataclass

from schemas.config import GatewayConfig, RouteConfig, RouteMatch
from schemas.events import Classification, DeadLetterReason, LLMRequest


class RoutingError(Exception):
    """No usable route; ``reason`` is the dead-letter reason to publish."""

    def __init__(self, reason: DeadLetterReason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class RoutePlan:
    route: str
    candidates: list[str]


def matches(when: RouteMatch, request: LLMRequest, c: Classification) -> bool:
    checks = [
        when.task_types is None or c.task_type in when.task_types,
        when.tiers is None or c.tier in when.tiers,
        when.min_complexity is None or c.score >= when.min_complexity,
        when.max_complexity is None or c.score <= when.max_complexity,
        when.tenants is None or request.tenant in when.tenants,
    ]
    return all(checks)


def _plan(route: RouteConfig) -> RoutePlan:
    # A model listed twice would only repeat the same failure; keep first occurrence.
    candidates = list(dict.fromkeys([route.primary, *route.fallbacks]))
    return RoutePlan(route=route.name, candidates=candidates)


def choose_route(config: GatewayConfig, request: LLMRequest, c: Classification) -> RoutePlan:
    if request.route is not None:
        named = config.route(request.route)
        if named is None:
            known = ", ".join(r.name for r in config.routes)
            raise RoutingError(
                "unknown_route", f"request asks for route {request.route!r}; known: {known}"
            )
        return _plan(named)
    for route in config.routes:
        if not route.by_name_only and matches(route.when, request, c):
            return _plan(route)
    raise RoutingError(
        "no_route",
        f"no route matches tenant={request.tenant!r} task_type={c.task_type}"
        f" tier={c.tier} score={c.score}",
    )
