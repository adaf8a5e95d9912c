"""The escalation decision, pure: which verdict, which model next, what the budget allows."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from adapters.base import ProviderResult
from policy.escalation import (
    Escalate,
    Exhausted,
    Passed,
    Skipped,
    budget_refusal,
    next_model,
    review,
)
from schemas.base import utcnow
from schemas.config import GatewayConfig
from schemas.config_loader import ConfigError, parse_config
from schemas.events import (
    AdmissionMark,
    AttemptRecord,
    Classification,
    DispatchEvent,
    EscalationStep,
    LLMRequest,
)
from schemas.quality import EscalationConfig

CONFIG = """
providers:
  a: {format: openai, base_url: "http://127.0.0.1:1/v1"}
models:
  cheap: {provider: a, upstream: c, input_per_mtok: "0.15", output_per_mtok: "0.60",
          context_window: 100000}
  mid: {provider: a, upstream: m, input_per_mtok: "1", output_per_mtok: "4",
        context_window: 100000}
  strong: {provider: a, upstream: s, input_per_mtok: "3", output_per_mtok: "15",
           context_window: 100000}
routes:
  - name: default
    primary: cheap
    fallbacks: [mid, strong]
    escalation: {max_attempts: 3}
  - name: listed
    primary: cheap
    fallbacks: [strong]
    escalation: {models: [mid, strong], max_attempts: 3, on_exhausted: dead_letter}
  - name: plain
    primary: cheap
admission:
  tenants:
    budgeted: {budgets: [{period: day, limit_usd: "10"}]}
