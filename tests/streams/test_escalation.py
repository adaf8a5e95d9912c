"""Escalation in dispatch, with a recording publisher and the in-process emulator as the
provider: the rejected answer's batch, the escalated answer's response and usage rows,
the bounds (max_attempts, no model left, deadline) and on_exhausted."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from adapters.http_client import make_http_client
from emulator.profile import EmulatorConfig, FaultProfile, FixedLatency
from emulator.server import RunningEmulator
from schemas.base import utcnow
from schemas.config import GatewayConfig
from schemas.events import (
    AdmissionMark,
    Classification,
    DeadLetter,
    DispatchEvent,
    LLMRequest,
    UsageEvent,
)
from streams.dispatch import Dispatcher
from streams.model_client import ModelCall, ModelClient
from tests.emulated import StartEmulator, start_emulator  # noqa: F401
from tests.streams.recording import RecordingPublisher, ready_ledger

MODELS = ("cheap", "mid", "strong")


def config_for(emulator: RunningEmulator, **route: Any) -> GatewayConfig:
    admission = route.pop("_admission", {})
    prices = {"cheap": ("0.15", "0.60"), "mid": ("1", "4"), "strong": ("2.50", "10")}
    return GatewayConfig.model_validate(
        {
            "providers": {
                "emu": {
                    "format": "openai",
                    "base_url": f"{emulator.base_url}/v1",
                    "api_key_env": "EMU_KEY",
                    "timeout_s": 5,
                }
            },
            "models": {
                name: {
                    "provider": "emu",
                    "upstream": name,
                    "input_per_mtok": prices[name][0],
                    "output_per_mtok": prices[name][1],
                    "context_window": 100_000,
                }
                for name in MODELS
            },
            "routes": [
                {
                    "name": "default",
                    "primary": "cheap",
                    "fallbacks": ["strong"],
                    "retry": {"deadline_s": 60, "backoff_max_s": 0.1},
                    "escalation": {},
                    **route,
                },
                {"name": "plain", "primary": "cheap", "fallbacks": ["strong"]},
            ],
            "admission": admission,
        }
    )


def event(route: str = "default", **request: Any) -> DispatchEvent:
    req = LLMRequest(
        request_id=request.pop("request_id", "r-1"),
        tenant="acme",
        messages=[{"role": "user", "content": "what is the capital of France"}],
        **request,
    )
    return DispatchEvent(
        request_id=req.request_id,
        request=req,
        classification=Classification(score=0.1, tier="simple", task_type="chat"),
        route=route,
        candidates=["cheap", "strong"],
    )


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    client = make_http_client()
    yield client
    await client.aclose()


class Stage:
    """A dispatcher over the emulator, fed by hand: each handled event's sends recorded."""

    def __init__(self, config: GatewayConfig, http: httpx.AsyncClient) -> None:
        self.publisher = RecordingPublisher()
        self.ledger = ready_ledger()
        models = ModelClient(config, http, env={"EMU_KEY": "k"})
        self.dispatcher = Dispatcher(config, models, self.publisher, self.ledger)  # type: ignore[arg-type]

    async def run(self, ev: DispatchEvent, limit: int = 5) -> None:
        """Handle ``ev`` and every dispatch event it leads to, in order."""
        queue = [ev]
        for _ in range(limit):
            if not queue:
                return
            seen = len(self.publisher.on("llm.dispatch"))
            await self.dispatcher.handle(queue.pop(0).to_bytes())
            queue.extend(self.publisher.on("llm.dispatch")[seen:])
        raise AssertionError("more dispatch events than expected")

    def completions(self) -> list[UsageEvent]:
        return [u for u in self.publisher.on("llm.usage") if u.outcome != "started"]


async def stage_with(
    start: StartEmulator, http: httpx.AsyncClient, profiles: dict[str, FaultProfile], **route: Any
) -> Stage:
    emulator = await start(EmulatorConfig(models=profiles))
    return Stage(config_for(emulator, **route), http)


EMPTY = FaultProfile(empty_rate=1.0)
BROKEN_JSON = FaultProfile(invalid_json_rate=1.0)
# A call this long outlives a deadline set at half of it from the call's start.
SLOW_MS = 400


