"""A route's consensus settings: what the loader accepts, and that each mistake names its field."""

from __future__ import annotations

import pytest

from schemas.config import GatewayConfig
from schemas.config_loader import ConfigError, parse_config
from schemas.quality import ALL_CHECKS

CONFIG = """
providers:
  emu: {format: openai, base_url: "http://127.0.0.1:1/v1"}
models:
  a: {provider: emu, upstream: a, input_per_mtok: "1", output_per_mtok: "2", context_window: 1000}
  b: {provider: emu, upstream: b, input_per_mtok: "1", output_per_mtok: "2", context_window: 1000}
  c: {provider: emu, upstream: c, input_per_mtok: "1", output_per_mtok: "2", context_window: 1000}
routes:
  - {name: first, primary: a}
  - {name: voting, primary: a, fallbacks: [b], consensus: CONSENSUS}
"""


def _load(consensus: str) -> GatewayConfig:
    return parse_config(CONFIG.replace("CONSENSUS", consensus), "gw.yaml")


def _problem(consensus: str) -> str:
    with pytest.raises(ConfigError) as info:
        _load(consensus)
    return str(info.value)


def test_majority_is_the_default_and_needs_more_than_half_to_agree() -> None:
    plan = _load("{models: [a, b, c]}").routes[1].consensus
    assert plan is not None
    assert (plan.strategy, plan.judge_model, plan.min_agree, plan.agree_needed) == (
        "majority",
        None,
        None,
        2,
    )
    assert plan.checks == list(ALL_CHECKS)
    assert _load("{models: [a, b]}").routes[1].consensus.agree_needed == 2  # type: ignore[union-attr]


def test_each_strategy_is_read() -> None:
    judge = _load("{models: [a, b], strategy: judge, judge_model: c, min_agree: 1}")
    plan = judge.routes[1].consensus
    assert plan is not None and (plan.judge_model, plan.agree_needed) == ("c", 1)
    valid = _load("{models: [a, b], strategy: first_valid, checks: [empty, json]}")
    assert valid.routes[1].consensus.checks == ["empty", "json"]  # type: ignore[union-attr]


def test_a_route_without_consensus_has_none() -> None:
    assert _load("null").routes[0].consensus is None


@pytest.mark.parametrize(
    ("consensus", "message"),
    [
        ("{models: [a]}", "routes[1].consensus.models"),
        ("{models: [a, a]}", "models[1]: 'a' is listed twice"),
        ("{models: [a, b], strategy: vote}", "routes[1].consensus.strategy"),
        ("{models: [a, b], strategy: judge}", "judge_model: required by the judge strategy"),
        ("{models: [a, b], judge_model: c}", "judge_model: required by the judge strategy"),
        ("{models: [a, b], min_agree: 3}", "min_agree: 3 is more than the 2 models asked"),
        ("{models: [a, b], min_agree: 0}", "routes[1].consensus.min_agree"),
        ("{models: [a, b], strategy: first_valid, min_agree: 1}", "min_agree: first_valid"),
        ("{models: [a, b], checks: [empty]}", "checks: only first_valid takes them"),
        ("{models: [a, b], strategy: first_valid, checks: []}", "routes[1].consensus.checks"),
        ("{models: [a, b], strategy: first_valid, checks: [spelling]}", "consensus.checks"),
        ("{models: [a, b], typo: 1}", "routes[1].consensus.typo"),
    ],
)
def test_a_bad_setting_is_named(consensus: str, message: str) -> None:
    assert message in _problem(consensus)


def test_unknown_models_are_named_by_their_place() -> None:
    problem = _problem("{models: [a, nope]}")
    assert "routes[1].consensus.models[1]: unknown model 'nope' (known: a, b, c)" in problem
    problem = _problem("{models: [a, b], strategy: judge, judge_model: ghost}")
    assert "routes[1].consensus.judge_model: unknown model 'ghost'" in problem


def test_consensus_and_escalation_do_not_mix_on_one_route() -> None:
    text = CONFIG.replace("consensus: CONSENSUS", "consensus: {models: [a, b]}, escalation: {}")
    with pytest.raises(ConfigError, match=r"routes\[1\]: give consensus or escalation, not both"):
        parse_config(text, "gw.yaml")


def test_a_dumped_config_loads_again() -> None:
    config = _load("{models: [a, b, c], strategy: judge, judge_model: c}")
    again = GatewayConfig.model_validate(config.model_dump())
    assert again.routes[1].consensus == config.routes[1].consensus
