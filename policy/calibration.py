"""Tier thresholds that meet a target on a sample of complexity scores (pure arithmetic).

Tiers cut the score as :class:`schemas.router.TierThresholds` says: ``score < moderate``
is simple, ``moderate <= score < complex`` moderate, the rest complex. Calibration picks
the two cuts so that a sample of scores lands in the tiers in the wanted proportions.

**Targets.** Either the share ``S`` of requests sent to the complex (strong) tier, or a
cost ceiling ``C``: the cost of the mix as a fraction of sending every request to the
strong tier. With ``r`` the weak/strong price ratio, and assuming a request costs the same
number of tokens whichever model answers it, a mix sending a share ``s`` to the strong
model costs ``s·p_strong + (1 - s)·p_weak`` per request, which is ``s + (1 - s)·r`` of the
always-strong cost. The ceiling holds while ``s + (1 - s)·r <= C``, that is
``s <= (C - r) / (1 - r)``; below ``C = r`` not even ``s = 0`` meets it. The moderate tier
is counted at the weak price (the cost model has two prices): if a dearer model serves it,
give a blended ratio with ``price_ratio``.

**The price ratio** from a config (:func:`tier_price_ratio`): the first model of the route
a request of tier complex matches, against the one of tier simple. A model's price is per
1M tokens at a stated input:output mix (default 3:1, a common chat shape):
``(3·input_per_mtok + 1·output_per_mtok) / 4``.

**Simple against moderate.** The requests left out of the strong tier are split by a
share of all requests (``moderate_share``) or a fraction of those left
(``moderate_fraction``); callers keep the current split by default
(:func:`moderate_fraction_of`: moderate / (simple + moderate) under the sample's current
tiers, or one half when the sample has none of either).

**Ties.** Equal scores fall in one tier, so a share can only move by whole blocks of equal
scores. The strong share is the achievable one nearest the target (a tie going to the
lower share), or for a cost ceiling the largest that stays within it; the result says the
shares reached and which block of equal scores straddled a target.

Cuts are placed between the two neighbouring scores, at the shortest decimal in the middle
half of the gap, so that unseen scores between them split about evenly and the config
stays readable.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import get_args

from policy.router import RoutingError, choose_route
from schemas.config import GatewayConfig, ModelConfig
from schemas.events import Classification, LLMRequest, Tier
from schemas.router import TierThresholds

MIN_SAMPLE = 50
DEFAULT_TOKEN_MIX = (3, 1)
TIERS: tuple[Tier, ...] = get_args(Tier)
# Float error in a share times a count, never a whole request.
_EPS = 1e-9


class CalibrationError(ValueError):
    """A target, sample or price that cannot give thresholds; ``field`` names the input."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Tie:
    """A block of equal scores that a target fell inside: it moves between tiers whole."""

    score: float
    count: int


@dataclass(frozen=True)
class Calibration:
    thresholds: TierThresholds
    counts: Mapping[Tier, int]
    target_strong_share: float
    target_moderate_share: float
    strong_tie: Tie | None = None
    moderate_tie: Tie | None = None

    @property
    def sample_size(self) -> int:
        return sum(self.counts.values())

    def share(self, tier: Tier) -> float:
        return self.counts[tier] / self.sample_size

    def cost_fraction(self, ratio: float) -> float:
        return cost_fraction(self.share("complex"), ratio)


@dataclass(frozen=True)
class PriceRatio:
    """Weak over strong price; the models are None when the ratio was given directly."""

    ratio: float
    weak_model: str | None = None
    strong_model: str | None = None
    token_mix: tuple[int, int] = DEFAULT_TOKEN_MIX

    def __post_init__(self) -> None:
        _check_ratio(self.ratio)


def tier_of(thresholds: TierThresholds, score: float) -> Tier:
    if score < thresholds.moderate:
        return "simple"
    if score < thresholds.complex:
        return "moderate"
    return "complex"


def cost_fraction(strong_share: float, ratio: float) -> float:
    """The mix's cost as a fraction of always-strong: ``s + (1 - s)·r``."""
    return strong_share + (1.0 - strong_share) * ratio


def strong_share_for_cost(ceiling: float, ratio: float) -> float:
    """The largest strong share whose cost stays within ``ceiling``: ``(C - r) / (1 - r)``."""
    _check_unit("cost_ceiling", ceiling, low_open=True)
    _check_ratio(ratio)
    if ceiling < ratio:
        raise CalibrationError(
            "cost_ceiling",
            f"{ceiling:g} is below the weak/strong price ratio {ratio:g}: even with no request"
            f" on the strong tier the mix costs {ratio:g} of always-strong",
        )
    return min(1.0, (ceiling - ratio) / (1.0 - ratio))


