"""Which of a route's models serve a request, and which one to try first.

Pure: no I/O and no clock. Triage drops the candidates that cannot serve the request
(:func:`capable`), then the route's strategy orders the rest (:func:`order`): the first is
the first choice, the others keep the route's order as the fallback chain
(docs/design/routing.md).

The hashes are blake2b, not Python's ``hash()``: that one is salted per process, and an
arm must come out the same on every worker, across retries and replays.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from types import MappingProxyType
from typing import assert_never

from adapters.capabilities import Capabilities, Feature, required_features
from adapters.registry import capabilities_of
from policy.context_fit import window_misfits
from policy.estimate import input_tokens, output_tokens
from policy.pricing import cost_usd
from schemas.config import GatewayConfig
from schemas.events import LLMRequest
from schemas.routes import RouteConfig

NO_LATENCY: Mapping[str, float] = MappingProxyType({})
"""Latency figures before any are known: ``fastest`` then tries every model first."""


def request_features(request: LLMRequest) -> set[Feature]:
    """What a model's wire format must carry to serve ``request`` (the adapters' own check)."""
    return required_features(request)


def model_capabilities(config: GatewayConfig) -> dict[str, Capabilities]:
    """Each configured model's capabilities: those of its provider's wire format."""
    return {
        name: capabilities_of(config.providers[model.provider])
        for name, model in config.models.items()
    }


def misfits(
    models: list[str],
    request: LLMRequest,
    config: GatewayConfig,
    capabilities: Mapping[str, Capabilities],
    *,
    context: bool = True,
) -> dict[str, str]:
    """Why each model that cannot serve ``request`` cannot, by model name (in ``models``' order).

    A model fits when its wire format carries every feature the request needs and its
    context window holds the estimated input plus the output allowance (``max_tokens``, or
    ``admission.default_max_tokens``): the estimate for the model's tokenizer family with
    its safety margin (:func:`policy.context_fit.window_misfits`, the figures the route's
    context policy decides on). ``context=False`` leaves the window out, for a caller that
    applies a route's context policy itself (:func:`policy.router.plan_request`).
    """
    needed = request_features(request)
    windows = window_misfits(models, request, config) if context else {}
    reasons: dict[str, str] = {}
    for name in models:
        problems = []
        caps = capabilities.get(name)
        if caps is None:
            problems.append("capabilities unknown")
        elif missing := sorted(needed - caps.features):
            problems.append(f"lacks {', '.join(missing)}")
        model = config.models.get(name)
        if model is None:
            problems.append("not a configured model")
        elif name in windows:
            problems.append(windows[name])
        if problems:
            reasons[name] = " and ".join(problems)
    return reasons


def capable(
    models: list[str],
    request: LLMRequest,
    config: GatewayConfig,
    capabilities: Mapping[str, Capabilities],
) -> list[str]:
    """The models (in their order) that can serve ``request``: see :func:`misfits`."""
    unfit = misfits(models, request, config, capabilities)
    return [m for m in models if m not in unfit]


def unit_point(key: str, purpose: bytes) -> float:
    """A stable point in [0, 1) for ``key``; each ``purpose`` draws independently."""
    digest = hashlib.blake2b(key.encode(), digest_size=8, person=purpose).digest()
    return int.from_bytes(digest, "big") / 2**64


def weight_subject(route: RouteConfig, request: LLMRequest) -> str:
    """What ``weighted`` hashes: ``metadata[weight_key]`` when given and not empty, else the
    request_id (an empty user id names no user, so it does not pool those requests)."""
    if route.weight_key is not None:
        value = request.metadata.get(route.weight_key)
        if value:
            return value
    return request.request_id


def _weighted(route: RouteConfig, candidates: list[str], request: LLMRequest) -> str:
    # Over the capable candidates only: a model that cannot serve the request leaves its
    # share to the others in proportion, rather than to whichever follows it.
    weights = route.weights or {}
    shares = [weights.get(m, 0.0) for m in candidates]
    total = sum(shares)
    if total <= 0:  # weights are validated > 0; only a hand-built config gets here
        return candidates[0]
    point = unit_point(weight_subject(route, request), b"weighted") * total
    cumulative = 0.0
    for model, share in zip(candidates, shares, strict=True):
        cumulative += share
        if point < cumulative:
            return model
    return candidates[-1]  # float rounding can leave the point a hair past the last share


def _cheapest(candidates: list[str], request: LLMRequest, config: GatewayConfig) -> str:
    # policy.estimate.cost_estimate(request, [m], config) per model, with the token
    # estimate (a pass over the whole prompt) made once.
    tokens_in = input_tokens(request, config.admission)
    tokens_out = output_tokens(request, config.admission)
    return min(candidates, key=lambda m: cost_usd(config.models[m], tokens_in, tokens_out))


def _fastest(
    route: RouteConfig, candidates: list[str], request: LLMRequest, latency_ms: Mapping[str, float]
) -> str:
    # sorted() is stable: equal figures keep the route's order.
    ranked = sorted(candidates, key=lambda m: latency_ms.get(m, 0.0))
    if len(ranked) > 1 and unit_point(request.request_id, b"explore") < route.explore:
        # Without this a model that was slow once would never be measured again.
        return ranked[1]
    return ranked[0]


def order(
    route: RouteConfig,
    candidates: list[str],
    request: LLMRequest,
    config: GatewayConfig,
    *,
    counter: int,
    latency_ms: Mapping[str, float],
) -> tuple[list[str], str | None]:
    """The candidates, first choice first, and the arm (that first choice; None under
    ``priority``, whose first choice is no decision).

    ``candidates`` are the route's capable models in the route's order; after the first
    choice they stay in that order as the fallback chain. ``counter`` is the round-robin
    turn; ``latency_ms`` (by model name) feeds ``fastest``: a model without a figure counts
    as 0 ms, so a new model is tried.
    """
    if not candidates:
        raise ValueError(f"route {route.name!r}: no candidates to order")
    strategy = route.strategy
    if strategy == "priority":
        return list(candidates), None
    if strategy == "round_robin":
        first = candidates[counter % len(candidates)]
    elif strategy == "weighted":
        first = _weighted(route, candidates, request)
    elif strategy == "cheapest":
        first = _cheapest(candidates, request, config)
    elif strategy == "fastest":
        first = _fastest(route, candidates, request, latency_ms)
    else:
        assert_never(strategy)
    return [first, *(m for m in candidates if m != first)], first


class Rotation:
    """Round-robin turns, one counter per route, kept by each triage worker.

    Per route because a shared counter would lock step with the traffic: two round-robin
    routes that alternate would each see only even (or only odd) turns, and one arm.
    """

    def __init__(self) -> None:
        self._turns: dict[str, int] = {}

    def take(self, route: str) -> int:
        """This request's turn on ``route``; the next request gets the next one."""
        turn = self._turns.get(route, 0)
        self._turns[route] = turn + 1
        return turn
