"""Triage's plan: capability fit before any call, the strategy's order and arm on the event,
and a dead letter (with its usage row) when no model of the route can serve the request."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from schemas.config import GatewayConfig
from schemas.config_loader import parse_config
from schemas.events import DeadLetter, DispatchEvent, UsageEvent
from streams.triage import RecentIds, Rejected, Routed, TriageStage, triage
from tests.streams.recording import RecordingPublisher, ready_ledger

CONFIG = """
providers:
  oa: {format: openai, base_url: "http://127.0.0.1:1/v1"}
  px: {format: openai, preset: perplexity, base_url: "http://127.0.0.1:2"}
  an: {format: anthropic, base_url: "http://127.0.0.1:3"}
models:
  mini: {provider: oa, upstream: m, input_per_mtok: "0.15", output_per_mtok: "0.60",
         context_window: 128000}
  haiku: {provider: an, upstream: h, input_per_mtok: "0.80", output_per_mtok: "4",
          context_window: 200000}
  sonar: {provider: px, upstream: s, input_per_mtok: "1", output_per_mtok: "1",
          context_window: 127072}
routes:
  - {name: search, by_name_only: true, primary: sonar, fallbacks: [mini]}
  - {name: sonar-only, by_name_only: true, primary: sonar}
  - {name: ab, by_name_only: true, primary: mini, fallbacks: [haiku], strategy: weighted,
     weights: {mini: 7, haiku: 3}}
  - {name: rr, by_name_only: true, primary: mini, fallbacks: [haiku, sonar],
     strategy: round_robin}
  - {name: fast, by_name_only: true, primary: haiku, fallbacks: [mini], strategy: fastest,
     explore: 0}
  - {name: default, primary: mini, fallbacks: [haiku]}
