"""How well a router score splits prompts between a weak and a strong model.

The metrics follow the RouteLLM paper (see ../shared/datasets/README.md): sweep a threshold
over the router's scores, send every prompt scoring at or above it to the strong model,
and record (share of strong calls, mean quality) at each step.

- APGR: area under that curve over shares 0..1, normalized so that always-weak is 0 and
  always-strong is 1: (AUC - weak) / (strong - weak). A router no better than chance
  scores about 0.5; one that finds the prompts where the strong model helps scores more.
- CPT(x): the smallest strong share at which the curve reaches weak + x * (strong - weak).

A threshold cannot separate prompts with the same score, so tied prompts change side
together: the curve only has points at the boundaries between distinct scores. That makes
the result independent of input order, and a constant score gives the straight line from
weak to strong (APGR exactly 0.5), the expected value of breaking the ties at random.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

# Qualities are sums of 0/1 or small integer judge scores, so curve values are exact;
# the target weak + x * gap is not, and a point exactly on it must still count.
_EPS = 1e-9


@dataclass(frozen=True)
class CurvePoint:
    strong_share: float  # fraction of prompts sent to the strong model, 0..1
    quality: float  # mean quality over all prompts at that split


@dataclass(frozen=True)
class RouterEval:
    n: int
    weak: float  # mean quality if every prompt went to the weak model
    strong: float  # mean quality if every prompt went to the strong model
    apgr: float
    cpt50: float
    cpt80: float
    curve: tuple[CurvePoint, ...]


def _check(scores: Sequence[float], weak: Sequence[float], strong: Sequence[float]) -> None:
    if not scores:
        raise ValueError("scores: need at least one prompt")
    if len(weak) != len(scores) or len(strong) != len(scores):
        raise ValueError(
            f"scores, weak, strong: lengths differ ({len(scores)}, {len(weak)}, {len(strong)})"
        )
    for name, values in (("scores", scores), ("weak", weak), ("strong", strong)):
        for i, v in enumerate(values):
            if not math.isfinite(v):
                raise ValueError(f"{name}[{i}]: not a finite number ({v!r})")


def quality_curve(
    scores: Sequence[float], weak: Sequence[float], strong: Sequence[float]
) -> tuple[CurvePoint, ...]:
    """(strong share, mean quality) at every threshold, from all-weak to all-strong."""
    _check(scores, weak, strong)
    n = len(scores)
    order = sorted(range(n), key=lambda i: scores[i], reverse=True)
    total = math.fsum(weak)
    points = [CurvePoint(0.0, total / n)]
    gained = 0.0  # exact for 0/1 and integer judge scores, which is what the data holds
    for pos, i in enumerate(order):
        gained += strong[i] - weak[i]
        last_of_group = pos == n - 1 or scores[order[pos + 1]] != scores[i]
        if last_of_group:
            points.append(CurvePoint((pos + 1) / n, (total + gained) / n))
    return tuple(points)


def area(curve: Sequence[CurvePoint]) -> float:
    """Trapezoid area under the curve over strong shares 0..1."""
    return math.fsum(
        (b.strong_share - a.strong_share) * (a.quality + b.quality) / 2 for a, b in pairwise(curve)
    )


def apgr(curve: Sequence[CurvePoint]) -> float:
    weak, strong = curve[0].quality, curve[-1].quality
    if strong == weak:
        raise ValueError("curve: weak and strong mean quality are equal, APGR is undefined")
    return (area(curve) - weak) / (strong - weak)


def cpt(curve: Sequence[CurvePoint], x: float) -> float:
    """Smallest strong share whose quality reaches weak + x * (strong - weak)."""
    if not 0.0 <= x <= 1.0:
        raise ValueError(f"x: must be within [0, 1], got {x}")
    weak, strong = curve[0].quality, curve[-1].quality
    target = weak + x * (strong - weak)
    tolerance = _EPS * max(1.0, abs(target))
    for point in curve:
        if point.quality >= target - tolerance:
            return point.strong_share
    # unreachable: the last point is `strong`, which meets any target with x <= 1
    return curve[-1].strong_share


def evaluate(scores: Sequence[float], weak: Sequence[float], strong: Sequence[float]) -> RouterEval:
    curve = quality_curve(scores, weak, strong)
    return RouterEval(
        n=len(scores),
        weak=curve[0].quality,
        strong=curve[-1].quality,
        apgr=apgr(curve),
        cpt50=cpt(curve, 0.5),
        cpt80=cpt(curve, 0.8),
        curve=curve,
    )
