"""Capability fit and the routing strategies, as pure functions of request and config."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

import httpx
import pytest

from adapters.base import ProviderRequest
from adapters.capabilities import Capabilities, required_features
from adapters.credentials import AwsKeys, Credentials
from adapters.registry import ADAPTERS, capabilities_of
from policy.estimate import cost_estimate
from policy.strategy import (
    NO_LATENCY,
    Rotation,
    capable,
    misfits,
    model_capabilities,
    order,
    request_features,
)
from policy.tokens import Family, estimate_input_tokens, with_margin
from schemas.config import GatewayConfig, ModelConfig, RouteConfig
from schemas.config_loader import parse_config
from schemas.events import LLMRequest
from tests.paths import EXAMPLE_CONFIG

# mini: every OpenAI feature; haiku: Anthropic (no temperature, no JSON mode); sonar:
# Perplexity (no tools, no images); tiny: OpenAI, the cheapest, with a small window.
CONFIG = """
providers:
  oa: {format: openai, base_url: "http://127.0.0.1:1/v1"}
  px: {format: openai, preset: perplexity, base_url: "http://127.0.0.1:2"}
  an: {format: anthropic, base_url: "http://127.0.0.1:3"}
models:
  mini: {provider: oa, upstream: m, input_per_mtok: "0.15", output_per_mtok: "0.60",
         context_window: 128000}
  haiku: {provider: an, upstream: h, input_per_mtok: "0.80", output_per_mtok: "4",
          context_window: 200000}
  sonar: {provider: px, upstream: s, input_per_mtok: "1", output_per_mtok: "1",
          context_window: 127072}
  tiny: {provider: oa, upstream: t, input_per_mtok: "0.01", output_per_mtok: "0.02",
         context_window: 2000}
routes:
  - {name: priority, primary: sonar, fallbacks: [mini, haiku]}
  - {name: ab, primary: mini, fallbacks: [haiku], strategy: weighted,
     weights: {mini: 7, haiku: 3}}
  - {name: ab-user, primary: mini, fallbacks: [haiku], strategy: weighted,
     weights: {mini: 70, haiku: 30}, weight_key: user}
  - {name: ab-three, primary: mini, fallbacks: [haiku, sonar], strategy: weighted,
     weights: {mini: 5, haiku: 3, sonar: 2}}
  - {name: rr, primary: mini, fallbacks: [haiku, sonar], strategy: round_robin}
  - {name: cheap, primary: haiku, fallbacks: [mini, tiny], strategy: cheapest}
  - {name: fast, primary: haiku, fallbacks: [mini, sonar], strategy: fastest, explore: 0.1}
  - {name: fast-pair, primary: haiku, fallbacks: [mini], strategy: fastest}
"""

N = 10_000


@pytest.fixture(scope="module")
def config() -> GatewayConfig:
    return parse_config(CONFIG)


@pytest.fixture(scope="module")
def caps(config: GatewayConfig) -> dict[str, Capabilities]:
    return model_capabilities(config)


def _route(config: GatewayConfig, name: str) -> RouteConfig:
    route = config.route(name)
    assert route is not None
    return route


def _models(route: RouteConfig) -> list[str]:
    return list(dict.fromkeys([route.primary, *route.fallbacks]))


def _request(request_id: str = "r-1", text: str = "hello", **over: Any) -> LLMRequest:
    data: dict[str, Any] = {
        "request_id": request_id,
        "tenant": "acme",
        "messages": [{"role": "user", "content": text}],
    }
    return LLMRequest.model_validate(data | over)


def _order(
    config: GatewayConfig,
    name: str,
    request: LLMRequest,
    *,
    counter: int = 0,
    latency_ms: Mapping[str, float] = NO_LATENCY,
) -> tuple[list[str], str | None]:
    route = _route(config, name)
    return order(route, _models(route), request, config, counter=counter, latency_ms=latency_ms)


def _chain(
    config: GatewayConfig, name: str, request: LLMRequest, **kw: Any
) -> tuple[tuple[str, ...], str | None]:
    """:func:`_order`'s answer in a hashable form, to count."""
    ordered, arm = _order(config, name, request, **kw)
    return tuple(ordered), arm


TOOL = {"name": "lookup", "description": "find a thing", "parameters": {"type": "object"}}


# --- what a request needs ------------------------------------------------------------------