async def test_an_empty_answer_is_escalated_in_one_batch_and_answered_by_the_strong_model(
    start_emulator: StartEmulator,  # noqa: F811
    http: httpx.AsyncClient,
) -> None:
    stage = await stage_with(start_emulator, http, {"cheap": EMPTY})
    await stage.dispatcher.handle(event().to_bytes())

    # The rejected call: started + billed completion, then the next attempt; no outcome.
    sent = [(topic, type(ev).__name__) for topic, ev, _ in stage.publisher.sent]
    assert sent == [
        ("llm.usage", "UsageEvent"),
        ("llm.usage", "UsageEvent"),
        ("llm.dispatch", "DispatchEvent"),
    ]
    rejected = stage.completions()[0]
    assert (rejected.model, rejected.outcome, rejected.quality_failure) == (
        "cheap",
        "success",
        "empty",
    )
    assert rejected.cost_usd > 0 and not rejected.escalated
    [nxt] = stage.publisher.on("llm.dispatch")
    assert (nxt.model, nxt.attempt, nxt.model_attempt) == ("strong", 2, 1)
    [step] = nxt.escalations
    assert (step.model, step.check, step.call_id, step.cost_usd) == (
        "cheap",
        "empty",
        rejected.call_id,
        rejected.cost_usd,
    )

    await stage.dispatcher.handle(nxt.to_bytes())
    [response] = stage.publisher.on("llm.responses")
    strong = stage.completions()[1]
    assert response.model == "strong" and response.content
    assert response.escalated and response.escalations == [step]
    assert response.quality is not None and response.quality.outcome == "passed"
    assert response.cost_usd == rejected.cost_usd + strong.cost_usd
    assert response.attempts == 2
    assert (strong.escalated, strong.escalation_reason, strong.quality_failure) == (
        True,
        "empty",
        "",
    )
    # The strong call's started row says it too, so an interrupted call is still counted.
    started = [u for u in stage.publisher.on("llm.usage") if u.outcome == "started"]
    assert [u.escalated for u in started] == [False, True]


async def test_invalid_json_in_json_mode_is_escalated(
    start_emulator: StartEmulator,  # noqa: F811
    http: httpx.AsyncClient,
) -> None:
    stage = await stage_with(start_emulator, http, {"cheap": BROKEN_JSON})
    await stage.run(event(response_format={"type": "json_object"}))
    [response] = stage.publisher.on("llm.responses")
    assert response.model == "strong" and response.content.startswith("{")
    assert [s.check for s in response.escalations] == ["json"]
    assert [u.quality_failure for u in stage.completions()] == ["json", ""]


async def test_a_good_cheap_answer_is_not_escalated(
    start_emulator: StartEmulator,  # noqa: F811
    http: httpx.AsyncClient,
) -> None:
    stage = await stage_with(start_emulator, http, {})
    await stage.run(event())
    [response] = stage.publisher.on("llm.responses")
    assert response.model == "cheap" and not response.escalated
    assert response.quality is not None and response.quality.outcome == "passed"
    assert [u.quality_failure for u in stage.completions()] == [""]


async def test_a_route_without_escalation_runs_no_checks(
    start_emulator: StartEmulator,  # noqa: F811
    http: httpx.AsyncClient,
) -> None:
    stage = await stage_with(start_emulator, http, {"cheap": EMPTY})
    await stage.run(event("plain"))
    [response] = stage.publisher.on("llm.responses")
    assert (response.model, response.content, response.quality) == ("cheap", "", None)


@pytest.mark.parametrize("on_exhausted", ["respond", "dead_letter"])
async def test_max_attempts_bounds_the_chain_then_on_exhausted_decides(
    start_emulator: StartEmulator,  # noqa: F811
    http: httpx.AsyncClient,
    on_exhausted: str,
) -> None:
    escalation = {"models": ["mid", "strong"], "max_attempts": 2, "on_exhausted": on_exhausted}
    profiles = {"cheap": EMPTY, "mid": FaultProfile(refusal_rate=1.0), "strong": EMPTY}
    stage = await stage_with(start_emulator, http, profiles, escalation=escalation)
    await stage.run(event())

    usage = stage.completions()
    assert [(u.model, u.quality_failure) for u in usage] == [("cheap", "empty"), ("mid", "refusal")]
    total = sum((u.cost_usd for u in usage), Decimal(0))
    if on_exhausted == "respond":
        [response] = stage.publisher.on("llm.responses")
        assert stage.publisher.on("llm.dlq") == []
        assert response.model == "mid" and response.escalated
        assert response.quality is not None
        assert (response.quality.outcome, response.quality.check) == ("failed", "refusal")
        assert "max_attempts=2" in response.quality.detail
        assert response.cost_usd == total
    else:
        [letter] = stage.publisher.on("llm.dlq")
        assert stage.publisher.on("llm.responses") == []
        assert isinstance(letter, DeadLetter) and letter.reason == "quality_failed"
        assert letter.detail.startswith("quality_failed after 2 answers: cheap empty, mid refusal")
    assert stage.ledger.answered("r-1")


async def test_escalation_stops_when_no_stronger_model_is_left(
    start_emulator: StartEmulator,  # noqa: F811
    http: httpx.AsyncClient,
) -> None:
    profiles = {"cheap": EMPTY, "strong": EMPTY}
    stage = await stage_with(start_emulator, http, profiles, escalation={"max_attempts": 5})
    await stage.run(event())
    assert [u.model for u in stage.completions()] == ["cheap", "strong"]
    [response] = stage.publisher.on("llm.responses")
    assert response.quality is not None and "no stronger model" in response.quality.detail