"""
EMPTY = ProviderResult(
    content="", finish_reason="stop", input_tokens=10, output_tokens=1,
    provider_request_id=None, upstream_model="c",
)  # fmt: skip
GOOD = EMPTY.model_copy(update={"content": "Paris."})


@pytest.fixture
def config() -> GatewayConfig:
    return parse_config(CONFIG)


def event(route: str = "default", tenant: str = "acme", **over: Any) -> DispatchEvent:
    request = LLMRequest(
        request_id="r1",
        tenant=tenant,
        messages=[{"role": "user", "content": "hi"}],
        params={"max_tokens": 100},
    )
    cfg = parse_config(CONFIG).route(route)
    assert cfg is not None
    data: dict[str, Any] = {
        "request_id": "r1",
        "request": request,
        "classification": Classification(score=0.1, tier="simple", task_type="chat"),
        "route": route,
        "candidates": [cfg.primary, *cfg.fallbacks],
    }
    data.update(over)
    return DispatchEvent.model_validate(data)


def step(model: str) -> EscalationStep:
    return EscalationStep(model=model, call_id=f"c-{model}", check="empty", detail="", cost_usd=0)


def judge(ev: DispatchEvent, config: GatewayConfig, result: ProviderResult = EMPTY) -> Any:
    return review(ev, result, Decimal("0.001"), "call-1", config, utcnow(), streamed=False)


def test_verdicts(config: GatewayConfig) -> None:
    assert judge(event("plain"), config) is None
    assert isinstance(judge(event(), config, GOOD), Passed)
    streamed = review(event(), EMPTY, Decimal(0), "c", config, utcnow(), streamed=True)
    assert isinstance(streamed, Skipped)
    verdict = judge(event(), config)
    assert isinstance(verdict, Escalate)
    assert verdict.step == EscalationStep(
        model="cheap", call_id="call-1", check="empty", detail=verdict.step.detail,
        cost_usd=Decimal("0.001"),
    )  # fmt: skip
    nxt = verdict.next_event
    assert (nxt.model, nxt.attempt, nxt.escalations) == ("mid", 2, [verdict.step])


def test_max_attempts_counts_answers(config: GatewayConfig) -> None:
    second = event(candidate_index=1, attempt=2, escalations=[step("cheap")])
    assert isinstance(judge(second, config), Escalate)
    third = event(candidate_index=2, attempt=3, escalations=[step("cheap"), step("mid")])
    verdict = judge(third, config)
    assert isinstance(verdict, Exhausted) and verdict.why == "max_attempts=3 reached"
    assert verdict.on_exhausted == "respond"


def test_a_passed_deadline_keeps_the_answer_in_hand(config: GatewayConfig) -> None:
    verdict = judge(event(deadline_at=utcnow() - timedelta(seconds=1)), config)
    assert isinstance(verdict, Exhausted) and "deadline" in verdict.why


def test_next_model_by_default_follows_the_plan(config: GatewayConfig) -> None:
    policy = EscalationConfig()
    assert next_model(event(), policy, config) == "mid"
    assert next_model(event(candidate_index=1), policy, config) == "strong"
    assert next_model(event(candidate_index=2), policy, config) is None
    # A model that answered this request already is not asked again.
    again = event(candidates=["cheap", "mid", "cheap", "strong"], candidate_index=1)
    assert (
        next_model(again.model_copy(update={"escalations": [step("cheap")]}), policy, config)
        == "strong"
    )


def test_next_model_from_a_list_starts_after_the_current_one(config: GatewayConfig) -> None:
    policy = EscalationConfig(models=["mid", "strong"])
    assert next_model(event("listed"), policy, config) == "mid"  # cheap is not listed
    mid = event("listed", candidates=["cheap", "strong", "mid"], candidate_index=2)
    assert next_model(mid, policy, config) == "strong"
    strong = event("listed", candidate_index=1)
    assert next_model(strong, policy, config) is None


def test_next_model_skips_a_model_that_can_never_serve_the_request(
    config: GatewayConfig,
) -> None:
    record = AttemptRecord(
        attempt=1, model="mid", provider="a", error_kind="context_window", ended_at=utcnow()
    )
    transient = record.model_copy(update={"model": "strong", "error_kind": "server_error"})
    ev = event(history=[record, transient])
    assert next_model(ev, EscalationConfig(), config) == "strong"


def test_budget_rule(config: GatewayConfig) -> None:
    assert budget_refusal(event(tenant="acme"), "strong", config) is None  # no budgets
    budgeted = event(tenant="budgeted")
    # strong: 100 output tokens at 15 USD/M plus the prompt, about 0.0015 USD
    fits = budgeted.model_copy(update={"admission": AdmissionMark(reserved_usd=Decimal("0.01"))})
    assert budget_refusal(fits, "strong", config) is None
    tight = budgeted.model_copy(update={"admission": AdmissionMark(reserved_usd=Decimal("0.0005"))})
    refused = budget_refusal(tight, "strong", config)
    assert refused is not None and "reserved" in refused
    assert budget_refusal(tight, "cheap", config) is None
    downgraded = fits.model_copy(
        update={
            "admission": AdmissionMark(
                reserved_usd=Decimal("1"), downgraded=True, downgrade_reason="soft budget day"
            )
        }
    )
    assert "downgraded" in (budget_refusal(downgraded, "strong", config) or "")
    assert budget_refusal(budgeted, "cheap", config) is not None  # nothing reserved


def test_config_names_the_unknown_model() -> None:
    bad = CONFIG.replace("models: [mid, strong]", "models: [mid, gpt-9]")
    with pytest.raises(ConfigError, match=r"routes\[1\]\.escalation\.models\[1\]: unknown model"):
        parse_config(bad)


@pytest.mark.parametrize(
    ("escalation", "match"),
    [
        ("{max_attempts: 1}", "max_attempts"),
        ("{checks: [empty, empty]}", r"checks\[1\]: 'empty' is listed twice"),
        ("{checks: [emptiness]}", "checks"),
        ("{on_exhausted: ignore}", "on_exhausted"),
    ],
)
def test_config_rejects_bad_settings(escalation: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        parse_config(CONFIG.replace("escalation: {max_attempts: 3}", f"escalation: {escalation}"))


def test_a_route_with_nothing_to_escalate_to_is_a_config_error() -> None:
    text = CONFIG.replace(
        "  - name: plain\n    primary: cheap\n",
        "  - name: plain\n    primary: cheap\n    escalation: {}\n",
    )
    with pytest.raises(
        ConfigError, match=r"routes\[2\]\.escalation\.models: the route has no fallbacks"
    ):
        parse_config(text)
