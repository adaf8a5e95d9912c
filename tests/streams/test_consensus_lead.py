"""The fan-out's lead voter: the one row per consensus request that analytics counts as
the request. Whatever happens to the voters, a fan-out that made any call has exactly one
lead: the first model in order the gate let through, whether its call answered, failed or
was cancelled. The emulator answers as every provider; a real breaker board refuses."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from adapters.http_client import make_http_client
from emulator.profile import EmulatorConfig, FaultProfile
from schemas.config import BreakerConfig
from schemas.events import UsageEvent
from schemas.health import HealthRecord, deployment_key
from streams.dispatch import Dispatcher
from streams.health import HealthBoard
from streams.model_client import ModelClient
from tests.emulated import StartEmulator, start_emulator  # noqa: F401
from tests.streams.recording import RecordingPublisher, ready_ledger
from tests.streams.test_dispatch_consensus import KEY, _config, _event, _profile

BREAKER = BreakerConfig(consecutive_failures=2, cooldown_s=60, probe_calls=1)


async def _ignore(record: HealthRecord) -> None:
    return None


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    client = make_http_client()
    yield client
    await client.aclose()


async def _fan_out(
    start: StartEmulator,
    http: httpx.AsyncClient,
    profiles: dict[str, FaultProfile],
    consensus: dict[str, Any],
    *,
    open_breakers: tuple[str, ...] = (),
) -> list[UsageEvent]:
    emulator = await start(EmulatorConfig(models=profiles))
    config = _config(emulator, consensus)
    board = HealthBoard("127.0.0.1:1", "llm.health", _ignore, BREAKER, writer="me")
    for model in open_breakers:
        for _ in range(BREAKER.consecutive_failures):
            board.record(deployment_key("emu", model), False)
    publisher = RecordingPublisher()
    models = ModelClient(config, http, env={"EMU_KEY": KEY})
    dispatcher = Dispatcher(config, models, publisher, ready_ledger(), health=board)  # type: ignore[arg-type]
    await dispatcher.handle(_event().to_bytes())
    return list(publisher.on("llm.usage"))


def _leads(rows: list[UsageEvent]) -> list[tuple[str, str, str]]:
    """(model, outcome, error_kind) of each lead row, started rows included."""
    return [(u.model, u.outcome, u.error_kind) for u in rows if u.purpose == "consensus_lead"]


async def test_a_refused_first_voter_passes_the_lead_to_the_first_one_called(
    start_emulator: StartEmulator,  # noqa: F811
    http: httpx.AsyncClient,
) -> None:
    profiles = {m: _profile("42") for m in ("a", "b", "c")}
    rows = await _fan_out(
        start_emulator, http, profiles, {"models": ["a", "b", "c"]}, open_breakers=("a",)
    )
    [skipped] = [u for u in rows if u.outcome == "skipped"]
    assert (skipped.model, skipped.error_kind, skipped.purpose) == (
        "a",
        "breaker_open",
        "consensus",
    )
    assert _leads(rows) == [("b", "started", ""), ("b", "success", "")]
    assert {u.purpose for u in rows if u.model == "c"} == {"consensus"}


async def test_a_failed_lead_still_stands_for_the_request(
    start_emulator: StartEmulator,  # noqa: F811
    http: httpx.AsyncClient,
) -> None:
    profiles = {
        "a": _profile("42", error_rates={503: 1.0}),
        "b": _profile("42"),
        "c": _profile("42"),
    }
    rows = await _fan_out(start_emulator, http, profiles, {"models": ["a", "b", "c"]})
    assert _leads(rows) == [("a", "started", ""), ("a", "error", "unavailable")]
    assert {(u.model, u.purpose) for u in rows if u.outcome == "success"} == {
        ("b", "consensus"),
        ("c", "consensus"),
    }


async def test_a_cancelled_lead_still_stands_for_the_request(
    start_emulator: StartEmulator,  # noqa: F811
    http: httpx.AsyncClient,
) -> None:
    profiles = {"a": _profile("42", ms=8000), "b": _profile("42", ms=0)}
    consensus = {"models": ["a", "b"], "strategy": "first_valid"}
    rows = await _fan_out(start_emulator, http, profiles, consensus)
    assert _leads(rows) == [("a", "started", ""), ("a", "error", "cancelled")]


async def test_when_every_voter_fails_the_lead_row_goes_out_once(
    start_emulator: StartEmulator,  # noqa: F811
    http: httpx.AsyncClient,
) -> None:
    profiles = {m: _profile("x", error_rates={503: 1.0}) for m in ("a", "b")}
    rows = await _fan_out(start_emulator, http, profiles, {"models": ["a", "b"]})
    # The lead's error is the one handed to the retry path; it is published there.
    assert _leads(rows) == [("a", "started", ""), ("a", "error", "unavailable")]
    assert sorted((u.model, u.purpose) for u in rows if u.outcome == "error") == [
        ("a", "consensus_lead"),
        ("b", "consensus"),
    ]


async def test_every_voter_refused_leaves_no_lead(
    start_emulator: StartEmulator,  # noqa: F811
    http: httpx.AsyncClient,
) -> None:
    profiles = {m: _profile("42") for m in ("a", "b")}
    rows = await _fan_out(
        start_emulator, http, profiles, {"models": ["a", "b"]}, open_breakers=("a", "b")
    )
    # Held for the retry stage: no call, no request counted yet; the next fan-out leads.
    assert {(u.model, u.outcome) for u in rows} == {("a", "skipped"), ("b", "skipped")}
    assert _leads(rows) == []
