"""``routeyard router eval``: APGR and CPT per source on prompts never trained on.

    routeyard router eval [--data ../shared/datasets/routellm] [--model-dir DIR]
        [--encoder-dir DIR] [--seed N]

The sources are the ``test`` part of routeyard/router_data.py's split: a fixed fifth of
MMLU and of GSM8K, and MT-bench turn 1 whole. Each scorer ranks the prompts; a threshold
swept over that ranking sends the prompts at or above it to the strong model
(policy/router_eval.py), and the table gives APGR and CPT(50%) / CPT(80%) for the learned
score, the heuristic, prompt length and random.

**Uncertainty.** MT-bench has 72 prompts and the GSM8K slice about 260, so one APGR is a
noisy number: each row also gives a 95% interval from a bootstrap over the source's prompts
(the same resamples for every scorer, seeded), and ``vs heuristic`` the interval of the
learned score's APGR minus the heuristic's on those resamples.
"""

from __future__ import annotations

import argparse
import random
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from policy.router_eval import RouterEval
    from routeyard.router_data import Source

Scores = Callable[[Sequence[str]], list[float]]

METHOD = (
    "method: route a prompt to strong when its score >= threshold; sweep every threshold"
    " (tied scores move together); quality = mean correctness (MMLU, GSM8K) or GPT-4"
    " judge score 1-10 (MT-bench turn 1); contaminated prompts dropped by text."
    " APGR = (trapezoid AUC over strong share 0..1 - weak) / (strong - weak);"
    " CPT(x) = smallest strong share reaching weak + x*(strong - weak)."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data", type=Path, default=None, help="the routellm folder (../shared/datasets/routellm)"
    )
    parser.add_argument(
        "--model-dir",
        type=Path,
        default=None,
        help="the learned scorer's folder (default: the one shipped with routeyard)",
    )
    parser.add_argument(
        "--encoder-dir",
        type=Path,
        default=None,
        help="the derived encoder's folder (default: where build-encoder writes)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the random scorer and the bootstrap"
    )
    parser.add_argument(
        "--bootstrap", type=int, default=300, help="resamples for the intervals (0: none)"
    )


def scorers(
    model_dir: Path | None, seed: int, encoder_dir: Path | None = None
) -> dict[str, Scores]:
    from policy.classifier import classify
    from policy.learned_score import load_scorer, shipped_model_dir
    from schemas.events import LLMRequest

    learned = load_scorer(model_dir or shipped_model_dir(), encoder_dir)

    def request(prompt: str) -> LLMRequest:
        return LLMRequest(
            request_id="eval", tenant="eval", messages=[{"role": "user", "content": prompt}]
        )

    def learned_scores(prompts: Sequence[str]) -> list[float]:
        return [learned.probability(learned.read(request(p))) for p in prompts]

    def random_scores(prompts: Sequence[str]) -> list[float]:
        rng = random.Random(seed)
        return [rng.random() for _ in prompts]

    return {
        "learned": learned_scores,
        "heuristic": lambda prompts: [classify(request(p)).score for p in prompts],
        "length": lambda prompts: [float(len(p)) for p in prompts],
        "random": random_scores,
    }


def test_sources(root: Path) -> list[Source]:
    from routeyard.router_data import load_all_sources, part

    return [part(source, "test") for source in load_all_sources(root)]


@dataclass(frozen=True)
class Row:
    result: RouterEval
    interval: tuple[float, float] | None  # 95% bootstrap interval of the APGR
    vs_heuristic: tuple[float, float] | None  # of APGR minus the heuristic's


def _apgr_or_none(scores: Sequence[float], s: Source, idx: Sequence[int]) -> float | None:
    from policy.router_eval import evaluate

    weak, strong = [s.weak[i] for i in idx], [s.strong[i] for i in idx]
    if sum(weak) == sum(strong):
        return None  # the resample has no quality gap: APGR is undefined
    return evaluate([scores[i] for i in idx], weak, strong).apgr


