"""The consensus fan-out inside dispatch, with the in-process emulator as every provider
(each model a fixed answer) and a recording publisher: the answer chosen, who agreed, and
one usage pair per call, cancelled and judge calls included."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from adapters.http_client import make_http_client
from emulator.profile import EmulatorConfig, FaultProfile, FixedLatency
from emulator.server import RunningEmulator
from schemas.admission import SpendEvent
from schemas.base import Event
from schemas.config import GatewayConfig
from schemas.events import (
    Classification,
    DispatchEvent,
    LLMRequest,
    LLMResponse,
    RetryEvent,
    UsageEvent,
)
from streams.dispatch import Dispatcher
from streams.model_client import ModelClient
from tests.emulated import StartEmulator, start_emulator  # noqa: F401
from tests.streams.recording import RecordingPublisher, ready_ledger

KEY = "test-key"
MODELS = ("a", "b", "c", "judge", "solo")


def _profile(answer: str | None, ms: float = 0, **more: Any) -> FaultProfile:
    return FaultProfile(answer=answer, latency=FixedLatency(ms=ms), **more)


def _config(emulator: RunningEmulator, consensus: dict[str, Any], **extra: Any) -> GatewayConfig:
    return GatewayConfig.model_validate(
        {
            "providers": {
                "emu": {
                    "format": "openai",
                    "base_url": f"{emulator.base_url}/v1",
                    "api_key_env": "EMU_KEY",
                    "timeout_s": 10,
                }
            },
            "models": {
                name: {
                    "provider": "emu",
                    "upstream": name,
                    "input_per_mtok": "1",
                    "output_per_mtok": "2",
                    "context_window": 100_000,
                }
                for name in MODELS
            },
            "routes": [
                {
                    "name": "voting",
                    "primary": "solo",
                    "retry": {"deadline_s": 60},
                    "consensus": consensus,
                }
            ],
            **extra,
        }
    )


def _event(**request: Any) -> DispatchEvent:
    req = LLMRequest(
        request_id="r-1",
        tenant="acme",
        messages=[{"role": "user", "content": "What is 6 x 7?"}],
        **request,
    )
    return DispatchEvent(
        request_id=req.request_id,
        request=req,
        classification=Classification(score=0.1, tier="simple", task_type="math"),
        route="voting",
        candidates=["solo"],
    )


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    client = make_http_client()
    yield client
    await client.aclose()


Run = tuple[RecordingPublisher, GatewayConfig]


@pytest.fixture
def run(
    start_emulator: StartEmulator,  # noqa: F811
    http: httpx.AsyncClient,
) -> Any:
    async def _run(
        profiles: dict[str, FaultProfile],
        consensus: dict[str, Any],
        event: DispatchEvent | None = None,
        publisher: RecordingPublisher | None = None,
        **extra: Any,
    ) -> tuple[RecordingPublisher, RunningEmulator]:
        emulator = await start_emulator(EmulatorConfig(models=profiles))
        config = _config(emulator, consensus, **extra)
        publisher = publisher or RecordingPublisher()
        models = ModelClient(config, http, env={"EMU_KEY": KEY})
        dispatcher = Dispatcher(config, models, publisher, ready_ledger())  # type: ignore[arg-type]
        await dispatcher.handle((event or _event()).to_bytes())
        return publisher, emulator

    return _run


def _usage(publisher: RecordingPublisher) -> list[UsageEvent]:
    return publisher.on("llm.usage")


def _completions(publisher: RecordingPublisher) -> dict[str, UsageEvent]:
    return {u.model: u for u in _usage(publisher) if u.outcome != "started"}


def _assert_pairs(publisher: RecordingPublisher) -> None:
    """Each call: one started row, published before its one completion row."""
    rows = _usage(publisher)
    starts = [u.call_id for u in rows if u.outcome == "started"]
    ends = [u.call_id for u in rows if u.outcome != "started"]
    assert sorted(starts) == sorted(ends) and len(set(starts)) == len(starts)
    for call_id in starts:
        outcomes = [u.outcome for u in rows if u.call_id == call_id]
        assert outcomes[0] == "started" and len(outcomes) == 2


async def _calls(http: httpx.AsyncClient, emulator: RunningEmulator) -> dict[str, int]:
    stats = (await http.get(f"{emulator.base_url}/_emulator/stats")).json()
    return {m: int(v["requests"]) for m, v in stats["models"].items()}


async def test_majority_answers_with_the_agreeing_models_and_bills_every_call(
    run: Any, http: httpx.AsyncClient
) -> None:
    profiles = {"a": _profile("41"), "b": _profile("The answer is 42."), "c": _profile("42.0")}
    publisher, emulator = await run(profiles, {"models": ["a", "b", "c"]})

    [response] = publisher.on("llm.responses")
    assert isinstance(response, LLMResponse)
    assert (response.content, response.model) == ("The answer is 42.", "b")
    outcome = response.consensus
    assert outcome is not None
    assert (outcome.strategy, outcome.asked, outcome.answered) == (
        "majority",
        ["a", "b", "c"],
        ["a", "b", "c"],
    )
    assert (outcome.agreed, outcome.chosen, outcome.decided, outcome.failed) == (
        ["b", "c"],
        "b",
        True,
        [],
    )
    _assert_pairs(publisher)
    done = _completions(publisher)
    assert {m: u.outcome for m, u in done.items()} == dict.fromkeys("abc", "success")
    # a, first in order and let through, leads: its rows alone make the request count.
    assert {(u.model, u.purpose) for u in _usage(publisher)} == {
        ("a", "consensus_lead"),
        ("b", "consensus"),
        ("c", "consensus"),
    }
    assert response.cost_usd == sum((u.cost_usd for u in done.values()), Decimal(0)) > 0
    # The response's token usage is the chosen call's.
    assert response.usage.output_tokens == done["b"].output_tokens
    # The route's own primary was never called.
    assert await _calls(http, emulator) == {"a": 1, "b": 1, "c": 1}


async def test_below_min_agree_the_plurality_answers_flagged(run: Any) -> None:
    profiles = {"a": _profile("1"), "b": _profile("2"), "c": _profile("3")}
    publisher, _ = await run(profiles, {"models": ["c", "b", "a"]})
    [response] = publisher.on("llm.responses")
    outcome = response.consensus
    # No two agree: the first model in the configured order answers.
    assert (response.content, outcome.chosen, outcome.agreed) == ("3", "c", ["c"])
    assert outcome.decided is False and "min_agree=2" in outcome.note


async def test_first_valid_takes_the_first_good_answer_and_cancels_the_rest(
    run: Any, http: httpx.AsyncClient
) -> None:
    profiles = {
        "a": _profile("", ms=0),  # first, but empty
        "b": _profile("42", ms=150),
        "c": _profile("42", ms=8000),  # still running when b's answer passes
    }
    t0 = time.monotonic()
    publisher, emulator = await run(
        profiles, {"models": ["a", "b", "c"], "strategy": "first_valid"}
    )
    assert time.monotonic() - t0 < 5  # c was not waited for

    [response] = publisher.on("llm.responses")
    outcome = response.consensus
    assert (response.content, outcome.chosen, outcome.answered) == ("42", "b", ["a", "b"])
    assert [(m.model, m.reason) for m in outcome.rejected] == [("a", "empty")]
    assert outcome.cancelled == ["c"] and outcome.decided
    done = _completions(publisher)
    assert (done["a"].outcome, done["a"].quality_failure) == ("success", "empty")
    assert (done["b"].outcome, done["b"].quality_failure) == ("success", "")
    assert (done["c"].outcome, done["c"].error_kind, done["c"].cost_usd) == (
        "error",
        "cancelled",
        Decimal(0),
    )
    _assert_pairs(publisher)
    assert response.cost_usd == done["a"].cost_usd + done["b"].cost_usd
    assert (await _calls(http, emulator))["c"] == 1  # the cancelled call was made


class SlowSuccessRows(RecordingPublisher):
    """Publishes one model's success rows late, as a slow broker would."""

    def __init__(self, model: str, delay_s: float) -> None:
        super().__init__()
        self.model = model
        self.delay_s = delay_s

    async def send(self, topic: str, event: Event, key: str | None) -> None:
        if isinstance(event, UsageEvent) and (event.model, event.outcome) == (
            self.model,
            "success",
        ):
            await asyncio.sleep(self.delay_s)
        await super().send(topic, event, key)


