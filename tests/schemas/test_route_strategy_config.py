"""A route's strategy settings: what the loader accepts, and that each mistake names its field."""

from __future__ import annotations

import pytest

from schemas.config import GatewayConfig
from schemas.config_loader import ConfigError, parse_config

CONFIG = """
providers:
  emu: {format: openai, base_url: "http://127.0.0.1:1/v1"}
models:
  a: {provider: emu, upstream: a, input_per_mtok: "1", output_per_mtok: "2", context_window: 1000}
  b: {provider: emu, upstream: b, input_per_mtok: "1", output_per_mtok: "2", context_window: 1000}
  c: {provider: emu, upstream: c, input_per_mtok: "1", output_per_mtok: "2", context_window: 1000}
routes:
  - {name: first, primary: a}
  - {name: second, primary: b}
  - {name: under-test, ROUTE}
"""
CHAIN = "primary: a, fallbacks: [b]"


def _load(route: str, chain: str = CHAIN) -> GatewayConfig:
    return parse_config(CONFIG.replace("ROUTE", f"{chain}, {route}"), "gw.yaml")


def _problem(route: str) -> str:
    with pytest.raises(ConfigError) as info:
        _load(route)
    return str(info.value)


def test_a_route_without_a_strategy_keeps_its_order() -> None:
    route = parse_config(CONFIG.replace("ROUTE", CHAIN), "gw.yaml").routes[2]
    assert (route.strategy, route.weights, route.weight_key, route.explore) == (
        "priority",
        None,
        None,
        0.05,
    )


def test_weighted_settings_are_read() -> None:
    route = _load("strategy: weighted, weights: {a: 70, b: 30}, weight_key: user").routes[2]
    assert route.strategy == "weighted"
    assert route.weights == {"a": 70.0, "b": 30.0}
    assert route.weight_key == "user"


@pytest.mark.parametrize("strategy", ["priority", "round_robin", "cheapest", "fastest"])
def test_every_other_strategy_is_read(strategy: str) -> None:
    assert _load(f"strategy: {strategy}").routes[2].strategy == strategy


def test_fastest_takes_an_exploration_share() -> None:
    assert _load("strategy: fastest, explore: 0.2").routes[2].explore == 0.2


@pytest.mark.parametrize(
    ("route", "expected"),
    [
        ("strategy: random", "routes[2].strategy: Input should be 'priority'"),
        ("strategy: weighted", "routes[2].weights: required by the weighted strategy"),
        (
            "strategy: weighted, weights: {a: 1}",
            "routes[2].weights: keys must be the route's models (a, b): missing b",
        ),
        (
            "strategy: weighted, weights: {a: 1, b: 1, c: 1}",
            "routes[2].weights: keys must be the route's models (a, b): not in the route c",
        ),
        (
            "strategy: weighted, weights: {a: 1, b: 0}",
            "routes[2].weights: each weight must be a finite number > 0, got b=0",
        ),
        (
            "strategy: weighted, weights: {a: 1, b: -2}",
            "routes[2].weights: each weight must be a finite number > 0, got b=-2",
        ),
        (
            "strategy: weighted, weights: {a: 1, b: .inf}",
            "routes[2].weights: each weight must be a finite number > 0, got b=inf",
        ),
        (
            "weights: {a: 1, b: 1}",
            "routes[2].weights: only the weighted strategy takes it (strategy is priority)",
        ),
        (
            "strategy: round_robin, weight_key: user",
            "routes[2].weight_key: only the weighted strategy takes it (strategy is round_robin)",
        ),
        (
            "strategy: weighted, weights: {a: 1, b: 1}, weight_key: ''",
            "routes[2].weight_key: String should have at least 1 character",
        ),
        (
            "strategy: cheapest, explore: 0.2",
            "routes[2].explore: only the fastest strategy takes it (strategy is cheapest)",
        ),
        ("strategy: fastest, explore: 0.6", "routes[2].explore: Input should be less than"),
        ("strategy: fastest, explore: -0.1", "routes[2].explore: Input should be greater than"),
        ("strategy: weighted, wieghts: {a: 1, b: 1}", "routes[2].wieghts: Extra inputs"),
    ],
)
def test_each_mistake_names_its_field(route: str, expected: str) -> None:
    assert expected in _problem(route)


def test_a_model_listed_twice_takes_one_weight() -> None:
    # The plan keeps a repeated model once.
    config = _load(
        "strategy: weighted, weights: {a: 1, b: 2}", chain="primary: a, fallbacks: [b, a]"
    )
    assert config.routes[2].weights == {"a": 1.0, "b": 2.0}


def test_a_dumped_config_loads_again() -> None:
    # Dumping writes every default (weights: null, explore: 0.05) on every route.
    config = _load("strategy: weighted, weights: {a: 7, b: 3}")
    again = GatewayConfig.model_validate(config.model_dump(mode="json"))
    assert again == config
