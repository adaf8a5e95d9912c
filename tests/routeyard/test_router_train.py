"""``routeyard router train``: deterministic, never reads the test slice, and writes a folder
the scorer loads. Trained here on a small seeded dataset with a small encoder folder."""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from policy.learned_score import MODEL_FILE, load_scorer
from policy.scoring import build_classifier
from routeyard import router_train
from routeyard.router_data import STRONG_MODEL, WEAK_MODEL, load_mmlu, part, split_of
from schemas.events import LLMRequest
from schemas.router import RouterConfig
from tests.policy.encoder_fixtures import write_encoder
from tests.routeyard.router_fixtures import write_dataset


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_dataset(tmp_path_factory.mktemp("routellm"))


@pytest.fixture(scope="module")
def encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("encoder")
    write_encoder(folder, dim=6, seed=1)
    return folder


def _args(out: Path, data: Path, encoder: Path, check: bool = False) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    router_train.add_arguments(parser)
    argv = ["--out", str(out), "--data", str(data), "--encoder-dir", str(encoder)]
    return parser.parse_args([*argv, "--check"] if check else argv)


def _quiet(line: str) -> None:
    del line


def test_training_twice_writes_the_same_bytes(
    data: Path, encoder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert router_train.run(_args(tmp_path / "one", data, encoder)) == 0
    assert router_train.run(_args(tmp_path / "two", data, encoder)) == 0
    one = (tmp_path / "one" / MODEL_FILE).read_bytes()
    assert one == (tmp_path / "two" / MODEL_FILE).read_bytes()
    assert router_train.run(_args(tmp_path / "one", data, encoder, check=True)) == 0
    assert "up to date" in capsys.readouterr().out
    doc = json.loads(one)
    doc["bias"] += 0.5
    (tmp_path / "one" / MODEL_FILE).write_text(json.dumps(doc), encoding="utf-8")
    assert router_train.run(_args(tmp_path / "one", data, encoder, check=True)) == 1
    assert "differs" in capsys.readouterr().out


def test_the_written_folder_loads_and_scores_like_training_did(
    data: Path, encoder: Path, tmp_path: Path
) -> None:
    router_train.run(_args(tmp_path, data, encoder))
    doc = json.loads((tmp_path / MODEL_FILE).read_text(encoding="utf-8"))
    assert doc["encoder"]["source"] == "folder"
    classify = build_classifier(RouterConfig(model_dir=str(tmp_path)))
    scorer = load_scorer(tmp_path)
    mmlu = part(load_mmlu(data), "validation")
    scores = []
    for prompt in mmlu.prompts:
        request = LLMRequest.model_validate(
            {"request_id": "r", "tenant": "t", "messages": [{"role": "user", "content": prompt}]}
        )
        c = classify(request)
        assert c.score == scorer.probability(scorer.read(request))
        scores.append(c.score)
    # The recorded validation metrics are those of the weights as written.
    from policy.router_eval import evaluate

    result = evaluate(scores, mmlu.weak, mmlu.strong)
    assert doc["metrics"]["validation"]["MMLU"]["apgr"] == round(result.apgr, 4)
    # The labels follow the words, so the fitted score ranks better than chance.
    assert result.apgr > 0.55
    cuts = doc["thresholds"]
    assert 0.0 <= cuts["moderate"] <= cuts["complex"] <= 1.0


def test_a_derived_encoder_is_recorded_by_fingerprint_and_not_copied(
    data: Path, tmp_path: Path
) -> None:
    from policy.derived_encoder import PROBE_TOKENS
    from policy.text_encoder import FOLDER_EMBEDDINGS
    from tests.policy.encoder_fixtures import TINY_RECIPE, WORDS, write_derived_encoder

    encoder_dir, out = tmp_path / "encoder", tmp_path / "model"
    write_derived_encoder(encoder_dir, seed=1)
    assert router_train.run(_args(out, data, encoder_dir)) == 0
    spec = json.loads((out / MODEL_FILE).read_text(encoding="utf-8"))["encoder"]
    assert spec["source"] == "derived" and spec["recipe"] == TINY_RECIPE
    known = [t for t in PROBE_TOKENS if t in WORDS]  # the probes this small tokenizer has
    assert (
        spec["fingerprint"]["tokens"]
        == known
        == ["the", "why", "prove", "integral", "python", "capital"]
    )
    assert "embeddings_sha256" not in spec and not (out / FOLDER_EMBEDDINGS).exists()
    scorer = load_scorer(out, encoder_dir)
    assert (
        0.0
        <= scorer.probability(
            scorer.read(
                LLMRequest.model_validate(
                    {
                        "request_id": "r",
                        "tenant": "t",
                        "messages": [{"role": "user", "content": "prove it"}],
                    }
                )
            )
        )
        <= 1.0
    )


def test_training_without_a_built_default_encoder_says_how_to_build_it(
    data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from routeyard.cli import UsageError

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "empty-cache"))
    parser = argparse.ArgumentParser()
    router_train.add_arguments(parser)
    args = parser.parse_args(["--out", str(tmp_path / "out"), "--data", str(data)])
    with pytest.raises(UsageError, match="run routeyard router build-encoder first"):
        router_train.run(args)


