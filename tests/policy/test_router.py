from collections.abc import Callable

import pytest

from policy.classifier import classify
from policy.router import RoutingError, choose_route
from schemas.config import GatewayConfig
from schemas.events import LLMRequest

MakeRequest = Callable[..., LLMRequest]


def test_first_matching_route_wins(config: GatewayConfig, make_request: MakeRequest) -> None:
    req = make_request("write a python function", task_type="code")
    plan = choose_route(config, req, classify(req))
    assert plan.route == "code"
    # the duplicate fallback is dropped, order kept
    assert plan.candidates == ["big", "small"]


def test_tenant_condition(config: GatewayConfig, make_request: MakeRequest) -> None:
    req = make_request("hello", tenant="vip")
    assert choose_route(config, req, classify(req)).route == "vip"


def test_default_route_has_fallback_chain(config: GatewayConfig, make_request: MakeRequest) -> None:
    req = make_request("hello")
    plan = choose_route(config, req, classify(req))
    assert (plan.route, plan.candidates) == ("default", ["small", "big"])


def test_named_route_is_honoured(config: GatewayConfig, make_request: MakeRequest) -> None:
    req = make_request("hello", route="vip")
    assert choose_route(config, req, classify(req)).route == "vip"


def test_unknown_named_route(config: GatewayConfig, make_request: MakeRequest) -> None:
    req = make_request("hello", route="gold")
    with pytest.raises(RoutingError) as info:
        choose_route(config, req, classify(req))
    assert info.value.reason == "unknown_route"
    assert "'gold'" in info.value.detail


def test_no_route_matches(config: GatewayConfig, make_request: MakeRequest) -> None:
    req = make_request("Prove step by step and compare, analyze trade-offs. " * 200)
    c = classify(req)
    assert c.score > 0.5 and c.task_type != "code"
    with pytest.raises(RoutingError) as info:
        choose_route(config, req, c)
    assert info.value.reason == "no_route"


def test_by_name_only_routes_are_never_matched(
    config: GatewayConfig, make_request: MakeRequest
) -> None:
    named = config.routes[-1].model_copy(update={"name": "named", "by_name_only": True})
    first = config.model_copy(update={"routes": [named, *config.routes]})
    req = make_request("hello")
    assert choose_route(first, req, classify(req)).route == "default"
    asked = make_request("hello", route="named")
    assert choose_route(first, asked, classify(asked)).route == "named"
