"""``routeyard router eval``: the table per source and scorer, on the test slice only."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from policy.learned_score import load_scorer
from policy.router_eval import evaluate
from routeyard import router_evaluate, router_train
from routeyard.router_data import load_gsm8k, part
from schemas.events import LLMRequest
from tests.policy.encoder_fixtures import write_encoder
from tests.routeyard.router_fixtures import write_dataset


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    data = write_dataset(tmp_path_factory.mktemp("routellm"))
    encoder = tmp_path_factory.mktemp("encoder")
    write_encoder(encoder, dim=6, seed=1)
    model = tmp_path_factory.mktemp("model")
    parser = argparse.ArgumentParser()
    router_train.add_arguments(parser)
    argv = ["--out", str(model), "--data", str(data), "--encoder-dir", str(encoder)]
    assert router_train.run(parser.parse_args(argv)) == 0
    return data, model


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    router_evaluate.add_arguments(parser)
    return router_evaluate.run(parser.parse_args(argv))


def test_the_table_has_every_source_and_scorer(
    trained: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    data, model = trained
    assert _run(["--data", str(data), "--model-dir", str(model), "--bootstrap", "30"]) == 0
    out = capsys.readouterr().out
    rows = [
        line.split()
        for line in out.splitlines()
        if line.split()[:1] in (["MMLU"], ["GSM8K"], ["MT-bench"])
    ]
    assert [(r[0], r[4]) for r in rows] == [
        (source, scorer)
        for source in ("MMLU", "GSM8K", "MT-bench")
        for scorer in ("learned", "heuristic", "length", "random")
    ]
    # The learned row is policy.router_eval's result on the GSM8K test slice.
    gsm8k = part(load_gsm8k(data), "test")
    scorer = load_scorer(model)
    scores = []
    for prompt in gsm8k.prompts:
        request = LLMRequest.model_validate(
            {"request_id": "r", "tenant": "t", "messages": [{"role": "user", "content": prompt}]}
        )
        scores.append(scorer.probability(scorer.read(request)))
    expected = evaluate(scores, gsm8k.weak, gsm8k.strong)
    [learned] = [r for r in rows if r[:1] == ["GSM8K"] and r[4] == "learned"]
    assert int(learned[1]) == expected.n == len(gsm8k.prompts)
    assert learned[5] == f"{expected.apgr:.3f}"
    # MT-bench is evaluated whole (20 questions, one contaminated).
    assert {int(r[1]) for r in rows if r[0] == "MT-bench"} == {19}


def test_the_intervals_are_seeded(
    trained: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    data, model = trained
    argv = ["--data", str(data), "--model-dir", str(model), "--bootstrap", "20", "--seed", "3"]
    _run(argv)
    first = capsys.readouterr().out
    _run(argv)
    assert capsys.readouterr().out == first
    _run([*argv[:-1], "4"])
    assert capsys.readouterr().out != first


def test_a_bad_model_dir_is_a_usage_error(trained: tuple[Path, Path], tmp_path: Path) -> None:
    from routeyard.cli import UsageError

    data, _ = trained
    with pytest.raises(UsageError, match="router eval: --model-dir: "):
        _run(["--data", str(data), "--model-dir", str(tmp_path)])
