"""Pick a route for a classified request (the first route whose conditions all hold) and
the order of its models for this request (:func:`plan_request`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from adapters.capabilities import Capabilities
from policy.context_fit import Fitted, TooLong, decide
from policy.strategy import NO_LATENCY, Rotation, misfits, order
from schemas.config import GatewayConfig
from schemas.context import DEFAULT_POLICY, ContextRecord
from schemas.events import Classification, DeadLetterReason, LLMRequest
from schemas.routes import RouteConfig, RouteMatch


class RoutingError(Exception):
    """No usable route; ``reason`` is the dead-letter reason to publish.

    ``route`` names the route when one matched but could not serve the request;
    ``context`` carries the figures of a ``context_too_long``.
    """

    def __init__(
        self,
        reason: DeadLetterReason,
        detail: str,
        route: str | None = None,
        context: ContextRecord | None = None,
    ) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.route = route
        self.context = context


@dataclass(frozen=True)
class RoutePlan:
    route: str
    candidates: list[str]
    strategy: str = "priority"
    arm: str | None = None
    request: LLMRequest | None = None
    """The request to send: as the context policy fitted it, else as it came (None: a plan
    made without the policy, e.g. by :func:`choose_route`)."""
    context: ContextRecord | None = None


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
    """The route and its models in the configured order (no capability fit, no strategy)."""
    return _plan(_find_route(config, request, c))


def plan_request(
    config: GatewayConfig,
    request: LLMRequest,
    c: Classification,
    capabilities: Mapping[str, Capabilities],
    *,
    rotation: Rotation | None = None,
    latency_ms: Mapping[str, float] = NO_LATENCY,
) -> RoutePlan:
    """The route, its models that can serve ``request`` ordered by the route's strategy,
    and the arm; ``no_capable_model`` when none can. Then the route's context policy
    (:func:`policy.context_fit.decide`) leaves out the models whose window cannot hold the
    request and moves or fits it, or raises ``context_too_long``.

    ``rotation`` keeps the round-robin turns (None: always the first turn); ``latency_ms``
    is what ``fastest`` knows of each model, by name.
    """
    if request.model is not None:
        return _pinned(config, request, capabilities)
    route = _find_route(config, request, c)
    models = _plan(route).candidates
    unfit = misfits(models, request, config, capabilities, context=False)
    candidates = [m for m in models if m not in unfit]
    if not candidates:
        why = "; ".join(f"{m}: {reason}" for m, reason in unfit.items())
        raise RoutingError(
            "no_capable_model",
            f"no model of route {route.name!r} can serve this request: {why}",
            route=route.name,
        )
    counter = 0
    if rotation is not None and route.strategy == "round_robin":
        counter = rotation.take(route.name)
    ordered, arm = order(route, candidates, request, config, counter=counter, latency_ms=latency_ms)
    fit = _context(request, ordered, route, config, route.name)
    return RoutePlan(
        route=route.name,
        candidates=fit.candidates,
        strategy=route.strategy,
        arm=arm,
        request=fit.request,
        context=fit.record,
    )


def _context(
    request: LLMRequest,
    ordered: list[str],
    route: RouteConfig | None,
    config: GatewayConfig,
    route_name: str,
) -> Fitted:
    policy = route.context if route is not None else DEFAULT_POLICY
    fit = decide(request, ordered, policy, config)
    if isinstance(fit, TooLong):
        detail = f"request too long for route {route_name!r}: {fit.detail}"
        raise RoutingError("context_too_long", detail, route=route_name, context=fit.record)
    return fit


PINNED_ROUTE_PREFIX = "model:"


def _pinned(
    config: GatewayConfig, request: LLMRequest, capabilities: Mapping[str, Capabilities]
) -> RoutePlan:
    """A request that names its model: that model alone, under the route ``model:<name>``
    (usage rows show it; the retry policy is the default one)."""
    name = request.model or ""
    route = PINNED_ROUTE_PREFIX + name
    if name not in config.models:
        known = ", ".join(sorted(config.models))
        raise RoutingError(
            "unknown_model", f"request asks for model {name!r}; known: {known}", route=route
        )
    unfit = misfits([name], request, config, capabilities, context=False)
    if unfit:
        raise RoutingError(
            "no_capable_model", f"model {name!r} cannot serve this request: {unfit[name]}", route
        )
    fit = _context(request, [name], None, config, route)
    return RoutePlan(route=route, candidates=[name], request=fit.request, context=fit.record)


def _find_route(config: GatewayConfig, request: LLMRequest, c: Classification) -> RouteConfig:
    if request.route is not None:
        named = config.route(request.route)
        if named is None:
            known = ", ".join(r.name for r in config.routes)
            raise RoutingError(
                "unknown_route", f"request asks for route {request.route!r}; known: {known}"
            )
        return named
    for route in config.routes:
        if not route.by_name_only and matches(route.when, request, c):
            return route
    raise RoutingError(
        "no_route",
        f"no route matches tenant={request.tenant!r} task_type={c.task_type}"
        f" tier={c.tier} score={c.score}",
    )
