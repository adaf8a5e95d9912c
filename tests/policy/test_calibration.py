"""Calibration arithmetic: shares, cost ceilings, ties, price ratios and bad input."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from policy.calibration import (
    MIN_SAMPLE,
    CalibrationError,
    PriceRatio,
    Tie,
    blended_price,
    calibrate,
    calibrate_to_cost,
    cost_fraction,
    moderate_fraction_of,
    score_bound_routes,
    strong_share_for_cost,
    tier_of,
    tier_price_ratio,
)
from schemas.config_loader import parse_config
from schemas.router import TierThresholds

CONFIG = """
providers:
  a: {format: openai, base_url: "http://127.0.0.1:1/v1"}
models:
  small: {provider: a, upstream: s, input_per_mtok: "0.15", output_per_mtok: "0.60",
          context_window: 1000}
  big: {provider: a, upstream: b, input_per_mtok: "3", output_per_mtok: "15",
        context_window: 1000}
  free: {provider: a, upstream: f, input_per_mtok: "0", output_per_mtok: "0",
         context_window: 1000}
routes:
  - name: named
    by_name_only: true
    when: {min_complexity: 0.9}
    primary: free
  - name: vip
    when: {tenants: [vip]}
    primary: free
  - name: hard
    when: {tiers: [complex]}
    primary: big
    fallbacks: [small]
  - name: default
    primary: small