async def test_a_call_that_returned_is_not_cancelled_while_its_row_is_published(
    run: Any,
) -> None:
    profiles = {
        "a": _profile("", ms=0),  # answered first; its row is still on the way ...
        "b": _profile("42", ms=100),  # ... when this answer passes
        "c": _profile("42", ms=8000),
    }
    slow = SlowSuccessRows("a", delay_s=0.5)
    consensus = {"models": ["a", "b", "c"], "strategy": "first_valid"}
    publisher, _ = await run(profiles, consensus, publisher=slow)
    [response] = publisher.on("llm.responses")
    outcome = response.consensus
    assert (outcome.chosen, outcome.answered, outcome.cancelled) == ("b", ["a", "b"], ["c"])
    assert [(m.model, m.reason) for m in outcome.rejected] == [("a", "empty")]
    assert [u.outcome for u in _usage(publisher) if u.model == "a"] == ["started", "success"]
    _assert_pairs(publisher)


async def test_first_valid_without_a_valid_answer_responds_flagged(run: Any) -> None:
    profiles = {"a": _profile("", ms=0), "b": _profile("", ms=50)}
    publisher, _ = await run(profiles, {"models": ["a", "b"], "strategy": "first_valid"})
    [response] = publisher.on("llm.responses")
    outcome = response.consensus
    assert (response.content, outcome.chosen, outcome.decided) == ("", "a", False)
    assert outcome.note == "no answer passed the checks (a: empty; b: empty)"


