"""Dispatch's gate without a broker: open breakers and refusing limits skip a candidate."""

from __future__ import annotations

from typing import Any

import pytest

from schemas.config import BreakerConfig, GatewayConfig
from schemas.events import Classification, DispatchEvent, LLMRequest
from schemas.health import HealthRecord, deployment_key
from streams.candidate_gate import CandidateGate, Go, Hold
from streams.health import HealthBoard
from streams.provider_limiter import ProviderLimiter

BREAKER = BreakerConfig(consecutive_failures=2, cooldown_s=4, probe_calls=1)


def _config(**extra: Any) -> GatewayConfig:
    model = {"provider": "emu", "input_per_mtok": "1", "output_per_mtok": "2"}
    return GatewayConfig.model_validate(
        {
            "providers": {
                "emu": {"format": "openai", "base_url": "http://127.0.0.1:1/v1"},
                "other": {"format": "openai", "base_url": "http://127.0.0.1:2/v1"},
            },
            "models": {
                "a": {**model, "upstream": "a", "context_window": 100_000},
                "b": {**model, "upstream": "b", "context_window": 100_000},
                "c": {**model, "provider": "other", "upstream": "c", "context_window": 100_000},
            },
            "routes": [{"name": "r", "primary": "a", "fallbacks": ["b", "c"]}],
            **extra,
        }
    )


def _event(**over: Any) -> DispatchEvent:
    request = LLMRequest(
        request_id="r-1", tenant="acme", messages=[{"role": "user", "content": "hello"}]
    )
    return DispatchEvent(
        request_id="r-1",
        request=request,
        classification=Classification(score=0.1, tier="simple", task_type="chat"),
        route="r",
        candidates=["a", "b", "c"],
        **over,
    )


async def _ignore(record: HealthRecord) -> None:
    return None


def _board() -> HealthBoard:
    return HealthBoard("127.0.0.1:1", "llm.health", _ignore, BREAKER, writer="me")


def _open(board: HealthBoard, model: str) -> None:
    for _ in range(BREAKER.consecutive_failures):
        board.record(deployment_key("emu" if model != "c" else "other", model), False)


async def test_an_open_breaker_skips_to_the_next_candidate_with_a_record() -> None:
    board = _board()
    _open(board, "a")
    decision = await CandidateGate(_config(), board).choose(_event())
    assert isinstance(decision, Go)
    assert decision.event.model == "b" and decision.event.candidate_index == 1
    assert decision.event.model_attempt == 1 and decision.event.attempt == 1
    assert [(h.model, h.error_kind) for h in decision.event.history] == [("a", "breaker_open")]
    [row] = decision.skipped
    assert (row.model, row.outcome, row.error_kind) == ("a", "skipped", "breaker_open")
    assert row.call_id == "r-1:1:a:skipped"


async def test_a_closed_breaker_changes_nothing() -> None:
    event = _event()
    decision = await CandidateGate(_config(), _board()).choose(event)
    assert isinstance(decision, Go) and decision.event is event and decision.skipped == []


async def test_every_candidate_refused_holds_until_the_soonest_reopening() -> None:
    board = _board()
    for model in ("a", "b", "c"):
        _open(board, model)
    decision = await CandidateGate(_config(), board).choose(_event())
    assert isinstance(decision, Hold)
    assert 0.5 <= decision.retry_in_s <= BREAKER.cooldown_s
    assert [u.model for u in decision.skipped] == ["a", "b", "c"]
    assert decision.event.candidate_index == 0  # held as it came: no attempt spent


@pytest.mark.parametrize("on_limit", ["next_model"])
async def test_a_provider_limit_without_a_slot_moves_on(on_limit: str) -> None:
    limits = {"emu": {"rpm": 60, "burst_s": 1, "on_limit": on_limit}}
    config = _config(provider_limits=limits)
    now = [100.0]
    limiter = ProviderLimiter(config, clock=lambda: now[0])
    limiter.on_assigned(4, 4)
    now[0] += 1.0  # buckets start empty at an assignment: one second refills one call
    gate = CandidateGate(config, None, limiter)
    first = await gate.choose(_event())
    assert isinstance(first, Go) and first.event.model == "a"
    # The bucket held one call: a and b (same provider) refuse, c (another provider) goes.
    second = await gate.choose(_event())
    assert isinstance(second, Go) and second.event.model == "c"
    assert [(u.model, u.error_kind) for u in second.skipped] == [
        ("a", "provider_limited"),
        ("b", "provider_limited"),
    ]
