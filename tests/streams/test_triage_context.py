"""The context policy inside triage: the dispatch event carries the fitted request and the
record, a move changes the chain only, a rejection is a dead letter with the figures and
a usage row saying so."""

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
models:
  small: {provider: oa, upstream: gpt-4o-mini, input_per_mtok: "0.15", output_per_mtok: "0.6",
          context_window: 2000}
  large: {provider: oa, upstream: gpt-4o, input_per_mtok: "2.5", output_per_mtok: "10",
          context_window: 128000}
routes:
  - {name: fit, by_name_only: true, primary: small, fallbacks: [large],
     context: {on_overflow: fit, fit: {keep_last_turns: 1}}}
  - {name: strict, by_name_only: true, primary: small, context: {on_overflow: reject}}
  - {name: default, primary: small, fallbacks: [large]}
"""
LINE = "the harbour lights went out one by one as the fog rolled over the pier " * 6


@pytest.fixture(scope="module")
def config() -> GatewayConfig:
    return parse_config(CONFIG)


def _raw(request_id: str, **over: Any) -> bytes:
    messages: list[dict[str, str]] = [{"role": "system", "content": "Be brief."}]
    for t in range(12):
        messages += [
            {"role": "user", "content": f"q{t} {LINE}"},
            {"role": "assistant", "content": f"a{t} {LINE}"},
        ]
    messages.append({"role": "user", "content": "and so?"})
    data = {"request_id": request_id, "tenant": "acme", "messages": messages}
    return orjson.dumps(data | {"params": {"max_tokens": 400}} | over)


def test_a_move_changes_the_chain_and_not_the_request(config: GatewayConfig) -> None:
    outcome = triage(_raw("m-1"), config, RecentIds(8))
    assert isinstance(outcome, Routed)
    event = outcome.dispatch
    assert event.candidates == ["large"]
    assert event.context is not None and event.context.action == "moved"
    got = [m.model_dump(include={"role", "content"}) for m in event.request.messages]
    assert got == orjson.loads(_raw("m-1"))["messages"]


def test_the_dispatch_event_carries_the_fitted_request(config: GatewayConfig) -> None:
    outcome = triage(_raw("f-1", route="fit"), config, RecentIds(8))
    assert isinstance(outcome, Routed)
    event = outcome.dispatch
    record = event.context
    assert record is not None and (record.action, record.model) == ("fitted", "small")
    sent = orjson.loads(_raw("f-1"))["messages"]
    got = [m.model_dump(include={"role", "content"}) for m in event.request.messages]
    assert got[0] == sent[0] and got[1:] == sent[-(len(got) - 1) :]
    assert len(got) < len(sent) and record.turns_dropped == (len(sent) - len(got)) // 2
    assert event.candidates == ["small", "large"]  # large holds the fitted request too
    # The event is what dispatch reads back from the topic.
    assert DispatchEvent.from_bytes(event.to_bytes()) == event


async def test_a_rejection_is_a_dead_letter_with_figures_and_a_usage_row(
    config: GatewayConfig,
) -> None:
    publisher, ledger = RecordingPublisher(), ready_ledger()
    stage = TriageStage(config, publisher, ledger)  # type: ignore[arg-type]
    await stage.handle(_raw("s-1", route="strict"))
    [letter] = publisher.on("llm.dlq")
    assert isinstance(letter, DeadLetter)
    assert (letter.stage, letter.reason) == ("triage", "context_too_long")
    assert letter.context is not None
    assert (letter.context.window, letter.context.max_tokens) == (2000, 400)
    assert letter.context.margin == 0.02 and letter.context.tokens_before > 2000
    assert "route 'strict'" in letter.detail and "> context_window 2000" in letter.detail
    [usage] = publisher.on("llm.usage")
    assert isinstance(usage, UsageEvent)
    assert (usage.outcome, usage.error_kind, usage.context_action) == (
        "rejected",
        "context_too_long",
        "rejected",
    )
    assert publisher.on("llm.dispatch") == []


def test_a_pinned_model_too_small_is_rejected(config: GatewayConfig) -> None:
    outcome = triage(_raw("p-1", model="small"), config, RecentIds(8))
    assert isinstance(outcome, Rejected)
    assert outcome.dead_letter.reason == "context_too_long"
    assert "route 'model:small'" in outcome.dead_letter.detail