"""


def _tiers(thresholds: TierThresholds, scores: list[float]) -> dict[str, int]:
    counts = {"simple": 0, "moderate": 0, "complex": 0}
    for score in scores:
        counts[tier_of(thresholds, score)] += 1
    return counts


# --- the cost model: s + (1 - s)·r <= C -------------------------------------------------


def test_cost_is_the_strong_share_plus_the_rest_at_the_ratio() -> None:
    assert cost_fraction(0.25, 0.2) == pytest.approx(0.25 + 0.75 * 0.2)
    assert cost_fraction(0.0, 0.2) == pytest.approx(0.2)
    assert cost_fraction(1.0, 0.2) == pytest.approx(1.0)


def test_a_ceiling_gives_the_largest_share_within_it() -> None:
    # (0.4 - 0.2) / (1 - 0.2) = 0.25, and 0.25 + 0.75 x 0.2 is the ceiling again.
    assert strong_share_for_cost(0.4, 0.2) == pytest.approx(0.25)
    assert strong_share_for_cost(0.2, 0.2) == 0.0
    assert strong_share_for_cost(1.0, 0.2) == 1.0
    assert strong_share_for_cost(0.5, 0.0) == 0.5  # a free weak model: cost is the share


def test_a_ceiling_below_the_price_ratio_is_impossible() -> None:
    with pytest.raises(CalibrationError, match=r"0\.1 is below the weak/strong price ratio 0\.2"):
        strong_share_for_cost(0.1, 0.2)
    with pytest.raises(CalibrationError) as caught:
        strong_share_for_cost(0.0, 0.2)
    assert caught.value.field == "cost_ceiling"


@pytest.mark.parametrize("ratio", [1.0, 1.5, -0.1, float("nan")])
def test_a_ratio_must_be_below_one(ratio: float) -> None:
    with pytest.raises(CalibrationError) as caught:
        PriceRatio(ratio)
    assert caught.value.field == "price_ratio"


# --- prices from the config -------------------------------------------------------------


def test_blended_price_weights_input_and_output() -> None:
    big = parse_config(CONFIG).models["big"]
    assert blended_price(big) == Decimal(3 * 3 + 15) / 4  # 3:1 by default
    assert blended_price(big, (1, 1)) == Decimal(9)
    with pytest.raises(CalibrationError, match="token_mix"):
        blended_price(big, (0, 0))


def test_the_ratio_is_the_simple_tiers_model_over_the_complex_tiers() -> None:
    ratio = tier_price_ratio(parse_config(CONFIG))
    # small (3 x 0.15 + 0.60) / 4 against big (3 x 3 + 15) / 4; named and vip routes skipped.
    assert (ratio.weak_model, ratio.strong_model) == ("small", "big")
    assert ratio.ratio == pytest.approx(1.05 / 24)
    assert tier_price_ratio(parse_config(CONFIG), (1, 1)).ratio == pytest.approx(0.75 / 18)


@pytest.mark.parametrize(
    ("strong", "weak", "message"),
    [
        ("free", "small", "free: no cost fraction"),
        ("small", "big", "not cheaper"),
    ],
)
def test_prices_that_cannot_be_a_ratio_say_why(strong: str, weak: str, message: str) -> None:
    text = CONFIG.replace("primary: big", f"primary: {strong}").replace(
        "primary: small", f"primary: {weak}"
    )
    with pytest.raises(CalibrationError, match=message) as caught:
        tier_price_ratio(parse_config(text))
    assert caught.value.field == "price_ratio"


def test_no_route_for_a_tier_says_which() -> None:
    text = CONFIG.replace("  - name: default\n    primary: small\n", "")
    with pytest.raises(CalibrationError, match="tier simple"):
        tier_price_ratio(parse_config(text))


def test_routes_cut_by_their_own_score_bounds_are_named() -> None:
    text = CONFIG.replace("when: {tiers: [complex]}", "when: {min_complexity: 0.5}")
    assert score_bound_routes(parse_config(text)) == ["hard"]  # not the by-name-only one
    assert score_bound_routes(parse_config(CONFIG)) == []


# --- shares ------------------------------------------------------------------------------


def test_distinct_scores_meet_the_shares_exactly() -> None:
    rng = random.Random(7)
    scores = [rng.random() for _ in range(1000)]
    result = calibrate(scores, 0.25)
    assert dict(result.counts) == {"simple": 375, "moderate": 375, "complex": 250}
    assert _tiers(result.thresholds, scores) == dict(result.counts)
    assert result.strong_tie is None and result.moderate_tie is None
    split = calibrate(scores, 0.1, moderate_share=0.3)
    assert dict(split.counts) == {"simple": 600, "moderate": 300, "complex": 100}
    fraction = calibrate(scores, 0.2, moderate_fraction=0.25)
    assert dict(fraction.counts) == {"simple": 600, "moderate": 200, "complex": 200}


def test_cuts_are_short_decimals_in_the_middle_of_the_gap() -> None:
    scores = [0.2] * 40 + [0.5] * 30 + [0.9] * 30
    result = calibrate(scores, 0.3, moderate_share=0.3)
    # Between 0.5 and 0.9 the shortest decimal in the middle half is 0.7; 0.2..0.5: 0.3 or
    # 0.4 (0.35 is the midpoint, 0.3 and 0.4 both lie in the middle half [0.275, 0.425]).
    assert result.thresholds.complex == 0.7
    assert result.thresholds.moderate in (0.3, 0.4)
    assert dict(result.counts) == {"simple": 40, "moderate": 30, "complex": 30}


def test_everything_or_nothing_on_complex() -> None:
    scores = [i / 200 for i in range(100)]  # 0 .. 0.495
    everything = calibrate(scores, 1.0)
    assert everything.thresholds == TierThresholds(moderate=0.0, complex=0.0)
    assert everything.counts["complex"] == 100
    nothing = calibrate(scores, 0.0, moderate_share=0.0)
    assert nothing.counts["complex"] == 0 and nothing.counts["moderate"] == 0
    assert 0.495 < nothing.thresholds.complex <= 1.0


# --- ties -------------------------------------------------------------------------------


def test_a_block_of_equal_scores_moves_whole_and_is_reported() -> None:
    scores = [0.9] * 20 + [0.5] * 40 + [0.1] * 40
    result = calibrate(scores, 0.3)
    # 20 or 60 requests can go to complex; 20 is nearer 30.
    assert result.counts["complex"] == 20
    assert result.share("complex") == 0.2
    assert result.strong_tie == Tie(0.5, 40)
    assert _tiers(result.thresholds, scores)["complex"] == 20


def test_equally_near_shares_take_the_cheaper_one() -> None:
    scores = [0.9] * 20 + [0.5] * 40 + [0.1] * 40
    assert calibrate(scores, 0.4).counts["complex"] == 20  # 20 and 60 are both 20 away
    assert calibrate(scores, 0.41).counts["complex"] == 60


def test_scores_of_one_are_always_complex() -> None:
    scores = [1.0] * 30 + [0.4] * 70
    result = calibrate(scores, 0.0)
    assert result.counts["complex"] == 30  # no cut may pass 1.0
    with pytest.raises(CalibrationError, match=r"30 of 100 scores are 1\.0") as caught:
        calibrate_to_cost(scores, 0.2, 0.1)  # at most 11% on complex: out of reach
    assert caught.value.field == "strong_share"


scores_with_ties = st.lists(
    st.sampled_from([0.0, 0.05, 0.1, 0.2, 0.33, 0.5, 0.51, 0.7, 0.9, 0.99, 1.0]),
    min_size=MIN_SAMPLE,
    max_size=400,
)


def _options(scores: list[float]) -> set[int]:
    """Every count of requests a cut can send to complex (cuts stay within [0, 1])."""
    below_one = sorted({s for s in scores if s < 1.0})
    ones = scores.count(1.0)
    options = {len(scores)}
    for value in below_one:
        options.add(sum(1 for s in scores if s > value))
    options.add(ones)
    return options


@given(scores_with_ties, st.floats(0, 1))
def test_the_share_is_the_nearest_any_cut_can_reach(scores: list[float], share: float) -> None:
    result = calibrate(scores, share)
    reached = result.counts["complex"]
    target = share * len(scores)
    assert reached in _options(scores)
    assert all(abs(reached - target) <= abs(k - target) + 1e-9 for k in _options(scores))
    assert _tiers(result.thresholds, scores) == dict(result.counts)


@given(scores_with_ties, st.floats(0.05, 1), st.floats(0, 0.9))
def test_a_cost_ceiling_holds_on_the_sample_and_nothing_more_fits(
    scores: list[float], ceiling: float, ratio: float
) -> None:
    if ceiling < ratio:
        with pytest.raises(CalibrationError):
            calibrate_to_cost(scores, ceiling, ratio)
        return
    try:
        result = calibrate_to_cost(scores, ceiling, ratio)
    except CalibrationError as exc:
        assert exc.field == "strong_share"  # only a block of 1.0 scores can be out of reach
        assert cost_fraction(scores.count(1.0) / len(scores), ratio) > ceiling
        return
    assert result.cost_fraction(ratio) <= ceiling + 1e-9
    bigger = [k for k in _options(scores) if k > result.counts["complex"]]
    assert all(cost_fraction(k / len(scores), ratio) > ceiling - 1e-9 for k in bigger)


# --- bad input ----------------------------------------------------------------------------


def test_a_small_sample_is_refused_naming_its_size() -> None:
    with pytest.raises(CalibrationError, match=r"49 scores is too few.*at least 50") as caught:
        calibrate([0.5] * 49, 0.5)
    assert caught.value.field == "scores"
    assert calibrate([0.5] * 50, 0.5).sample_size == 50


@pytest.mark.parametrize("bad", [1.5, -0.1, float("nan")])
def test_a_score_outside_zero_to_one_is_refused(bad: float) -> None:
    with pytest.raises(CalibrationError, match="score #51"):
        calibrate([0.5] * 50 + [bad], 0.5)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"strong_share": 1.2}, "strong_share"),
        ({"strong_share": 0.7, "moderate_share": 0.4}, "moderate_share"),
        ({"strong_share": 0.5, "moderate_share": -0.1}, "moderate_share"),
        ({"strong_share": 0.5, "moderate_share": 0.1, "moderate_fraction": 0.5}, "moderate_share"),
        ({"strong_share": 0.5, "moderate_fraction": 2.0}, "moderate_fraction"),
    ],
)
def test_bad_targets_name_their_field(kwargs: dict[str, float], field: str) -> None:
    with pytest.raises(CalibrationError) as caught:
        calibrate(
            [i / 100 for i in range(100)],
            kwargs["strong_share"],
            moderate_share=kwargs.get("moderate_share"),
            moderate_fraction=kwargs.get("moderate_fraction"),
        )
    assert caught.value.field == field


def test_the_current_split_keeps_moderate_against_simple() -> None:
    assert moderate_fraction_of(["simple", "moderate", "moderate", "complex"]) == 2 / 3
    assert moderate_fraction_of(["complex"]) == 0.5  # nothing to keep