def test_request_features_are_those_the_adapters_check() -> None:
    request = _request(
        messages=[
            {"role": "system", "content": "be brief"},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "what is this?"},
                    {"type": "image", "media_type": "image/png", "url": "https://x.test/a.png"},
                ],
            },
        ],
        tools=[TOOL],
        tool_choice="required",
        response_format={"type": "json_schema", "json_schema": {"type": "object"}},
        params={"temperature": 0.2, "top_p": 0.9, "stop": ["\n"]},
    )
    want = {
        "system_prompt",
        "images",
        "image_urls",
        "tools",
        "tool_choice_required",
        "json_schema",
        "temperature",
        "top_p",
        "stop",
    }
    assert request_features(request) == want
    # The same as what the model client's check sees once a model is chosen.
    call = ProviderRequest(
        upstream_model="m",
        messages=request.messages,
        params=request.params,
        tools=request.tools,
        tool_choice=request.tool_choice,
        response_format=request.response_format,
    )
    assert required_features(call) == want
    assert request_features(_request()) == set()


async def test_capabilities_without_an_adapter_match_the_adapters() -> None:
    config = parse_config(EXAMPLE_CONFIG.read_text(), env={})
    credentials = Credentials(api_key="k", aws=AwsKeys("AKID", "secret"))
    formats = set()
    async with httpx.AsyncClient() as client:
        for name, provider in config.providers.items():
            adapter = ADAPTERS[provider.format](name, provider, client, credentials)
            assert capabilities_of(provider) == adapter.capabilities, name
            formats.add(provider.format)
    assert formats == set(ADAPTERS), "the example config has a provider of every format"


# --- capability fit -----------------------------------------------------------------------


def test_a_tool_request_skips_a_model_whose_wire_format_has_no_tools(
    config: GatewayConfig, caps: dict[str, Capabilities]
) -> None:
    models = ["sonar", "mini", "haiku"]
    request = _request(tools=[TOOL])
    assert capable(models, request, config, caps) == ["mini", "haiku"]
    assert misfits(models, request, config, caps) == {"sonar": "lacks tools"}
    # Without tools the same route keeps all three, in order.
    assert capable(models, _request(), config, caps) == models


def test_each_missing_feature_is_named(
    config: GatewayConfig, caps: dict[str, Capabilities]
) -> None:
    request = _request(tools=[TOOL], params={"temperature": 0.3, "stop": ["x"]})
    unfit = misfits(["sonar", "haiku", "mini"], request, config, caps)
    # Perplexity has temperature but no tools or stop; Anthropic lacks only temperature.
    assert unfit == {"sonar": "lacks stop, tools", "haiku": "lacks temperature"}


def test_a_long_prompt_skips_a_small_context_window(
    config: GatewayConfig, caps: dict[str, Capabilities]
) -> None:
    # tiny's upstream name says nothing of its tokenizer: the DEFAULT family and its 50 %
    # margin. 1024 output tokens by default: a window of 2000 leaves 976 for the input.
    short, long = _request(text="word " * 100), _request(text="word " * 800)
    assert _needed(short) + 1024 <= 2000 < _needed(long) + 1024
    assert capable(["tiny", "mini"], short, config, caps) == ["tiny", "mini"]
    assert capable(["tiny", "mini"], long, config, caps) == ["mini"]
    tokens = estimate_input_tokens(long, Family.DEFAULT)
    assert misfits(["tiny"], long, config, caps) == {
        "tiny": f"~{tokens} input tokens +50% margin + 1024 max_tokens"
        f" = {_needed(long) + 1024} > context_window 2000"
    }


def _needed(request: LLMRequest) -> int:
    return with_margin(estimate_input_tokens(request, Family.DEFAULT), Family.DEFAULT)


def test_max_tokens_counts_against_the_window(
    config: GatewayConfig, caps: dict[str, Capabilities]
) -> None:
    request = _request()
    tokens_in = _needed(request)
    # A window exactly as large as input plus output fits; one token less does not.
    fits = _request(params={"max_tokens": 2000 - tokens_in})
    over = _request(params={"max_tokens": 2000 - tokens_in + 1})
    assert capable(["tiny"], fits, config, caps) == ["tiny"]
    assert capable(["tiny"], over, config, caps) == []


def test_a_model_of_unknown_capabilities_does_not_fit(config: GatewayConfig) -> None:
    assert misfits(["mini", "ghost"], _request(), config, {}) == {
        "mini": "capabilities unknown",
        "ghost": "capabilities unknown and not a configured model",
    }


