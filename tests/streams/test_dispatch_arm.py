"""The response carries the strategy and arm triage recorded on the dispatch event."""

from __future__ import annotations

import pytest

from adapters.http_client import make_http_client
from schemas.config_loader import parse_config
from schemas.events import Classification, DispatchEvent, LLMRequest, LLMResponse, UsageEvent
from streams.dispatch import Dispatcher
from streams.model_client import ModelClient
from tests.emulated import StartEmulator, start_emulator  # noqa: F401
from tests.streams.recording import RecordingPublisher, ready_ledger


@pytest.mark.parametrize(("strategy", "arm"), [("weighted", "b"), ("priority", None)])
async def test_the_response_keeps_the_strategy_and_arm(
    start_emulator: StartEmulator,  # noqa: F811
    strategy: str,
    arm: str | None,
) -> None:
    emulator = await start_emulator()
    config = parse_config(
        f"""
providers:
  emu: {{format: openai, base_url: "{emulator.base_url}/v1", api_key_env: EMU_KEY}}
models:
  a: {{provider: emu, upstream: a, input_per_mtok: "1", output_per_mtok: "2",
       context_window: 100000}}
  b: {{provider: emu, upstream: b, input_per_mtok: "1", output_per_mtok: "2",
       context_window: 100000}}
routes:
  - {{name: ab, primary: a, fallbacks: [b], strategy: weighted, weights: {{a: 1, b: 1}}}}
"""
    )
    request = LLMRequest(
        request_id="r-arm", tenant="acme", messages=[{"role": "user", "content": "hi"}]
    )
    event = DispatchEvent(
        request_id=request.request_id,
        request=request,
        classification=Classification(score=0.1, tier="simple", task_type="chat"),
        route="ab",
        candidates=["b", "a"],
        strategy=strategy,
        arm=arm,
    )
    publisher = RecordingPublisher()
    http = make_http_client()
    try:
        models = ModelClient(config, http, env={"EMU_KEY": "test-key"})
        dispatcher = Dispatcher(config, models, publisher, ready_ledger())  # type: ignore[arg-type]
        await dispatcher.handle(event.to_bytes())
    finally:
        await http.aclose()
    responses: list[LLMResponse] = publisher.on("llm.responses")
    assert [(r.model, r.strategy, r.arm) for r in responses] == [("b", strategy, arm)]
    # Both usage rows of the call (started, then its completion) carry them too.
    rows: list[UsageEvent] = publisher.on("llm.usage")
    assert [(u.outcome, u.strategy, u.arm) for u in rows] == [
        ("started", strategy, arm or ""),
        ("success", strategy, arm or ""),
    ]