async def test_the_judge_picks_with_one_more_usage_pair(run: Any) -> None:
    profiles = {
        "a": _profile("42"),
        "b": _profile("42"),
        "c": _profile("41"),
        "judge": _profile("The best is #3"),
    }
    consensus = {"models": ["a", "b", "c"], "strategy": "judge", "judge_model": "judge"}
    publisher, _ = await run(profiles, consensus)

    [response] = publisher.on("llm.responses")
    outcome = response.consensus
    assert (response.content, outcome.chosen, outcome.agreed, outcome.judge) == (
        "41",
        "c",
        ["c"],
        "judge",
    )
    assert outcome.decided and outcome.answered == ["a", "b", "c"]
    _assert_pairs(publisher)
    done = _completions(publisher)
    assert done["judge"].purpose == "judge" and done["judge"].outcome == "success"
    assert Counter(u.purpose for u in done.values()) == {
        "consensus_lead": 1,
        "consensus": 2,
        "judge": 1,
    }
    assert response.cost_usd == sum((u.cost_usd for u in done.values()), Decimal(0))


async def test_an_unreadable_judge_falls_back_to_majority(run: Any) -> None:
    profiles = {
        "a": _profile("41"),
        "b": _profile("42"),
        "c": _profile("42"),
        "judge": _profile("They all look fine to me."),
    }
    consensus = {"models": ["a", "b", "c"], "strategy": "judge", "judge_model": "judge"}
    publisher, _ = await run(profiles, consensus)
    [response] = publisher.on("llm.responses")
    outcome = response.consensus
    assert (response.content, outcome.chosen, outcome.agreed, outcome.decided) == (
        "42",
        "b",
        ["b", "c"],
        False,
    )
    assert "names no single answer" in outcome.note and "majority used" in outcome.note