# --- priority and round robin -------------------------------------------------------------


def test_priority_keeps_the_route_order_and_has_no_arm(config: GatewayConfig) -> None:
    assert _order(config, "priority", _request(), counter=5) == (["sonar", "mini", "haiku"], None)


def test_round_robin_rotates_and_keeps_the_rest_in_route_order(config: GatewayConfig) -> None:
    got = [_order(config, "rr", _request(), counter=c) for c in range(6)]
    assert (
        got
        == [
            (["mini", "haiku", "sonar"], "mini"),
            (["haiku", "mini", "sonar"], "haiku"),
            (["sonar", "mini", "haiku"], "sonar"),
        ]
        * 2
    )


def test_round_robin_rotates_over_the_capable_models_only(config: GatewayConfig) -> None:
    route = _route(config, "rr")
    firsts = [
        order(route, ["mini", "haiku"], _request(), config, counter=c, latency_ms=NO_LATENCY)[1]
        for c in range(4)
    ]
    assert firsts == ["mini", "haiku", "mini", "haiku"]


def test_rotation_counts_each_route_apart() -> None:
    rotation = Rotation()
    # Two routes taking turns must not each see every other turn.
    turns = [(rotation.take("a"), rotation.take("b")) for _ in range(3)]
    assert turns == [(0, 0), (1, 1), (2, 2)]


# --- weighted -----------------------------------------------------------------------------


def test_weighted_70_30_holds_within_two_percent_over_10000_requests(
    config: GatewayConfig,
) -> None:
    arms = Counter(_order(config, "ab", _request(f"req-{i}"))[1] for i in range(N))
    assert set(arms) == {"mini", "haiku"}
    assert abs(arms["mini"] / N - 0.7) <= 0.02, arms
    assert abs(arms["haiku"] / N - 0.3) <= 0.02, arms


def test_weighted_three_ways_and_the_chain_after_the_arm(config: GatewayConfig) -> None:
    outcomes = Counter(_chain(config, "ab-three", _request(f"id-{i}")) for i in range(N))
    # The arm first, the other models in the route's order behind it.
    assert set(outcomes) == {
        (("mini", "haiku", "sonar"), "mini"),
        (("haiku", "mini", "sonar"), "haiku"),
        (("sonar", "mini", "haiku"), "sonar"),
    }
    shares = {arm: n / N for (_, arm), n in outcomes.items()}
    for arm, want in {"mini": 0.5, "haiku": 0.3, "sonar": 0.2}.items():
        assert abs(shares[arm] - want) <= 0.02, shares


def test_the_same_request_id_always_gets_the_same_arm(config: GatewayConfig) -> None:
    for i in range(200):
        request = _request(f"stable-{i}")
        first = _order(config, "ab", request)
        # Whatever else differs: a retry, a replay on another worker, other figures.
        again = _order(config, "ab", request, counter=i + 7, latency_ms={"mini": 1.0})
        assert again == first
        assert _order(config, "ab", _request(f"stable-{i}", text="other text")) == first


def test_weight_key_hashes_the_metadata_value_instead_of_the_request_id(
    config: GatewayConfig,
) -> None:
    for user in (f"user-{u}" for u in range(50)):
        arms = {
            _order(config, "ab-user", _request(f"r-{user}-{i}", metadata={"user": user}))[1]
            for i in range(20)
        }
        assert len(arms) == 1, user  # a user keeps one arm over all their requests
    users = Counter(
        _order(config, "ab-user", _request("same-id", metadata={"user": f"u{u}"}))[1]
        for u in range(N)
    )
    assert abs(users["mini"] / N - 0.7) <= 0.02, users


def test_without_the_weight_key_the_request_id_is_hashed(config: GatewayConfig) -> None:
    for i in range(200):
        by_id = _order(config, "ab", _request(f"k-{i}"))
        assert _order(config, "ab-user", _request(f"k-{i}")) == by_id
        assert _order(config, "ab-user", _request(f"k-{i}", metadata={"user": ""})) == by_id
        assert _order(config, "ab-user", _request(f"k-{i}", metadata={"other": "x"})) == by_id


def test_weighted_shares_an_unfit_models_weight_among_the_rest(config: GatewayConfig) -> None:
    route = _route(config, "ab-three")
    arms = Counter(
        order(route, ["mini", "sonar"], _request(f"w-{i}"), config, counter=0, latency_ms={})[1]
        for i in range(N)
    )
    # haiku (3) cannot serve: mini 5 : sonar 2.
    assert abs(arms["mini"] / N - 5 / 7) <= 0.02, arms


