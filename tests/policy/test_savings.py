"""The routing saving estimate: the strongest model per route and exact decimal sums."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import pytest

from policy.savings import (
    SavingsInputError,
    UsageSums,
    estimate_savings,
    router_savings,
    strongest_model,
    tier_mix,
)
from schemas.config import GatewayConfig
from schemas.config_loader import parse_config

CONFIG = """
providers:
  a: {format: openai, base_url: "http://127.0.0.1:1/v1"}
models:
  small: {provider: a, upstream: s, input_per_mtok: "0.15", cached_input_per_mtok: "0.075",
          output_per_mtok: "0.60", context_window: 1000}
  big: {provider: a, upstream: b, input_per_mtok: "3", cached_input_per_mtok: "0.30",
        output_per_mtok: "15", context_window: 1000}
  wordy: {provider: a, upstream: w, input_per_mtok: "10", output_per_mtok: "1",
          context_window: 1000}
  twin: {provider: a, upstream: t, input_per_mtok: "3", cached_input_per_mtok: "0.30",
         output_per_mtok: "15", context_window: 1000}
  free: {provider: a, upstream: f, input_per_mtok: "0", output_per_mtok: "0",
         context_window: 1000}
routes:
  - name: default
    primary: small
    fallbacks: [big, small]
  - name: mix
    by_name_only: true
    primary: wordy
    fallbacks: [big]
  - name: twins
    by_name_only: true
    primary: twin
    fallbacks: [big]
  - name: local
    by_name_only: true
    primary: free
