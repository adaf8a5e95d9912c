"""The learned score: its arithmetic, its bounded reading of long prompts, the shipped model,
and the model folder's checks (each refusal names the file and what is wrong)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from policy.classifier import head_tail, read_features
from policy.derived_encoder import PROBE_TOKENS, RECIPE
from policy.learned_score import (
    FEATURES,
    MODEL_FILE,
    ModelError,
    load_scorer,
    logistic,
    shipped_model_dir,
)
from policy.text_encoder import FOLDER_EMBEDDINGS, load_folder
from schemas.events import LLMRequest
from tests.policy.encoder_fixtures import write_scorer


def _request(*texts: str) -> LLMRequest:
    roles = ["user", "assistant"]
    messages = [{"role": roles[i % 2], "content": t} for i, t in enumerate(texts)]
    return LLMRequest.model_validate({"request_id": "r", "tenant": "t", "messages": messages})


def test_the_score_is_the_logistic_of_the_weighted_embedding_and_features(tmp_path: Path) -> None:
    doc = write_scorer(tmp_path)
    scorer = load_scorer(tmp_path)
    request = _request("why is the cat a dog?")
    reading = scorer.read(request)
    _, features = read_features(request, 32)
    assert reading.features == features
    embedding = load_folder(tmp_path).embed_one("why is the cat a dog?")
    z = float(embedding @ np.array(doc["embedding_weights"]))
    z += sum(w * features[n] for w, n in zip(doc["feature_weights"], FEATURES, strict=True))
    z += doc["bias"]
    assert scorer.probability(reading) == round(1 / (1 + math.exp(-z)), 4)


def test_the_logistic_does_not_overflow() -> None:
    assert logistic(-1000.0) == 0.0 and logistic(1000.0) == 1.0 and logistic(0.0) == 0.5


def test_a_long_prompt_is_read_at_its_head_and_tail(tmp_path: Path) -> None:
    write_scorer(tmp_path)
    scorer = load_scorer(tmp_path)
    head, tail = "prove the integral " * 10, " why is the cat a dog" * 10
    one = _request(head + "hello world " * 5000 + tail)  # 12 * 5000 characters between
    other = _request(head + "python code sum " * 3750 + tail)  # 16 * 3750
    assert len(one.messages[0].text) == len(other.messages[0].text)
    assert scorer.read(one).features == scorer.read(other).features
    assert scorer.probability(scorer.read(one)) == scorer.probability(scorer.read(other))
    reading = scorer.read(one)
    assert reading.text == head_tail(one.messages[0].text, 32)
    assert reading.features["length"] > 0.6  # the length still counts every character


def test_the_shipped_model_scores_the_same_across_two_loads() -> None:
    first, second = load_scorer(shipped_model_dir()), load_scorer(shipped_model_dir())
    prompts = [
        _request("hi there"),
        _request("Prove that there are infinitely many primes, step by step."),
        _request("Write a haiku about autumn", "Leaves fall", "Now one about winter"),
        _request("x" * 900_000),
    ]
    scores = [first.probability(first.read(r)) for r in prompts]
    assert scores == [second.probability(second.read(r)) for r in prompts]
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert len(set(scores)) == len(scores)  # the prompts differ, so do their scores


def test_the_shipped_model_records_how_it_was_made() -> None:
    doc = json.loads((shipped_model_dir() / MODEL_FILE).read_text(encoding="utf-8"))
    # Trained on the derived encoder as build-encoder makes it, pinned by recipe and checked
    # by fingerprint; the table itself is not in the repository.
    encoder = doc["encoder"]
    assert encoder["source"] == "derived" and encoder["recipe"] == RECIPE
    assert encoder["fingerprint"]["tokens"] == list(PROBE_TOKENS)
    assert not (shipped_model_dir() / FOLDER_EMBEDDINGS).exists()
    data = doc["training"]["data"]
    assert set(data["sources"]) == {"MMLU", "GSM8K"}  # MT-bench is never trained on
    assert "MT-bench" not in data["train_prompts"] and "MT-bench" not in data["validation_prompts"]
    thresholds = doc["thresholds"]
    assert 0.0 < thresholds["moderate"] <= thresholds["complex"] < 1.0
    assert (shipped_model_dir() / MODEL_FILE).stat().st_size < 1_000_000


def _broken(tmp_path: Path, **changes: Any) -> Path:
    doc = write_scorer(tmp_path)
    doc.update(changes)
    (tmp_path / MODEL_FILE).write_text(json.dumps(doc), encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"format": "v0"}, "format must be 'routeyard-learned-scorer/1', got 'v0'"),
        ({"features": ["length"]}, "features must be"),
        ({"window_chars": "big"}, "window_chars is missing or not an integer"),
        ({"window_chars": 0}, "must be at least 1"),
        ({"bias": True}, "bias is missing or not a number"),
        ({"embedding_weights": [1.0, "x"]}, "embedding_weights holds a value that is not a number"),
        ({"embedding_weights": [1.0] * 3}, "3 embedding_weights and 6 feature_weights"),
        ({"feature_weights": [1e400] * 6}, "feature_weights holds a value that is not finite"),
        (
            {"thresholds": {"moderate": 0.7, "complex": 0.2}},
            r"thresholds: moderate \(0.7\) must not be above complex \(0.2\)$",
        ),
        ({"encoder": {"source": "hub"}}, "encoder.source must be derived or folder"),
        # The encoder that scorer.json used to name: a package is no longer a source.
        (
            {"encoder": {"source": "package", "distribution": "wordllama", "version": "0.4"}},
            "encoder.source must be derived or folder, got 'package'",
        ),
    ],
)
def test_a_bad_scorer_json_is_refused_with_the_reason(
    tmp_path: Path, changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(ModelError, match=message) as caught:
        load_scorer(_broken(tmp_path, **changes))
    assert str(tmp_path / MODEL_FILE) in str(caught.value)


def test_a_missing_or_unreadable_model_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=f"{MODEL_FILE}: cannot read"):
        load_scorer(tmp_path)
    (tmp_path / MODEL_FILE).write_text("{", encoding="utf-8")
    with pytest.raises(ModelError, match=f"{MODEL_FILE}: not JSON"):
        load_scorer(tmp_path)


def test_an_encoder_other_than_the_one_trained_with_is_refused(tmp_path: Path) -> None:
    write_scorer(tmp_path)
    table = tmp_path / FOLDER_EMBEDDINGS
    data = bytearray(table.read_bytes())
    data[-1] ^= 0xFF
    table.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="not the embeddings file the scorer was trained with"):
        load_scorer(tmp_path)