def blended_price(model: ModelConfig, token_mix: tuple[int, int] = DEFAULT_TOKEN_MIX) -> Decimal:
    """USD per 1M tokens at ``token_mix`` (input parts, output parts)."""
    inputs, outputs = token_mix
    if inputs < 0 or outputs < 0 or inputs + outputs == 0:
        raise CalibrationError("token_mix", f"{inputs}:{outputs} needs parts >= 0, not both 0")
    total = model.input_per_mtok * inputs + model.output_per_mtok * outputs
    return total / (inputs + outputs)


def _model_for(config: GatewayConfig, tier: Tier, score: float) -> str:
    # A chat request from a tenant no route names: what the tier alone decides.
    request = LLMRequest.model_validate(
        {
            "request_id": "routeyard-calibrate",
            "tenant": "routeyard-calibrate",
            "messages": [{"role": "user", "content": "calibrate"}],
        }
    )
    c = Classification(score=score, tier=tier, task_type="chat")
    try:
        return choose_route(config, request, c).candidates[0]
    except RoutingError as exc:
        raise CalibrationError(
            "price_ratio", f"no route serves a chat request of tier {tier}: {exc.detail}"
        ) from exc


def tier_price_ratio(
    config: GatewayConfig, token_mix: tuple[int, int] = DEFAULT_TOKEN_MIX
) -> PriceRatio:
    """Weak/strong price ratio from the routes a chat request of tier simple (score 0) and
    tier complex (score 1) match: the first model of each, at ``token_mix``."""
    weak = _model_for(config, "simple", 0.0)
    strong = _model_for(config, "complex", 1.0)
    weak_price = blended_price(config.models[weak], token_mix)
    strong_price = blended_price(config.models[strong], token_mix)
    if strong_price <= 0:
        raise CalibrationError(
            "price_ratio", f"the complex tier's model {strong} is free: no cost fraction to meet"
        )
    if weak_price >= strong_price:
        raise CalibrationError(
            "price_ratio",
            f"the simple tier's model {weak} (${weak_price:.4f}/1M tokens) is not cheaper than"
            f" the complex tier's {strong} (${strong_price:.4f}/1M): routing cannot save cost",
        )
    return PriceRatio(float(weak_price / strong_price), weak, strong, token_mix)


def score_bound_routes(config: GatewayConfig) -> list[str]:
    """Routes that match on min/max_complexity: the thresholds do not move their cut."""
    return [
        r.name
        for r in config.routes
        if not r.by_name_only
        and (r.when.min_complexity is not None or r.when.max_complexity is not None)
    ]


def moderate_fraction_of(tiers: Iterable[str]) -> float:
    """Moderate / (simple + moderate) among ``tiers``; 0.5 when there is neither."""
    counts = Counter(tiers)
    rest = counts["simple"] + counts["moderate"]
    return counts["moderate"] / rest if rest else 0.5


def _check_unit(field: str, value: float, *, low_open: bool = False) -> None:
    if not math.isfinite(value) or value < 0 or value > 1 or (low_open and value == 0):
        bounds = "(0, 1]" if low_open else "[0, 1]"
        raise CalibrationError(field, f"{value:g} is not in {bounds}")


def _check_ratio(ratio: float) -> None:
    if not math.isfinite(ratio) or not 0 <= ratio < 1:
        raise CalibrationError(
            "price_ratio", f"{ratio:g} is not in [0, 1): the weak model must be the cheaper"
        )


def _blocks(scores: Iterable[float], min_sample: int) -> list[tuple[float, int]]:
    """(score, count) from the highest score down."""
    counts: Counter[float] = Counter()
    for i, score in enumerate(scores):
        if not (math.isfinite(score) and 0 <= score <= 1):
            raise CalibrationError("scores", f"score #{i + 1} is {score!r}, not in [0, 1]")
        counts[float(score)] += 1
    n = sum(counts.values())
    if n < min_sample:
        raise CalibrationError(
            "scores", f"{n} scores is too few to calibrate on; give at least {min_sample}"
        )
    return sorted(counts.items(), reverse=True)


def _cut(low: float, high: float) -> float:
    """The shortest decimal in the middle half of ``(low, high]``, nearest the midpoint."""
    lo, hi = Decimal(low), Decimal(high)
    mid, margin = (lo + hi) / 2, (hi - lo) / 4
    for digits in range(1, 18):
        step = Decimal(1).scaleb(-digits)
        t = (mid / step).to_integral_value() * step
        if lo + margin <= t <= hi - margin and low < float(t) <= high:
            return float(t)
    return high