# --- cheapest -----------------------------------------------------------------------------


def test_cheapest_takes_the_lowest_estimate_for_this_request(
    config: GatewayConfig, caps: dict[str, Capabilities]
) -> None:
    request = _request()
    ordered, arm = _order(config, "cheap", request)
    assert (ordered, arm) == (["tiny", "haiku", "mini"], "tiny")
    estimates = {m: cost_estimate(request, [m], config) for m in ordered}
    assert estimates["tiny"] == min(estimates.values())
    # A prompt tiny cannot hold: the cheapest of the models that can serve it.
    long = _request(text="word " * 800)
    route = _route(config, "cheap")
    fitting = capable(_models(route), long, config, caps)
    assert order(route, fitting, long, config, counter=0, latency_ms={}) == (
        ["mini", "haiku"],
        "mini",
    )


def test_cheapest_weighs_output_by_max_tokens(config: GatewayConfig) -> None:
    # cheapo: input nearly free, output dear; pricey: the reverse. A short answer is
    # cheapest on cheapo, a long one on pricey.
    models = dict(config.models)
    models["cheapo"] = ModelConfig(
        provider="oa", upstream="c", input_per_mtok=0, output_per_mtok=100, context_window=10**6
    )
    models["pricey"] = ModelConfig(
        provider="oa", upstream="p", input_per_mtok=100, output_per_mtok=0, context_window=10**6
    )
    costly = config.model_copy(update={"models": models})
    route = RouteConfig(name="c", primary="pricey", fallbacks=["cheapo"], strategy="cheapest")
    text = "x" * 3000  # ~1000 input tokens

    def arm(max_tokens: int) -> str | None:
        request = _request(text=text, params={"max_tokens": max_tokens})
        return order(route, ["pricey", "cheapo"], request, costly, counter=0, latency_ms={})[1]

    assert arm(10) == "cheapo"
    assert arm(100_000) == "pricey"


# --- fastest ------------------------------------------------------------------------------


def test_fastest_sends_all_but_the_explore_share_to_the_lowest_latency(
    config: GatewayConfig,
) -> None:
    latency = {"haiku": 800.0, "mini": 100.0, "sonar": 300.0}
    outcomes = Counter(
        _chain(config, "fast", _request(f"f-{i}"), latency_ms=latency) for i in range(N)
    )
    # The fastest first, else the next best; the rest of the chain in the route's order.
    assert set(outcomes) == {
        (("mini", "haiku", "sonar"), "mini"),
        (("sonar", "haiku", "mini"), "sonar"),
    }
    explored = sum(n for (_, arm), n in outcomes.items() if arm == "sonar")
    assert abs(explored / N - 0.10) <= 0.02, explored


def test_fastest_tries_a_model_without_a_figure_first(config: GatewayConfig) -> None:
    def firsts(latency: dict[str, float]) -> Counter[str | None]:
        return Counter(
            _order(config, "fast-pair", _request(f"n-{i}"), latency_ms=latency)[1] for i in range(N)
        )

    # Unmeasured counts as 0 ms, ahead of even a very fast model; explore is 0.05 here.
    assert firsts({"haiku": 300.0})["mini"] / N >= 0.93
    assert firsts({"mini": 1.0})["haiku"] / N >= 0.93


def test_fastest_follows_the_figures_as_they_change(config: GatewayConfig) -> None:
    def share_mini(latency: dict[str, float]) -> float:
        arms = Counter(
            _order(config, "fast-pair", _request(f"c-{i}"), latency_ms=latency)[1]
            for i in range(2000)
        )
        return arms["mini"] / 2000

    assert share_mini({"mini": 100.0, "haiku": 800.0}) >= 0.9
    assert share_mini({"mini": 900.0, "haiku": 800.0}) <= 0.1


def test_fastest_with_one_candidate_has_nothing_to_explore(config: GatewayConfig) -> None:
    route = _route(config, "fast")
    for i in range(200):
        assert order(route, ["sonar"], _request(f"o-{i}"), config, counter=0, latency_ms={}) == (
            ["sonar"],
            "sonar",
        )


def test_order_refuses_an_empty_list(config: GatewayConfig) -> None:
    with pytest.raises(ValueError, match="route 'rr': no candidates"):
        order(_route(config, "rr"), [], _request(), config, counter=0, latency_ms={})
