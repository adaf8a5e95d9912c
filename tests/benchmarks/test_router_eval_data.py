import csv
import json
from pathlib import Path

import pytest

from benchmarks.router_eval import (
    STRONG_MODEL,
    WEAK_MODEL,
    DataError,
    load_correctness_csv,
    load_gsm8k,
)


def _write(path: Path, rows: list[list[str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows([["prompt", WEAK_MODEL, STRONG_MODEL], *rows])


def test_gsm8k_loader_reads_correctness_and_drops_contaminated(tmp_path: Path) -> None:
    (tmp_path / "gsm8k").mkdir()
    _write(
        tmp_path / "gsm8k/gsm8k_responses.csv",
        [
            ["a, with comma\nand a newline", "False", "True"],
            ["b", "True", "False"],
            ["c", "True", "True"],
        ],
    )
    (tmp_path / "gsm8k/contaminated_prompts.jsonl").write_text(
        json.dumps({"train_prompt": "x", "eval_prompt": "b"}) + "\n", encoding="utf-8"
    )
    source = load_gsm8k(tmp_path)
    assert source.prompts == ["a, with comma\nand a newline", "c"]
    assert source.weak == [0.0, 1.0]
    assert source.strong == [1.0, 1.0]


def test_a_bad_cell_names_file_row_and_column(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    _write(path, [["a", "True", "True"], ["b", "yes", "True"]])
    with pytest.raises(DataError, match=rf"r.csv:3 {WEAK_MODEL}: expected True or False"):
        list(load_correctness_csv(path))


def test_a_missing_model_column_is_named(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text(f"prompt,{WEAK_MODEL}\na,True\n", encoding="utf-8")
    with pytest.raises(DataError, match=STRONG_MODEL):
        list(load_correctness_csv(path))