"""


@pytest.fixture
def config() -> GatewayConfig:
    return parse_config(CONFIG)


def sums(
    route: str, model: str, requests: int, inp: int, out: int, cached: int, cost: str
) -> UsageSums:
    return UsageSums(route, model, requests, inp, out, cached, Decimal(cost))


def test_saving_prices_the_same_tokens_at_the_strongest_model(config: GatewayConfig) -> None:
    # small: (160k x 0.15 + 40k x 0.075 + 50k x 0.60) / 1M = 0.057 paid
    # at big: (160k x 3 + 40k x 0.30 + 50k x 15) / 1M = 1.242
    rows = [
        sums("default", "small", 100, 200_000, 50_000, 40_000, "0.057"),
        sums("default", "big", 10, 20_000, 5_000, 0, "0.135"),
    ]
    estimate = estimate_savings(config, rows)
    by_model = {r.model: r for r in estimate.routes}
    assert {r.strongest_model for r in estimate.routes} == {"big"}
    assert by_model["small"].cost_if_strongest_usd == Decimal("1.242")
    assert by_model["small"].saved_usd == Decimal("1.185")
    # The strongest model's own calls saved nothing: their cost is what was paid.
    assert by_model["big"].cost_if_strongest_usd == Decimal("0.135")
    assert by_model["big"].saved_usd == 0
    assert estimate.cost_usd == Decimal("0.192")
    assert estimate.cost_if_strongest_usd == Decimal("1.377")
    assert estimate.saved_usd == Decimal("1.185")
    assert estimate.saved_share == 0.8606  # 1.185 / 1.377
    assert estimate.unpriced == [] and estimate.warnings == []


def test_the_routes_token_mix_decides_which_model_is_strongest(config: GatewayConfig) -> None:
    route = config.route("mix")
    assert route is not None
    # Input-heavy: wordy 10 + 0.01 = 10.01 against big 3 + 0.15 = 3.15.
    reading = [sums("mix", "big", 1, 1_000_000, 10_000, 0, "3.15")]
    assert strongest_model(config, route, reading) == "wordy"
    # Output-heavy: wordy 0.1 + 1 = 1.1 against big 0.03 + 15 = 15.03.
    writing = [sums("mix", "wordy", 1, 10_000, 1_000_000, 0, "1.1")]
    assert strongest_model(config, route, writing) == "big"
    estimate = estimate_savings(config, writing)
    assert estimate.routes[0].cost_if_strongest_usd == Decimal("15.03")
    assert estimate.saved_usd == Decimal("13.93")


def test_ties_go_to_the_listed_price_then_to_the_earlier_model(config: GatewayConfig) -> None:
    default, twins = config.route("default"), config.route("twins")
    assert default is not None and twins is not None
    # No tokens: every candidate would cost 0, so the price per million decides.
    assert strongest_model(config, default, []) == "big"
    # Same prices: the primary is listed first.
    assert strongest_model(config, twins, [sums("twins", "big", 1, 1000, 1000, 0, "0")]) == "twin"


def test_cached_tokens_use_the_cached_price_or_the_input_price(config: GatewayConfig) -> None:
    # At big: (100k x 3 + 900k x 0.30) / 1M = 0.57
    rows = [sums("default", "small", 5, 1_000_000, 0, 900_000, "0.0825")]
    assert estimate_savings(config, rows).cost_if_strongest_usd == Decimal("0.57")
    # wordy has no cached price: cached tokens pay its input price, 1M x 10 / 1M.
    mix = [sums("mix", "big", 5, 1_000_000, 0, 900_000, "0.57")]
    estimate = estimate_savings(config, mix)
    assert estimate.routes[0].strongest_model == "wordy"
    assert estimate.cost_if_strongest_usd == Decimal("10")


def test_unknown_routes_are_listed_and_renamed_models_still_priced(config: GatewayConfig) -> None:
    rows = [
        sums("gone", "small", 7, 1000, 1000, 0, "0.00075"),
        sums("default", "old-name", 3, 1_000_000, 0, 0, "0.15"),
    ]
    estimate = estimate_savings(config, rows)
    [unpriced] = estimate.unpriced
    assert (unpriced.route, unpriced.model, unpriced.requests) == ("gone", "small", 7)
    assert unpriced.cost_usd == Decimal("0.00075")
    assert "'gone' is not in the config" in unpriced.reason
    # Left out of the totals: nothing to compare them with.
    assert estimate.cost_usd == Decimal("0.15")
    assert estimate.cost_if_strongest_usd == Decimal("3")
    [warning] = estimate.warnings
    assert "'old-name'" in warning and "'default'" in warning


def test_free_routes_have_no_share(config: GatewayConfig) -> None:
    estimate = estimate_savings(config, [sums("local", "free", 4, 100, 100, 0, "0")])
    assert estimate.saved_usd == 0
    assert estimate.saved_share is None


def test_router_savings_takes_query_rows_and_answers_in_json_terms(config: GatewayConfig) -> None:
    rows: list[dict[str, Any]] = [
        # ClickHouse's JSON quotes 64-bit integers and decimals: strings are accepted.
        {"route": "default", "model": "small", "requests": "100", "input_tokens": "200000",
         "output_tokens": "50000", "cached_input_tokens": "40000", "cost_usd": "0.057000000"},
        {"route": "default", "model": "big", "requests": 10, "input_tokens": 20_000,
         "output_tokens": 5_000, "cached_input_tokens": 0, "cost_usd": Decimal("0.135")},
    ]  # fmt: skip
    answer = router_savings(config, rows)
    assert answer["estimate"] is True
    assert answer["cost_usd"] == "0.192000000"
    assert answer["cost_if_strongest_usd"] == "1.377000000"
    assert answer["saved_usd"] == "1.185000000"
    assert answer["saved_share"] == 0.8606
    assert answer["routes"] == [
        {"route": "default", "model": "big", "requests": 10, "cost_usd": "0.135",
         "cost_if_strongest_usd": "0.135", "saved_usd": "0.000", "strongest_model": "big"},
        {"route": "default", "model": "small", "requests": 100, "cost_usd": "0.057000000",
         "cost_if_strongest_usd": "1.242000000", "saved_usd": "1.185000000",
         "strongest_model": "big"},
    ]  # fmt: skip
    assert answer["unpriced"] == [] and answer["warnings"] == []


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("input_tokens", None, "rows[0].input_tokens: not a count"),
        ("requests", -1, "rows[0].requests: not a count"),
        ("output_tokens", 1.5, "rows[0].output_tokens: not a count"),
        ("cost_usd", 0.1, "rows[0].cost_usd: not a decimal amount"),
        ("cost_usd", "lots", "rows[0].cost_usd: not a decimal amount"),
        ("cost_usd", "NaN", "rows[0].cost_usd: not a decimal amount"),
    ],
)
def test_bad_rows_are_refused_naming_the_field(
    config: GatewayConfig, field: str, value: object, message: str
) -> None:
    row = {"route": "default", "model": "small", "requests": 1, "input_tokens": 1,
           "output_tokens": 1, "cached_input_tokens": 0, "cost_usd": "0"}  # fmt: skip
    row[field] = value
    with pytest.raises(SavingsInputError, match=re.escape(message)):
        router_savings(config, [row])


def test_a_missing_field_is_named(config: GatewayConfig) -> None:
    with pytest.raises(SavingsInputError, match=r"rows\[1\]\.cost_usd: missing"):
        ok = {"route": "default", "model": "small", "requests": 1, "input_tokens": 1,
              "output_tokens": 1, "cached_input_tokens": 0, "cost_usd": "0"}  # fmt: skip
        router_savings(config, [ok, {k: v for k, v in ok.items() if k != "cost_usd"}])


def test_tier_mix_shares_add_up() -> None:
    mix = tier_mix(
        [
            {"tier": "simple", "model": "small", "requests": "6"},
            {"tier": "complex", "model": "big", "requests": 3},
            {"tier": "simple", "model": "big", "requests": 1},
        ]
    )
    assert mix == [
        {"tier": "complex", "model": "big", "requests": 3, "share": 0.3},
        {"tier": "simple", "model": "big", "requests": 1, "share": 0.1},
        {"tier": "simple", "model": "small", "requests": 6, "share": 0.6},
    ]
    assert tier_mix([]) == []