def _flip_test_labels(src: Path, dst: Path) -> None:
    """A copy of the dataset whose MMLU test-slice labels are all flipped."""
    import shutil

    shutil.copytree(src, dst)
    for path in sorted((dst / "mmlu/responses").glob("*.csv")):
        with path.open(encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f))
        for row in rows:
            if split_of("MMLU", row["prompt"]) == "test":
                for model in (WEAK_MODEL, STRONG_MODEL):
                    row[model] = "False" if row[model] == "True" else "True"
        with path.open("w", encoding="utf-8", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=["prompt", WEAK_MODEL, STRONG_MODEL])
            writer.writeheader()
            writer.writerows(rows)


def _without_fingerprints(doc: dict[str, Any]) -> dict[str, Any]:
    doc = json.loads(json.dumps(doc))
    del doc["training"]["data"]["sources"]
    return doc


def test_the_test_slice_does_not_change_the_model(
    data: Path, encoder: Path, tmp_path: Path
) -> None:
    flipped = tmp_path / "flipped"
    _flip_test_labels(data, flipped)
    args = _args(tmp_path / "out", data, encoder)
    original = router_train.build_document(args, _quiet)
    changed = router_train.build_document(_args(tmp_path / "out", flipped, encoder), _quiet)
    assert original["training"]["data"]["sources"] != changed["training"]["data"]["sources"]
    assert _without_fingerprints(original) == _without_fingerprints(changed)


def test_the_split_is_fixed_by_source_and_text() -> None:
    prompts = [f"question number {i}" for i in range(5000)]
    splits = [split_of("MMLU", p) for p in prompts]
    assert splits == [split_of("MMLU", p) for p in reversed(prompts)][::-1]
    share = {s: splits.count(s) / len(splits) for s in ("train", "validation", "test")}
    assert share["test"] == pytest.approx(0.20, abs=0.02)
    assert share["validation"] == pytest.approx(0.16, abs=0.02)
    assert {split_of("MT-bench", p) for p in prompts[:50]} == {"test"}
    assert [split_of("GSM8K", p) for p in prompts[:200]] != splits[:200]  # salted by source


def test_fit_logistic_recovers_a_known_direction() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2000, 3))
    x[:, 2] = 1.0  # a constant column keeps a zero weight
    p = 1 / (1 + np.exp(-(2.0 * x[:, 0] - 1.0 * x[:, 1] + 0.5)))
    y = (rng.random(2000) < p).astype(np.float64)
    coef, bias = router_train.fit_logistic(x, y, np.ones(2000), lam=1.0)
    assert coef[0] == pytest.approx(2.0, abs=0.3)
    assert coef[1] == pytest.approx(-1.0, abs=0.2)
    assert coef[2] == 0.0
    assert bias == pytest.approx(0.5, abs=0.2)


def test_targets_follow_the_label_rule() -> None:
    weak, strong = [1.0, 1.0, 0.0, 0.0], [1.0, 0.0, 1.0, 0.0]
    assert list(router_train.targets(weak, strong, 0.5)) == [0.0, 0.0, 1.0, 0.5]


def test_threshold_at_takes_the_share_from_the_top() -> None:
    scores = [0.9, 0.1, 0.5, 0.5, 0.7]
    assert router_train.threshold_at(scores, 0.0) == 1.0
    assert router_train.threshold_at(scores, 0.4) == 0.7
    assert router_train.threshold_at(scores, 0.8) == 0.5
    assert router_train.threshold_at(scores, 1.0) == 0.1


def test_bad_data_is_a_usage_error(encoder: Path, tmp_path: Path) -> None:
    from routeyard.cli import UsageError

    with pytest.raises(UsageError, match="router train: data: "):
        router_train.run(_args(tmp_path / "out", tmp_path / "absent", encoder))
    assert not (tmp_path / "out").exists()