async def test_a_listed_model_outside_the_route_is_added_to_the_plan(
    start_emulator: StartEmulator,  # noqa: F811
    http: httpx.AsyncClient,
) -> None:
    escalation = {"models": ["mid"]}
    stage = await stage_with(start_emulator, http, {"cheap": EMPTY}, escalation=escalation)
    await stage.run(event())
    [nxt] = stage.publisher.on("llm.dispatch")
    assert nxt.candidates == ["cheap", "strong", "mid"] and nxt.model == "mid"
    [response] = stage.publisher.on("llm.responses")
    assert response.model == "mid"


async def test_a_streamed_request_is_not_checked_and_says_so(
    start_emulator: StartEmulator,  # noqa: F811
    http: httpx.AsyncClient,
) -> None:
    stage = await stage_with(start_emulator, http, {"cheap": EMPTY})
    await stage.run(event(stream=True))
    [response] = stage.publisher.on("llm.responses")
    assert response.model == "cheap" and not response.escalated
    assert response.quality is not None and response.quality.outcome == "skipped"
    assert "streamed" in response.quality.detail


async def test_no_escalation_past_the_deadline(
    start_emulator: StartEmulator,  # noqa: F811
    http: httpx.AsyncClient,
) -> None:
    slow_and_empty = FaultProfile(empty_rate=1.0, latency=FixedLatency(ms=SLOW_MS))
    stage = await stage_with(start_emulator, http, {"cheap": slow_and_empty})
    # Ahead when the call starts, passed by the time its answer is judged.
    deadline = utcnow() + timedelta(milliseconds=SLOW_MS / 2)
    await stage.run(event().model_copy(update={"deadline_at": deadline}))
    assert stage.publisher.on("llm.dlq") == []
    [response] = stage.publisher.on("llm.responses")
    assert response.model == "cheap"
    assert response.quality is not None and "deadline" in response.quality.detail


async def test_an_answered_request_gets_no_next_attempt(
    start_emulator: StartEmulator,  # noqa: F811
    http: httpx.AsyncClient,
) -> None:
    stage = await stage_with(start_emulator, http, {"cheap": EMPTY})
    ev = event()

    original = stage.dispatcher.models.complete

    async def answered_meanwhile(model: str, request: LLMRequest) -> ModelCall:
        call = await original(model, request)
        await stage.ledger.settle("r-1", _noop())
        return call

    stage.dispatcher.models.complete = answered_meanwhile  # type: ignore[method-assign,assignment]
    await stage.dispatcher.handle(ev.to_bytes())
    assert stage.publisher.on("llm.dispatch") == []
    assert [u.quality_failure for u in stage.completions()] == ["empty"]  # still billed


async def _noop() -> None:
    return None


BUDGET = {"tenants": {"acme": {"budgets": [{"period": "day", "limit_usd": "5"}]}}}


async def test_a_budgeted_tenant_escalates_within_its_reservation_and_spends_each_call(
    start_emulator: StartEmulator,  # noqa: F811
    http: httpx.AsyncClient,
) -> None:
    stage = await stage_with(start_emulator, http, {"cheap": EMPTY}, _admission=BUDGET)
    ev = event(params={"max_tokens": 64}).model_copy(update={"admission": _mark("1")})
    await stage.run(ev)
    spends = stage.publisher.on("llm.admission")
    usage = stage.completions()
    assert [(s.call_id, s.cost_usd, s.final) for s in spends] == [
        (usage[0].call_id, usage[0].cost_usd, False),
        (usage[1].call_id, usage[1].cost_usd, True),
    ]
    # The rejected call's spend went out with the next attempt, before any outcome.
    topics = [t for t, _, _ in stage.publisher.sent]
    assert (
        topics.index("llm.admission") < topics.index("llm.dispatch") < topics.index("llm.responses")
    )
    [response] = stage.publisher.on("llm.responses")
    assert response.model == "strong"


@pytest.mark.parametrize(
    ("mark", "why"),
    [
        ({"reserved_usd": "0.0000001"}, "above the"),
        ({"reserved_usd": "1", "downgraded": True, "downgrade_reason": "soft"}, "downgraded"),
    ],
)
async def test_the_budget_can_refuse_an_escalation(
    start_emulator: StartEmulator,  # noqa: F811
    http: httpx.AsyncClient,
    mark: dict[str, Any],
    why: str,
) -> None:
    stage = await stage_with(start_emulator, http, {"cheap": EMPTY}, _admission=BUDGET)
    ev = event(params={"max_tokens": 64}).model_copy(update={"admission": _mark(**mark)})
    await stage.run(ev)
    assert stage.publisher.on("llm.dispatch") == []
    [response] = stage.publisher.on("llm.responses")
    assert response.model == "cheap" and response.quality is not None
    assert response.quality.outcome == "failed" and why in response.quality.detail


def _mark(reserved_usd: str, **fields: Any) -> AdmissionMark:
    return AdmissionMark(reserved_usd=Decimal(reserved_usd), **fields)
