"""A small RouteLLM-shaped dataset folder for the router commands' tests: the same files
and columns as ../shared/datasets/routellm, with seeded prompts whose labels follow their
words (a prompt with "prove" or "integral" is hard for the weak model)."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path
from typing import Any

from routeyard.router_data import STRONG_MODEL, WEAK_MODEL
from tests.policy.encoder_fixtures import WORDS

HARD = {"prove", "integral", "compare", "explain"}


def _prompt(rng: random.Random) -> str:
    return " ".join(rng.choices(WORDS, k=rng.randint(3, 12))) + rng.choice(["?", ".", ""])


def _labels(prompt: str, rng: random.Random) -> tuple[bool, bool]:
    hard = bool(HARD & set(prompt.split()))
    weak = rng.random() < (0.3 if hard else 0.85)
    strong = rng.random() < (0.8 if hard else 0.9)
    return weak, strong


def _write_csv(path: Path, rows: list[tuple[str, bool, bool]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["prompt", WEAK_MODEL, STRONG_MODEL])
        writer.writerows([p, str(w), str(s)] for p, w, s in rows)


def _contaminated(path: Path, prompts: list[str]) -> None:
    lines = [json.dumps({"train_prompt": "x", "eval_prompt": p}) for p in prompts]
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def write_dataset(root: Path, seed: int = 0, per_file: int = 120) -> Path:
    rng = random.Random(seed)
    seen: set[str] = set()

    def rows(n: int) -> list[tuple[str, bool, bool]]:
        out: list[tuple[str, bool, bool]] = []
        while len(out) < n:
            p = _prompt(rng)
            if p not in seen:
                seen.add(p)
                out.append((p, *_labels(p, rng)))
        return out

    mmlu = [rows(per_file), rows(per_file)]
    for name, file_rows in zip(("mmlu_a", "mmlu_b"), mmlu, strict=True):
        _write_csv(root / "mmlu/responses" / f"{name}.csv", file_rows)
    _contaminated(root / "mmlu/contaminated_prompts.jsonl", [mmlu[0][0][0]])
    gsm8k = rows(per_file)
    _write_csv(root / "gsm8k/gsm8k_responses.csv", gsm8k)
    _contaminated(root / "gsm8k/contaminated_prompts.jsonl", [gsm8k[0][0]])
    bench = root / "mt_bench"
    bench.mkdir(parents=True)
    questions: list[dict[str, Any]] = []
    judgements: list[dict[str, Any]] = []
    for qid in range(81, 101):
        turns = [_prompt(rng), _prompt(rng)]
        questions.append({"question_id": qid, "category": "writing", "turns": turns})
        for model in (WEAK_MODEL, STRONG_MODEL):
            for turn in (1, 2):
                score = rng.randint(3 if model == STRONG_MODEL else 1, 10)
                judgements.append(
                    {"question_id": qid, "model": model, "turn": turn, "score": score}
                )
    (bench / "question.jsonl").write_text(
        "".join(json.dumps(q) + "\n" for q in questions), encoding="utf-8"
    )
    (bench / "judgements.jsonl").write_text(
        "".join(json.dumps(j) + "\n" for j in judgements), encoding="utf-8"
    )
    _contaminated(bench / "contaminated_prompts.jsonl", [questions[0]["turns"][0]])
    return root
