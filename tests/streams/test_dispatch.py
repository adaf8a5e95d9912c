"""The dispatcher with a recording publisher, a ledger that is not reading any broker, and
the in-process emulator as the provider: what it publishes for each kind of attempt, and
when it must not call the provider at all."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from adapters.http_client import make_http_client
from emulator.profile import EmulatorConfig, FaultProfile
from emulator.server import RunningEmulator
from schemas.base import Event, utcnow
from schemas.config import GatewayConfig
from schemas.events import (
    Classification,
    DeadLetter,
    DispatchEvent,
    LLMRequest,
    LLMResponse,
    RetryEvent,
    UsageEvent,
)
from streams.dispatch import Dispatcher
from streams.model_client import ModelClient
from streams.outcome_ledger import OutcomeLedger
from tests.emulated import StartEmulator, start_emulator  # noqa: F401
from tests.streams.recording import RecordingPublisher, ready_ledger

KEY = "test-key"


def _config(emulator: RunningEmulator) -> GatewayConfig:
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
                    "input_per_mtok": "1",
                    "output_per_mtok": "2",
                    "context_window": 100_000,
                }
                for name in ("small", "flaky")
            },
            "routes": [
                {
                    "name": "default",
                    "primary": "small",
                    "retry": {"deadline_s": 60, "backoff_max_s": 1},
                },
                {"name": "flaky", "primary": "flaky", "retry": {"deadline_s": 60}},
            ],
        }
    )


def _event(route: str = "default", model: str = "small", **over: Any) -> DispatchEvent:
    request = LLMRequest(
        request_id=over.pop("request_id", "r-1"),
        tenant="acme",
        messages=[{"role": "user", "content": "hello"}],
    )
    return DispatchEvent(
        request_id=request.request_id,
        request=request,
        classification=Classification(score=0.1, tier="simple", task_type="chat"),
        route=route,
        candidates=[model],
        **over,
    )


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    client = make_http_client()
    yield client
    await client.aclose()


@pytest.fixture
async def emulator(start_emulator: StartEmulator) -> RunningEmulator:  # noqa: F811
    profiles = {"flaky": FaultProfile(error_rates={500: 1.0})}
    return await start_emulator(EmulatorConfig(models=profiles))


async def _calls(http: httpx.AsyncClient, emulator: RunningEmulator) -> int:
    stats = (await http.get(f"{emulator.base_url}/_emulator/stats")).json()
    return int(stats["requests"])


@pytest.fixture
def parts(
    emulator: RunningEmulator, http: httpx.AsyncClient
) -> tuple[Dispatcher, RecordingPublisher, OutcomeLedger]:
    config = _config(emulator)
    publisher = RecordingPublisher()
    ledger = ready_ledger()
    models = ModelClient(config, http, env={"EMU_KEY": KEY})
    return Dispatcher(config, models, publisher, ledger), publisher, ledger  # type: ignore[arg-type]


async def test_success_publishes_started_and_completed_usage_and_one_response(
    parts: tuple[Dispatcher, RecordingPublisher, OutcomeLedger],
) -> None:
    dispatcher, publisher, ledger = parts
    await dispatcher.handle(_event().to_bytes())

    usage: list[UsageEvent] = publisher.on("llm.usage")
    assert [u.outcome for u in usage] == ["started", "success"]
    assert usage[0].call_id == usage[1].call_id
    # The started row reached the broker before the call was made.
    assert publisher.sent[0][0] == "llm.usage"
    responses: list[LLMResponse] = publisher.on("llm.responses")
    assert [r.request_id for r in responses] == ["r-1"]
    assert ledger.answered("r-1")


async def test_an_answered_request_is_never_sent_to_the_provider(
    parts: tuple[Dispatcher, RecordingPublisher, OutcomeLedger],
    http: httpx.AsyncClient,
    emulator: RunningEmulator,
) -> None:
    dispatcher, publisher, _ = parts
    await dispatcher.handle(_event().to_bytes())
    calls = await _calls(http, emulator)
    # A replay of the same attempt, then a forked next attempt of the same request.
    await dispatcher.handle(_event().to_bytes())
    await dispatcher.handle(_event(attempt=2).to_bytes())
    assert await _calls(http, emulator) == calls == 1
    assert len(publisher.on("llm.responses")) == 1
    assert dispatcher.dropped_answered == 2


async def test_an_attempt_already_started_here_is_a_fork_and_is_dropped(
    parts: tuple[Dispatcher, RecordingPublisher, OutcomeLedger],
    http: httpx.AsyncClient,
    emulator: RunningEmulator,
) -> None:
    dispatcher, publisher, _ = parts
    # Attempt 3 of r-2 fails (500) and schedules attempt 4; a forked copy of attempt 3
    # arriving afterwards must not call again.
    await dispatcher.handle(_event("flaky", "flaky", request_id="r-2", attempt=3).to_bytes())
    await dispatcher.handle(_event("flaky", "flaky", request_id="r-2", attempt=3).to_bytes())
    assert await _calls(http, emulator) == 1
    assert dispatcher.dropped_forks == 1
    retries: list[RetryEvent] = publisher.on("llm.retry")
    assert [r.dispatch.attempt for r in retries] == [4]
    assert [h.error_kind for h in retries[0].dispatch.history] == ["unavailable"]


async def test_a_passed_deadline_is_a_dead_letter_with_the_history_and_no_call(
    parts: tuple[Dispatcher, RecordingPublisher, OutcomeLedger],
    http: httpx.AsyncClient,
    emulator: RunningEmulator,
) -> None:
    dispatcher, publisher, ledger = parts
    ev = _event(request_id="r-3", deadline_at=utcnow() - timedelta(seconds=1))
    await dispatcher.handle(ev.to_bytes())
    assert await _calls(http, emulator) == 0
    letters: list[DeadLetter] = publisher.on("llm.dlq")
    assert [(d.request_id, d.reason) for d in letters] == [("r-3", "deadline_exceeded")]
    assert publisher.on("llm.usage") == []
    assert ledger.answered("r-3")


async def test_an_outcome_found_meanwhile_suppresses_ours_but_keeps_the_usage_row(
    parts: tuple[Dispatcher, RecordingPublisher, OutcomeLedger],
) -> None:
    dispatcher, publisher, ledger = parts
    original = publisher.send

    async def send_then_answer_elsewhere(topic: str, event: Event, key: str | None) -> None:
        await original(topic, event, key)
        if isinstance(event, UsageEvent) and event.outcome == "started":
            # Another copy of r-4 is answered while this call is in flight.
            async def nothing() -> None:
                return None

            assert await ledger.settle("r-4", nothing())

    publisher.send = send_then_answer_elsewhere  # type: ignore[method-assign]
    await dispatcher.handle(_event(request_id="r-4").to_bytes())
    assert publisher.on("llm.responses") == []
    assert [u.outcome for u in publisher.on("llm.usage")] == ["started", "success"]
    assert ledger.suppressed == 1


async def test_a_failed_outcome_publish_is_not_mistaken_for_a_fork_when_run_again(
    parts: tuple[Dispatcher, RecordingPublisher, OutcomeLedger],
    http: httpx.AsyncClient,
    emulator: RunningEmulator,
) -> None:
    dispatcher, publisher, ledger = parts
    publisher.failures["llm.responses"] = 1
    raw = _event(request_id="r-5").to_bytes()
    with pytest.raises(ConnectionError):
        await dispatcher.handle(raw)
    assert not ledger.answered("r-5")  # the claim was given back
    await dispatcher.handle(raw)  # what the window does with a failed handler
    assert [r.request_id for r in publisher.on("llm.responses")] == ["r-5"]
    assert await _calls(http, emulator) == 2  # the price of the failure: one more call
