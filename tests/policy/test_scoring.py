"""build_classifier: the scorer and tier thresholds a config's ``router`` names."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from policy.classifier import HEURISTIC_THRESHOLDS, classify, read_features, tier_for
from policy.learned_score import MODEL_FILE
from policy.scoring import ScorerLoadError, build_classifier, learned_scorer
from schemas.config_loader import ConfigError, parse_config
from schemas.events import LLMRequest
from schemas.router import RouterConfig, TierThresholds
from streams.triage import RecentIds, Routed, TriageStage, triage
from tests.policy.encoder_fixtures import write_scorer
from tests.streams.recording import RecordingPublisher, ready_ledger

PROMPTS = [
    "hi there",
    "Fix this python:\n```\ndef f(x):\n    return x +\n```",
    "Prove that the integral of 1/x from 1 to e is 1, step by step, and explain why.",
    "Summarize the key points of this memo: revenue grew, costs fell.",
]


def _request(text: str, **over: object) -> LLMRequest:
    data: dict[str, object] = {
        "request_id": "r1",
        "tenant": "t",
        "messages": [{"role": "user", "content": text}],
    }
    data.update(over)
    return LLMRequest.model_validate(data)


def test_tier_for_cuts_at_the_thresholds_given() -> None:
    cuts = TierThresholds(moderate=0.2, complex=0.5)
    assert [tier_for(s, cuts) for s in (0.0, 0.1999, 0.2, 0.4999, 0.5, 1.0)] == [
        "simple",
        "simple",
        "moderate",
        "moderate",
        "complex",
        "complex",
    ]
    assert [tier_for(s) for s in (0.34, 0.35, 0.64, 0.65)] == [
        "simple",
        "moderate",
        "moderate",
        "complex",
    ]
    assert tier_for(0.3, TierThresholds(moderate=0.3, complex=0.3)) == "complex"


def test_the_heuristic_scorer_is_the_classifier_with_the_configs_thresholds() -> None:
    default = build_classifier(RouterConfig(scorer="heuristic"))
    cuts = TierThresholds(moderate=0.0, complex=0.05)
    strict = build_classifier(RouterConfig(scorer="heuristic", thresholds=cuts))
    for text in PROMPTS:
        request = _request(text)
        assert default(request) == classify(request)
        assert default(request) == classify(request, HEURISTIC_THRESHOLDS)
        expected = classify(request)
        got = strict(request)
        assert got.score == expected.score and got.tier == tier_for(expected.score, cuts)
    assert strict(_request(PROMPTS[2])).tier == "complex"


def test_the_learned_scorer_publishes_its_probability_and_the_heuristics_features() -> None:
    learned = build_classifier(RouterConfig())
    model = learned_scorer(None)
    for text in PROMPTS:
        request = _request(text)
        c = learned(request)
        assert c.score == model.probability(model.read(request))
        assert c.tier == tier_for(c.score, model.thresholds)
        assert c.features == read_features(request, model.windows.features)[1]
        assert set(c.features) == set(classify(request).features)
        assert c.task_type == classify(request).task_type  # short prompts: the same reading
    assert learned(_request("hello", task_type="summarize")).task_type == "summarize"


def test_config_thresholds_override_the_models_defaults(tmp_path: Path) -> None:
    write_scorer(tmp_path)
    folder = str(tmp_path)
    by_model = build_classifier(RouterConfig(model_dir=folder))
    scores = {t: by_model(_request(t)).score for t in PROMPTS}
    assert len(set(scores.values())) > 1
    cut = sorted(scores.values())[1]
    config = RouterConfig(model_dir=folder, thresholds=TierThresholds(moderate=cut, complex=cut))
    tiers = {t: build_classifier(config)(_request(t)).tier for t in PROMPTS}
    assert tiers == {t: "complex" if s >= cut else "simple" for t, s in scores.items()}
    assert {t: by_model(_request(t)).tier for t in PROMPTS} == {
        t: tier_for(s, TierThresholds(moderate=0.3, complex=0.6)) for t, s in scores.items()
    }


def test_the_same_prompt_scores_the_same_in_two_processes_worth_of_loads(tmp_path: Path) -> None:
    write_scorer(tmp_path)
    learned_scorer.cache_clear()
    first = [build_classifier(RouterConfig(model_dir=str(tmp_path)))(_request(t)) for t in PROMPTS]
    learned_scorer.cache_clear()  # a fresh load, as another worker would make
    second = [build_classifier(RouterConfig(model_dir=str(tmp_path)))(_request(t)) for t in PROMPTS]
    assert first == second


def test_a_model_dir_that_cannot_be_loaded_names_the_field(tmp_path: Path) -> None:
    with pytest.raises(ScorerLoadError, match=rf"^router.model_dir: {tmp_path}: .*cannot read"):
        build_classifier(RouterConfig(model_dir=str(tmp_path)))
    write_scorer(tmp_path)
    doc = json.loads((tmp_path / MODEL_FILE).read_text(encoding="utf-8"))
    doc["embedding_weights"] = doc["embedding_weights"][:2]
    (tmp_path / MODEL_FILE).write_text(json.dumps(doc), encoding="utf-8")
    learned_scorer.cache_clear()
    with pytest.raises(ConfigError, match=r"router.model_dir: .*2 embedding_weights") as caught:
        build_classifier(RouterConfig(model_dir=str(tmp_path)))
    assert caught.value.__cause__ is not None  # the loader's own error, chained once
    # The heuristic needs no model, whatever model_dir says.
    heuristic = build_classifier(RouterConfig(scorer="heuristic", model_dir=str(tmp_path / "x")))
    assert heuristic(_request("hi there")) == classify(_request("hi there"))


CONFIG = """
providers:
  a: {format: openai, base_url: "http://127.0.0.1:1/v1"}
models:
  small: {provider: a, upstream: s, input_per_mtok: "0.15", output_per_mtok: "0.60",
          context_window: 100000}
  big: {provider: a, upstream: b, input_per_mtok: "3", output_per_mtok: "15",
        context_window: 100000}
routes:
  - {name: hard, when: {tiers: [complex]}, primary: big}
  - {name: default, primary: small}
"""


async def test_triage_routes_by_the_configs_scorer_and_stops_on_a_bad_model(
    tmp_path: Path,
) -> None:
    write_scorer(tmp_path)
    routes = {}
    for cut in (0.0, 1.0):  # every prompt complex, then none
        config = parse_config(
            CONFIG + f"router: {{model_dir: '{tmp_path}', thresholds: {{moderate: {cut},"
            f" complex: {cut}}}}}\n"
        )
        outcome = triage(_request(PROMPTS[2]).to_bytes(), config, RecentIds(4))
        assert isinstance(outcome, Routed)
        classification = build_classifier(config.router)(_request(PROMPTS[2]))
        assert outcome.dispatch.classification == classification
        routes[cut] = outcome.dispatch.route
    assert routes == {0.0: "hard", 1.0: "default"}
    bad = parse_config(CONFIG + f"router: {{model_dir: '{tmp_path / 'absent'}'}}\n")
    with pytest.raises(ScorerLoadError, match=r"^router\.model_dir: "):
        TriageStage(bad, RecordingPublisher(), ready_ledger())  # type: ignore[arg-type]
