"""Honest evaluation of the complexity score against RouteLLM's data (issue 12, part 2).

For each source (MMLU, GSM8K, MT-bench turn 1) every prompt has the quality of a weak
model (Mixtral 8x7B) and a strong one (GPT-4-1106): 0/1 correctness, or the GPT-4
judge's 1-10 score on MT-bench. Each scorer ranks the prompts; policy.router_eval sweeps
a threshold over that ranking and prints APGR and CPT(50%)/CPT(80%) per source.

    PYTHONPATH=. .venv/bin/python benchmarks/router_eval.py [--data DIR] [--seed N]
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from policy.classifier import classify
from policy.router_eval import RouterEval, evaluate
from schemas.chat import ChatMessage
from schemas.events import LLMRequest

WEAK_MODEL = "mistralai/Mixtral-8x7B-Instruct-v0.1"
STRONG_MODEL = "gpt-4-1106-preview"
DEFAULT_DATA = Path(__file__).resolve().parent.parent.parent / "shared/datasets/routellm"


class DataError(Exception):
    """The dataset folder is missing a file or holds a value we cannot read."""


@dataclass(frozen=True)
class Source:
    name: str
    prompts: list[str]
    weak: list[float]
    strong: list[float]


def _contaminated(path: Path) -> set[str]:
    # RouteLLM drops these by the text of the eval prompt; so do we.
    with path.open(encoding="utf-8") as f:
        return {json.loads(line)["eval_prompt"] for line in f if line.strip()}


def _correct(value: str, where: str) -> float:
    if value == "True":
        return 1.0
    if value == "False":
        return 0.0
    raise DataError(f"{where}: expected True or False, got {value!r}")


def load_correctness_csv(path: Path) -> Iterable[tuple[str, float, float]]:
    """(prompt, weak correct, strong correct) per row of a RouteLLM responses CSV."""
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        missing = {"prompt", WEAK_MODEL, STRONG_MODEL} - set(reader.fieldnames or ())
        if missing:
            raise DataError(f"{path}: missing column(s) {sorted(missing)}")
        for row_no, row in enumerate(reader, start=2):
            yield (
                row["prompt"],
                _correct(row[WEAK_MODEL], f"{path}:{row_no} {WEAK_MODEL}"),
                _correct(row[STRONG_MODEL], f"{path}:{row_no} {STRONG_MODEL}"),
            )


def _from_rows(name: str, rows: Iterable[tuple[str, float, float]], drop: set[str]) -> Source:
    kept = [r for r in rows if r[0] not in drop]
    if not kept:
        raise DataError(f"{name}: no prompts left")
    return Source(name, [r[0] for r in kept], [r[1] for r in kept], [r[2] for r in kept])


def load_mmlu(root: Path) -> Source:
    files = sorted((root / "mmlu/responses").glob("mmlu_*.csv"))
    if not files:
        raise DataError(f"{root / 'mmlu/responses'}: no mmlu_*.csv files")
    rows = [r for path in files for r in load_correctness_csv(path)]
    return _from_rows("MMLU", rows, _contaminated(root / "mmlu/contaminated_prompts.jsonl"))


def load_gsm8k(root: Path) -> Source:
    rows = load_correctness_csv(root / "gsm8k/gsm8k_responses.csv")
    return _from_rows("GSM8K", rows, _contaminated(root / "gsm8k/contaminated_prompts.jsonl"))


def load_mt_bench(root: Path) -> Source:
    """Turn 1 of each question with both models' judge scores, contaminated ones dropped."""
    base = root / "mt_bench"
    with (base / "question.jsonl").open(encoding="utf-8") as f:
        questions = {q["question_id"]: q["turns"][0] for q in map(json.loads, f) if q}
    scores: dict[tuple[int, str], float] = {}
    with (base / "judgements.jsonl").open(encoding="utf-8") as f:
        for line in f:
            j = json.loads(line)
            if j["turn"] == 1:
                scores[(j["question_id"], j["model"])] = float(j["score"])
    rows = []
    for qid, prompt in sorted(questions.items()):
        try:
            rows.append((prompt, scores[(qid, WEAK_MODEL)], scores[(qid, STRONG_MODEL)]))
        except KeyError as exc:
            raise DataError(f"{base / 'judgements.jsonl'}: no turn-1 score for {exc}") from exc
    return _from_rows("MT-bench", rows, _contaminated(base / "contaminated_prompts.jsonl"))


def heuristic_score(prompt: str) -> float:
    request = LLMRequest(
        request_id="eval", tenant="eval", messages=[ChatMessage(role="user", content=prompt)]
    )
    return classify(request).score


def scorers(seed: int) -> dict[str, Callable[[list[str]], list[float]]]:
    def random_scores(prompts: list[str]) -> list[float]:
        rng = random.Random(seed)
        return [rng.random() for _ in prompts]

    return {
        "heuristic": lambda prompts: [heuristic_score(p) for p in prompts],
        "length": lambda prompts: [float(len(p)) for p in prompts],
        "random": random_scores,
    }


def run(root: Path, seed: int) -> dict[str, dict[str, RouterEval]]:
    results: dict[str, dict[str, RouterEval]] = {}
    for source in (load_mmlu(root), load_gsm8k(root), load_mt_bench(root)):
        results[source.name] = {
            name: evaluate(score(source.prompts), source.weak, source.strong)
            for name, score in scorers(seed).items()
        }
    return results


def render(results: dict[str, dict[str, RouterEval]], root: Path, seed: int) -> str:
    lines = [
        f"data: {root}",
        f"weak = {WEAK_MODEL}, strong = {STRONG_MODEL}",
        "method: route a prompt to strong when its score >= threshold; sweep every threshold"
        " (tied scores move together); quality = mean correctness (MMLU, GSM8K) or GPT-4"
        " judge score 1-10 (MT-bench turn 1); contaminated prompts dropped by text."
        " APGR = (trapezoid AUC over strong share 0..1 - weak) / (strong - weak);"
        " CPT(x) = smallest strong share reaching weak + x*(strong - weak)."
        f" random uses seed {seed}; length = characters.",
        "",
    ]
    header = f"{'source':<9} {'n':>6} {'weak':>6} {'strong':>6}  {'scorer':<10}"
    header += f" {'APGR':>6} {'CPT50':>6} {'CPT80':>6}"
    lines += [header, "-" * len(header)]
    for source, by_scorer in results.items():
        for name, r in by_scorer.items():
            lines.append(
                f"{source:<9} {r.n:>6} {r.weak:>6.3f} {r.strong:>6.3f}  {name:<10}"
                f" {r.apgr:>6.3f} {r.cpt50:>6.1%} {r.cpt80:>6.1%}"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="routellm folder")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random scorer")
    args = parser.parse_args(argv)
    try:
        results = run(args.data, args.seed)
    except (OSError, DataError) as exc:
        print(f"router_eval: {exc}", file=sys.stderr)
        return 2
    print(render(results, args.data, args.seed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