"""
TOOL = {"name": "lookup", "description": "find a thing", "parameters": {"type": "object"}}


@pytest.fixture
def config() -> GatewayConfig:
    return parse_config(CONFIG)


def _raw(request_id: str = "r-1", **over: Any) -> bytes:
    data = {
        "request_id": request_id,
        "tenant": "acme",
        "messages": [{"role": "user", "content": "hello"}],
    }
    return orjson.dumps(data | over)


def _routed(raw: bytes, config: GatewayConfig, **kw: Any) -> DispatchEvent:
    outcome = triage(raw, config, RecentIds(10), **kw)
    assert isinstance(outcome, Routed), outcome
    return outcome.dispatch


def test_a_tool_request_goes_straight_to_a_model_with_tools(config: GatewayConfig) -> None:
    # sonar (Perplexity) takes no tools: it is not even a fallback, so no call can fail
    # with unsupported_feature.
    dispatch = _routed(_raw(route="search", tools=[TOOL]), config)
    assert (dispatch.route, dispatch.candidates, dispatch.model) == ("search", ["mini"], "mini")
    assert (dispatch.strategy, dispatch.arm) == ("priority", None)
    # Without tools the route is as configured.
    assert _routed(_raw(route="search"), config).candidates == ["sonar", "mini"]


def test_no_capable_model_is_a_dead_letter_with_a_usage_row(config: GatewayConfig) -> None:
    outcome = triage(_raw(route="sonar-only", tools=[TOOL]), config, RecentIds(10))
    assert isinstance(outcome, Rejected)
    letter = outcome.dead_letter
    assert (letter.request_id, letter.stage, letter.reason) == ("r-1", "triage", "no_capable_model")
    assert letter.detail == (
        "no model of route 'sonar-only' can serve this request: sonar: lacks tools"
    )
    usage = outcome.usage
    assert usage is not None
    assert (usage.outcome, usage.error_kind, usage.route, usage.attempt) == (
        "rejected",
        "no_capable_model",
        "sonar-only",
        0,
    )


def test_a_prompt_too_long_for_every_model_names_each_window(config: GatewayConfig) -> None:
    raw = _raw(messages=[{"role": "user", "content": "word " * 200_000}])  # ~333k tokens
    outcome = triage(raw, config, RecentIds(10))
    assert isinstance(outcome, Rejected)
    # Only the windows stand in the way: the route's context policy (move, else reject).
    assert outcome.dead_letter.reason == "context_too_long"
    detail = outcome.dead_letter.detail
    assert "route 'default'" in detail
    assert "> context_window 128000" in detail.split("mini: ")[1]
    assert "> context_window 200000" in detail.split("haiku: ")[1]
    record = outcome.dead_letter.context
    assert record is not None and record.action == "rejected"
    assert (record.model, record.window) == ("haiku", 200_000)  # the roomiest
    assert record.tokens_before > 200_000 and record.extrapolated


def test_the_weighted_arm_is_on_the_event_and_the_same_on_a_replay(
    config: GatewayConfig,
) -> None:
    arms = set()
    for i in range(40):
        first = _routed(_raw(f"w-{i}", route="ab"), config)
        # A replay after a crash: a fresh worker, fresh dedup memory.
        again = _routed(_raw(f"w-{i}", route="ab"), config)
        assert first.strategy == "weighted"
        assert first.arm == first.candidates[0] == again.arm
        assert first.candidates == again.candidates
        assert sorted(first.candidates) == ["haiku", "mini"]
        arms.add(first.arm)
    assert arms == {"mini", "haiku"}


def test_the_strategy_and_arm_survive_the_wire(config: GatewayConfig) -> None:
    dispatch = _routed(_raw(route="ab"), config)
    decoded = DispatchEvent.from_bytes(dispatch.to_bytes())
    assert (decoded.strategy, decoded.arm) == ("weighted", dispatch.arm)


def test_an_event_from_before_strategies_decodes_as_priority(config: GatewayConfig) -> None:
    data = orjson.loads(_routed(_raw(), config).to_bytes())
    del data["strategy"], data["arm"]
    old = DispatchEvent.from_bytes(orjson.dumps(data))
    assert (old.strategy, old.arm) == ("priority", None)


async def test_the_stage_rotates_round_robin_per_worker(config: GatewayConfig) -> None:
    publisher = RecordingPublisher()
    stage = TriageStage(config, publisher, ready_ledger())  # type: ignore[arg-type]
    for i in range(4):
        await stage.handle(_raw(f"rr-{i}", route="rr"))
        await stage.handle(_raw(f"d-{i}"))  # another route's requests take no turn
    sent: list[DispatchEvent] = publisher.on("llm.dispatch")
    assert [d.arm for d in sent if d.route == "rr"] == ["mini", "haiku", "sonar", "mini"]
    assert [d.candidates for d in sent if d.route == "rr"][1] == ["haiku", "mini", "sonar"]


async def test_the_stage_reads_latency_from_its_provider(config: GatewayConfig) -> None:
    figures = {"haiku": 800.0, "mini": 100.0}
    publisher = RecordingPublisher()
    stage = TriageStage(
        config,
        publisher,  # type: ignore[arg-type]
        ready_ledger(),
        latency_ms=lambda: figures,
    )
    await stage.handle(_raw("f-1", route="fast"))
    figures["mini"] = 900.0  # the fast one slowed down: the next request sees it
    await stage.handle(_raw("f-2", route="fast"))
    sent: list[DispatchEvent] = publisher.on("llm.dispatch")
    assert [(d.strategy, d.arm) for d in sent] == [("fastest", "mini"), ("fastest", "haiku")]


async def test_the_stage_settles_no_capable_model_once(config: GatewayConfig) -> None:
    publisher, ledger = RecordingPublisher(), ready_ledger()
    stage = TriageStage(config, publisher, ledger)  # type: ignore[arg-type]
    await stage.handle(_raw("nc-1", route="sonar-only", tools=[TOOL]))
    letters: list[DeadLetter] = publisher.on("llm.dlq")
    usage: list[UsageEvent] = publisher.on("llm.usage")
    assert [(d.request_id, d.reason) for d in letters] == [("nc-1", "no_capable_model")]
    assert [u.error_kind for u in usage] == ["no_capable_model"]
    assert publisher.on("llm.dispatch") == []
    assert ledger.answered("nc-1")