def _interval(values: Sequence[float]) -> tuple[float, float]:
    ordered = sorted(values)
    return ordered[int(0.025 * (len(ordered) - 1))], ordered[int(0.975 * (len(ordered) - 1))]


def evaluate_all(
    sources: Sequence[Source], by_name: dict[str, Scores], resamples: int = 0, seed: int = 0
) -> dict[str, dict[str, Row]]:
    from policy.router_eval import evaluate

    results: dict[str, dict[str, Row]] = {}
    for s in sources:
        scores = {name: score(s.prompts) for name, score in by_name.items()}
        rng = random.Random(f"{seed}:{s.name}")
        n = len(s.prompts)
        draws: dict[str, list[float]] = {name: [] for name in scores}
        gaps: list[float] = []
        for _ in range(resamples):
            idx = [rng.randrange(n) for _ in range(n)]
            apgrs = {name: _apgr_or_none(sc, s, idx) for name, sc in scores.items()}
            if any(a is None for a in apgrs.values()):
                continue
            for name, a in apgrs.items():
                draws[name].append(float(a or 0.0))
            if "learned" in apgrs and "heuristic" in apgrs:
                gaps.append(float(apgrs["learned"] or 0.0) - float(apgrs["heuristic"] or 0.0))
        results[s.name] = {
            name: Row(
                evaluate(sc, s.weak, s.strong),
                _interval(draws[name]) if draws[name] else None,
                _interval(gaps) if name == "learned" and gaps else None,
            )
            for name, sc in scores.items()
        }
    return results


def _span(interval: tuple[float, float] | None, sign: str = "") -> str:
    return "" if interval is None else f"[{interval[0]:{sign}.2f}, {interval[1]:{sign}.2f}]"


def render(results: dict[str, dict[str, Row]], root: Path, seed: int, model: str) -> str:
    from routeyard.router_data import STRONG_MODEL, WEAK_MODEL

    lines = [
        f"data: {root} (test part: a fixed fifth of MMLU and GSM8K, MT-bench whole)",
        f"weak = {WEAK_MODEL}, strong = {STRONG_MODEL}",
        f"learned = {model}",
        f"{METHOD} random uses seed {seed}; length = characters;"
        " 95% = bootstrap interval of APGR over the source's prompts; vs heuristic = interval"
        " of (learned - heuristic) APGR on the same resamples.",
        "",
    ]
    header = f"{'source':<9} {'n':>5} {'weak':>6} {'strong':>6}  {'scorer':<10}"
    header += f" {'APGR':>6} {'95%':>14} {'CPT50':>6} {'CPT80':>6}  vs heuristic"
    lines += [header, "-" * len(header)]
    for source, by_scorer in results.items():
        for name, row in by_scorer.items():
            r = row.result
            lines.append(
                f"{source:<9} {r.n:>5} {r.weak:>6.3f} {r.strong:>6.3f}  {name:<10}"
                f" {r.apgr:>6.3f} {_span(row.interval):>14} {r.cpt50:>6.1%} {r.cpt80:>6.1%}"
                f"  {_span(row.vs_heuristic, '+')}".rstrip()
            )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from policy.learned_score import ModelError, shipped_model_dir
    from routeyard.cli import UsageError
    from routeyard.router_data import DEFAULT_DATA, DataError

    root: Path = args.data or DEFAULT_DATA
    try:
        sources = test_sources(root)
        by_name = scorers(args.model_dir, args.seed, args.encoder_dir)
    except (OSError, DataError) as exc:
        raise UsageError(f"router eval: data: {exc}") from exc
    except ModelError as exc:
        raise UsageError(f"router eval: --model-dir: {exc}") from exc
    if args.bootstrap < 0:
        raise UsageError("router eval: --bootstrap must be 0 or more")
    results = evaluate_all(sources, by_name, args.bootstrap, args.seed)
    print(render(results, root, args.seed, str(args.model_dir or shipped_model_dir())))
    sys.stdout.flush()
    return 0
