"""What ``routeyard router calibrate`` prints: one JSON document, or a table made from it."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from policy.calibration import TIERS, Calibration, PriceRatio
from routeyard.thresholds_yaml import number, snippet
from schemas.router import TierThresholds

if TYPE_CHECKING:
    from routeyard.calibrate import Sample
    from schemas.config import GatewayConfig

RESTART = "thresholds are config: a rolling restart of the gateway workers applies them"


def _targets(result: Calibration) -> dict[str, float]:
    return {
        "simple": 1.0 - result.target_strong_share - result.target_moderate_share,
        "moderate": result.target_moderate_share,
        "complex": result.target_strong_share,
    }


def document(
    sample: Sample,
    args: argparse.Namespace,
    config: GatewayConfig,
    result: Calibration,
    price: PriceRatio | None,
) -> dict[str, Any]:
    targets = _targets(result)
    ties = [
        {"tier": tier, "score": tie.score, "requests": tie.count}
        for tier, tie in (("complex", result.strong_tie), ("moderate", result.moderate_tie))
        if tie is not None
    ]
    current = config.router.thresholds
    return {
        "sample": {
            "source": "store" if args.from_store else "prompts",
            "requests": result.sample_size,
            "description": sample.description,
            **(sample.window or {}),
        },
        "target": {
            "strong_share": args.strong_share,
            "cost_ceiling": args.cost_ceiling,
            "moderate_share": args.moderate_share,
        },
        "thresholds": result.thresholds.model_dump(),
        "previous_thresholds": current.model_dump() if current else None,
        "tiers": {
            tier: {
                "requests": result.counts[tier],
                "share": result.share(tier),
                "target_share": targets[tier],
            }
            for tier in TIERS
        },
        "price_ratio": None
        if price is None
        else {
            "ratio": price.ratio,
            "weak_model": price.weak_model,
            "strong_model": price.strong_model,
            "token_mix": f"{price.token_mix[0]}:{price.token_mix[1]}" if price.weak_model else None,
        },
        "cost_fraction": None if price is None else result.cost_fraction(price.ratio),
        "ties": ties,
        "notes": [*sample.notes, RESTART],
        "written": args.write,
    }


def _price_text(price: dict[str, Any]) -> str:
    if price["weak_model"] is None:
        return f"price ratio {price['ratio']:.3f}, as given"
    return (
        f"price ratio {price['ratio']:.3f}: {price['weak_model']} against"
        f" {price['strong_model']} per 1M tokens at {price['token_mix']} input:output"
    )


def _thresholds(doc: dict[str, Any], key: str) -> TierThresholds:
    return TierThresholds.model_validate(doc[key])


def table(doc: dict[str, Any]) -> str:
    target = doc["target"]
    new = _thresholds(doc, "thresholds")
    lines = [f"sample: {doc['sample']['description']}"]
    if target["cost_ceiling"] is not None:
        lines.append(
            f"target: cost at most {target['cost_ceiling']:.1%} of always-strong"
            f" (at most {doc['tiers']['complex']['target_share']:.1%} on complex)"
        )
    else:
        lines.append(f"target: {target['strong_share']:.1%} of requests on complex")
    lines.append(f"thresholds: moderate {number(new.moderate)}, complex {number(new.complex)}")
    if doc["previous_thresholds"] is not None:
        old = _thresholds(doc, "previous_thresholds")
        lines.append(
            f"  (the config has moderate {number(old.moderate)}, complex {number(old.complex)})"
        )
    lines += ["", f"{'tier':<10}{'requests':>10}{'share%':>9}{'target%':>9}"]
    for tier, row in doc["tiers"].items():
        lines.append(
            f"{tier:<10}{row['requests']:>10}{row['share'] * 100:>9.1f}"
            f"{row['target_share'] * 100:>9.1f}"
        )
    lines.append("")
    if doc["cost_fraction"] is not None:
        lines.append(
            f"estimated cost: {doc['cost_fraction']:.1%} of always-strong"
            f" ({_price_text(doc['price_ratio'])}; moderate counted at the simple tier's price)"
        )
    for tie in doc["ties"]:
        lines.append(
            f"tie: {tie['requests']} requests score exactly {tie['score']:g} and move between"
            f" tiers together, so the {tie['tier']} share cannot meet its target exactly"
        )
    lines += [f"note: {note}" for note in doc["notes"]]
    if doc["written"]:
        lines.append(f"wrote router.thresholds to {doc['written']}")
    else:
        lines += ["", "put this in the config (or rerun with --write CONFIG):", snippet(new)]
    return "\n".join(lines).rstrip("\n")
