"""RouteLLM's labeled prompts (../shared/datasets/routellm, Apache-2.0) and their fixed split.

For each source every prompt has the quality of a weak model (Mixtral 8x7B) and a strong
one (GPT-4-1106): 0/1 correctness on MMLU and GSM8K, the GPT-4 judge's 1-10 score on
MT-bench turn 1. Prompts RouteLLM lists as contaminated are dropped by their text.

**The split** is chosen by a hash of the source name and the prompt text, so it depends on
nothing else (not file order, not the other prompts) and a repeated prompt always lands in
the same part:

- ``test``: 20% of MMLU and of GSM8K, and all of MT-bench. Never trained or tuned on;
  only ``routeyard router eval`` reads it.
- ``validation``: 16% (a fifth of the rest): hyperparameters and tier thresholds.
- ``train``: the remaining 64%.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

WEAK_MODEL = "mistralai/Mixtral-8x7B-Instruct-v0.1"
STRONG_MODEL = "gpt-4-1106-preview"
DEFAULT_DATA = Path("../shared/datasets/routellm")

Split = Literal["train", "validation", "test"]
TEST_PERCENT = 20
VALIDATION_PERCENT = 16
# Sources never trained on in any share.
HELD_OUT_SOURCES = frozenset({"MT-bench"})


class DataError(Exception):
    """The dataset folder is missing a file or holds a value we cannot read."""


@dataclass(frozen=True)
class Source:
    name: str
    prompts: list[str]
    weak: list[float]
    strong: list[float]
    files: tuple[Path, ...]  # what it was read from, for the model's record

    def subset(self, keep: Iterable[int]) -> Source:
        idx = list(keep)
        return Source(
            self.name,
            [self.prompts[i] for i in idx],
            [self.weak[i] for i in idx],
            [self.strong[i] for i in idx],
            self.files,
        )


def split_of(source: str, prompt: str) -> Split:
    if source in HELD_OUT_SOURCES:
        return "test"
    digest = hashlib.sha256(f"{source}\0{prompt}".encode()).digest()
    bucket = int.from_bytes(digest[:8], "big") % 100
    if bucket < TEST_PERCENT:
        return "test"
    if bucket < TEST_PERCENT + VALIDATION_PERCENT:
        return "validation"
    return "train"


def part(source: Source, split: Split) -> Source:
    """The prompts of ``source`` in ``split``, in file order."""
    return source.subset(
        i for i, p in enumerate(source.prompts) if split_of(source.name, p) == split
    )


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


def _from_rows(
    name: str, rows: Iterable[tuple[str, float, float]], drop: set[str], files: list[Path]
) -> Source:
    kept = [r for r in rows if r[0] not in drop]
    if not kept:
        raise DataError(f"{name}: no prompts left")
    return Source(
        name, [r[0] for r in kept], [r[1] for r in kept], [r[2] for r in kept], tuple(files)
    )


def load_mmlu(root: Path) -> Source:
    files = sorted((root / "mmlu/responses").glob("mmlu_*.csv"))
    if not files:
        raise DataError(f"{root / 'mmlu/responses'}: no mmlu_*.csv files")
    rows = [r for path in files for r in load_correctness_csv(path)]
    contaminated = root / "mmlu/contaminated_prompts.jsonl"
    return _from_rows("MMLU", rows, _contaminated(contaminated), [*files, contaminated])


def load_gsm8k(root: Path) -> Source:
    path = root / "gsm8k/gsm8k_responses.csv"
    contaminated = root / "gsm8k/contaminated_prompts.jsonl"
    rows = load_correctness_csv(path)
    return _from_rows("GSM8K", rows, _contaminated(contaminated), [path, contaminated])


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
    files = [
        base / "question.jsonl",
        base / "judgements.jsonl",
        base / "contaminated_prompts.jsonl",
    ]
    return _from_rows("MT-bench", rows, _contaminated(files[2]), files)


def load_training_sources(root: Path) -> list[Source]:
    """The sources training may read (MT-bench is never one of them)."""
    return [load_mmlu(root), load_gsm8k(root)]


def load_all_sources(root: Path) -> list[Source]:
    return [load_mmlu(root), load_gsm8k(root), load_mt_bench(root)]


def fingerprint(source: Source, root: Path) -> dict[str, object]:
    """The files a source was read from, as one sha256 over their names and contents."""
    digest = hashlib.sha256()
    for path in source.files:
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return {"files": len(source.files), "sha256": digest.hexdigest()}