async def test_a_failed_judge_call_is_billed_as_an_error_and_majority_picks(run: Any) -> None:
    profiles = {
        "a": _profile("1"),
        "b": _profile("2"),
        "judge": _profile("1", error_rates={500: 1.0}),
    }
    consensus = {"models": ["a", "b"], "strategy": "judge", "judge_model": "judge"}
    publisher, _ = await run(profiles, consensus)
    [response] = publisher.on("llm.responses")
    assert response.consensus.note.startswith("the judge call failed (unavailable)")
    assert _completions(publisher)["judge"].outcome == "error"
    _assert_pairs(publisher)


async def test_no_judge_call_when_every_answer_agrees(run: Any, http: httpx.AsyncClient) -> None:
    profiles = {"a": _profile("42"), "b": _profile("42.0"), "judge": _profile("2")}
    consensus = {"models": ["a", "b"], "strategy": "judge", "judge_model": "judge"}
    publisher, emulator = await run(profiles, consensus)
    [response] = publisher.on("llm.responses")
    assert response.consensus.note == "every answer agrees: the judge was not asked"
    assert "judge" not in await _calls(http, emulator)
    assert "judge" not in _completions(publisher)


async def test_a_failed_voter_is_named_and_left_out(run: Any) -> None:
    profiles = {
        "a": _profile("42"),
        "b": _profile("42", error_rates={503: 1.0}),
        "c": _profile("41"),
    }
    publisher, _ = await run(profiles, {"models": ["a", "b", "c"], "min_agree": 1})
    [response] = publisher.on("llm.responses")
    outcome = response.consensus
    assert (outcome.answered, outcome.chosen, outcome.agreed) == (["a", "c"], "a", ["a"])
    assert [(m.model, m.reason) for m in outcome.failed] == [("b", "unavailable")]
    assert _completions(publisher)["b"].outcome == "error"
    _assert_pairs(publisher)


async def test_when_every_call_fails_the_attempt_fails_like_one_call(run: Any) -> None:
    profiles = {m: _profile("x", error_rates={503: 1.0}) for m in ("a", "b")}
    publisher, _ = await run(profiles, {"models": ["a", "b"]})
    assert publisher.on("llm.responses") == []
    [retry] = publisher.on("llm.retry")
    assert isinstance(retry, RetryEvent)
    assert retry.last_error is not None and retry.last_error.kind == "unavailable"
    assert [h.error_kind for h in retry.dispatch.history] == ["unavailable"]
    _assert_pairs(publisher)  # both error rows are out, once each
    assert {u.outcome for u in _completions(publisher).values()} == {"error"}


async def test_a_streamed_request_skips_consensus_and_says_so(
    run: Any, http: httpx.AsyncClient
) -> None:
    profiles = {"a": _profile("42"), "b": _profile("42"), "solo": _profile("7")}
    publisher, emulator = await run(profiles, {"models": ["a", "b"]}, _event(stream=True))
    [response] = publisher.on("llm.responses")
    assert (response.model, response.content) == ("solo", "7")
    outcome = response.consensus
    assert outcome is not None and outcome.skipped == "streamed"
    assert (outcome.chosen, outcome.decided) == ("solo", False)
    assert await _calls(http, emulator) == {"solo": 1}
    assert {u.purpose for u in _usage(publisher)} == {""}


async def test_a_tenant_with_budgets_is_charged_for_every_call(run: Any) -> None:
    profiles = {"a": _profile("41"), "b": _profile("42"), "c": _profile("42")}
    admission = {"default": {"budgets": [{"period": "day", "limit_usd": "100"}]}}
    publisher, _ = await run(profiles, {"models": ["a", "b", "c"]}, admission=admission)
    spends: list[SpendEvent] = publisher.on("llm.admission")
    billed = {u.call_id: u.cost_usd for u in _completions(publisher).values()}
    assert {s.call_id: s.cost_usd for s in spends if not s.final} == billed
    [final] = [s for s in spends if s.final]
    assert (final.call_id, final.cost_usd) == ("", Decimal(0))  # releases the reservation only
    # Every spend goes before the outcome.
    topics = [t for t, _, _ in publisher.sent]
    assert topics.index("llm.responses") > max(
        i for i, t in enumerate(topics) if t == "llm.admission"
    )