def _pick(options: Sequence[int], target: float, *, at_most: bool) -> int | None:
    """Index of the cumulative count nearest ``target`` (ties to the lower), or of the
    largest not above it; None when every option is above it."""
    if at_most:
        fitting = [i for i, k in enumerate(options) if k <= target + _EPS]
        return fitting[-1] if fitting else None
    return min(range(len(options)), key=lambda i: (abs(options[i] - target), options[i]))


def _straddling(blocks: Sequence[tuple[float, int]], before: int, target: float) -> Tie | None:
    """The block whose equal scores a cumulative ``target`` falls strictly inside."""
    total = before
    for score, count in blocks:
        if count > 1 and total + _EPS < target < total + count - _EPS:
            return Tie(score, count)
        total += count
    return None


def calibrate(
    scores: Iterable[float],
    strong_share: float,
    *,
    moderate_share: float | None = None,
    moderate_fraction: float | None = None,
    at_most: bool = False,
    min_sample: int = MIN_SAMPLE,
) -> Calibration:
    """Thresholds sending ``strong_share`` of ``scores`` to complex (nearest achievable, or
    the largest not above it when ``at_most``) and splitting the rest by
    ``moderate_share`` (of all) or ``moderate_fraction`` (of the rest; default 0.5)."""
    _check_unit("strong_share", strong_share)
    if moderate_share is not None and moderate_fraction is not None:
        raise CalibrationError("moderate_share", "give moderate_share or moderate_fraction")
    if moderate_share is not None:
        _check_unit("moderate_share", moderate_share)
        if strong_share + moderate_share > 1 + _EPS:
            raise CalibrationError(
                "moderate_share",
                f"{moderate_share:g} with the strong share {strong_share:g} is more than"
                " every request",
            )
    fraction = 0.5 if moderate_fraction is None else moderate_fraction
    _check_unit("moderate_fraction", fraction)
    blocks = _blocks(scores, min_sample)
    n = sum(count for _, count in blocks)

    # Option j sends the j highest blocks to complex; no cut can exceed 1, so a block of
    # 1.0 scores is always complex.
    cumulative = [0]
    for _, count in blocks:
        cumulative.append(cumulative[-1] + count)
    first = 1 if blocks[0][0] >= 1.0 else 0
    strong_target = strong_share * n
    j = _pick(cumulative[first:], strong_target, at_most=at_most)
    if j is None:
        raise CalibrationError(
            "strong_share",
            f"{blocks[0][1]} of {n} scores are 1.0 and always complex ({blocks[0][1] / n:.1%}),"
            f" above the target {strong_share:.1%}",
        )
    j += first
    complex_cut = _cut_below(blocks, j, upper=1.0)
    strong = cumulative[j]

    rest = blocks[j:]
    moderate_target = moderate_share * n if moderate_share is not None else fraction * (n - strong)
    moderate_target = min(moderate_target, n - strong)
    options = [0]
    for _, count in rest:
        options.append(options[-1] + count)
    m = _pick(options, moderate_target, at_most=False)
    assert m is not None  # nearest always picks one
    moderate_cut = complex_cut if m == 0 else _cut_below(rest, m, upper=complex_cut)
    moderate = options[m]
    return Calibration(
        thresholds=TierThresholds(moderate=moderate_cut, complex=complex_cut),
        counts={"simple": n - strong - moderate, "moderate": moderate, "complex": strong},
        target_strong_share=strong_share,
        target_moderate_share=moderate_target / n,
        strong_tie=_straddling(blocks, 0, strong_target),
        moderate_tie=_straddling(rest, 0, moderate_target),
    )


def _cut_below(blocks: Sequence[tuple[float, int]], taken: int, *, upper: float) -> float:
    """A cut putting the first ``taken`` blocks (highest first) at or above it, the rest
    below: 0 when every block is taken, else between the last taken and the next."""
    if taken == len(blocks):
        return 0.0
    below = blocks[taken][0]
    above = blocks[taken - 1][0] if taken else upper
    return _cut(below, above)


def calibrate_to_cost(
    scores: Iterable[float],
    ceiling: float,
    ratio: float,
    *,
    moderate_share: float | None = None,
    moderate_fraction: float | None = None,
    min_sample: int = MIN_SAMPLE,
) -> Calibration:
    """Thresholds whose mix costs at most ``ceiling`` of always-strong on ``scores``."""
    share = strong_share_for_cost(ceiling, ratio)
    return calibrate(
        scores,
        share,
        moderate_share=moderate_share,
        moderate_fraction=moderate_fraction,
        at_most=True,
        min_sample=min_sample,
    )
