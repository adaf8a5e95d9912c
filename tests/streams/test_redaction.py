"""PII redaction at dispatch's call boundary, with the in-process emulator as every
provider (it echoes the prompt and keeps what it received) and a recording publisher:
every call a request makes (plain, streamed, fallback, escalation, consensus voters and
judge) is sent without the values, and the caller gets them back; triage's block."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest

from adapters.http_client import make_http_client
from emulator.profile import EmulatorConfig, FaultProfile, FixedLatency
from emulator.server import RunningEmulator
from schemas.chat import ToolSpec
from schemas.chunks import ChunkEvent
from schemas.config import GatewayConfig
from schemas.events import (
    Classification,
    DeadLetter,
    DispatchEvent,
    LLMRequest,
    LLMResponse,
    UsageEvent,
)
from schemas.pii import PiiMode
from streams.dispatch import Dispatcher
from streams.model_client import ModelClient
from streams.redaction import CallOutsideAttempt, Redactor
from streams.triage import RecentIds, Rejected, Routed, triage
from tests.emulated import StartEmulator, start_emulator  # noqa: F401
from tests.streams.recording import RecordingPublisher, ready_ledger

KEY = "test-key"
EMAIL = "jane.doe@example.com"
PHONE = "+44 20 7946 0958"
CARD = "4111 1111 1111 1111"
VALUES = (EMAIL, PHONE, CARD, "jane.doe", "7946", "4111")
# Short, so the emulator's echo holds each token whole at least once.
PROMPT = f"{EMAIL} {PHONE}"
PLACEHOLDER = {"mode": "placeholder"}
FIXED = FixedLatency(ms=0)


def _config(
    emulator: RunningEmulator, route_pii: dict[str, Any] | None, **top: Any
) -> GatewayConfig:
    names = ("a", "b", "v1", "v2", "judge")
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
                n: {
                    "provider": "emu",
                    "upstream": n,
                    "input_per_mtok": "1",
                    "output_per_mtok": "2",
                    "context_window": 100_000,
                }
                for n in names
            },
            "routes": [
                {
                    "name": "plain",
                    "primary": "a",
                    "fallbacks": ["b"],
                    "retry": {"deadline_s": 60, "same_model_retries": 0},
                    "pii": route_pii,
                },
                {"name": "checked", "primary": "a", "fallbacks": ["b"], "escalation": {}},
                {
                    "name": "voting",
                    "primary": "a",
                    "consensus": {
                        "models": ["v1", "v2"],
                        "strategy": "judge",
                        "judge_model": "judge",
                    },
                },
            ],
            **top,
        }
    )


def _event(route: str = "plain", text: str = PROMPT, **request: Any) -> DispatchEvent:
    req = LLMRequest(
        request_id="r-1",
        tenant="acme",
        messages=[
            {"role": "system", "content": f"The customer's card is {CARD}."},
            {"role": "user", "content": text},
        ],
        **request,
    )
    config_route = {"plain": ["a", "b"], "checked": ["a", "b"], "voting": ["a"]}[route]
    return DispatchEvent(
        request_id=req.request_id,
        request=req,
        classification=Classification(score=0.1, tier="simple", task_type="chat"),
        route=route,
        candidates=config_route,
    )


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    client = make_http_client()
    yield client
    await client.aclose()


class Stage:
    def __init__(self, config: GatewayConfig, http: httpx.AsyncClient, emulator: RunningEmulator):
        self.publisher = RecordingPublisher()
        self.models = ModelClient(config, http, env={"EMU_KEY": KEY})
        self.dispatcher = Dispatcher(config, self.models, self.publisher, ready_ledger())  # type: ignore[arg-type]
        self.http = http
        self.emulator = emulator

    async def run(self, ev: DispatchEvent) -> None:
        """Handle ``ev`` and the dispatch events it leads to (fallbacks, escalations)."""
        queue = [ev]
        while queue:
            seen = len(self.publisher.on("llm.dispatch"))
            await self.dispatcher.handle(queue.pop(0).to_bytes())
            queue.extend(self.publisher.on("llm.dispatch")[seen:])

    def response(self) -> LLMResponse:
        [response] = self.publisher.on("llm.responses")
        assert isinstance(response, LLMResponse)
        return response

    def usage(self) -> list[UsageEvent]:
        return [u for u in self.publisher.on("llm.usage") if u.outcome != "started"]

    async def received(self) -> list[dict[str, Any]]:
        reply = await self.http.get(f"{self.emulator.base_url}/_emulator/received")
        bodies: list[dict[str, Any]] = reply.json()["received"]
        return bodies


@pytest.fixture
def stage(start_emulator: StartEmulator, http: httpx.AsyncClient) -> Any:  # noqa: F811
    async def _stage(
        pii: dict[str, Any] | None = None, models: dict[str, FaultProfile] | None = None
    ) -> Stage:
        profiles = {"default": FaultProfile(latency=FIXED)}
        emulator = await start_emulator(
            EmulatorConfig(default=profiles["default"], models=models or {}, capture=50)
        )
        config = _config(emulator, pii or PLACEHOLDER)
        return Stage(config, http, emulator)

    return _stage


def _holds_no_value(data: object) -> None:
    text = orjson.dumps(data, default=str).decode()
    for value in VALUES:
        assert value not in text


async def test_a_placeholder_round_trip_sends_tokens_and_answers_with_the_values(
    stage: Any,
) -> None:
    s = await stage()
    await s.run(_event())
    [body] = await s.received()
    messages = body["body"]["messages"]
    assert messages[0]["content"] == "The customer's card is <<PAYMENT_CARD_1>>."
    assert messages[1]["content"] == "<<EMAIL_1>> <<PHONE_1>>"
    response = s.response()
    # The emulator echoed the tokens; the caller reads its own values.
    assert EMAIL in response.content and PHONE in response.content
    assert "<<EMAIL_1>>" not in response.content
    assert response.redaction is not None
    assert response.redaction.counts == {"email": 1, "payment_card": 1, "phone": 1}
    assert set(response.redaction.modes.values()) == {PiiMode.PLACEHOLDER}
    for row in s.publisher.on("llm.usage"):
        assert row.pii_counts == {"email": 1, "payment_card": 1, "phone": 1}
        _holds_no_value(row.model_dump())


async def test_a_streamed_answer_is_restored_chunk_by_chunk(stage: Any) -> None:
    s = await stage()
    await s.run(_event(stream=True))
    _holds_no_value(await s.received())
    chunks: list[ChunkEvent] = s.publisher.on("llm.chunks")
    assert len(chunks) > 2  # the emulator streams 16 characters a delta: tokens get split
    text = "".join(c.text for c in chunks)
    assert EMAIL in text and PHONE in text
    # Only the echo's last word, cut mid-token by its length, may be left as it was sent.
    assert re.search(r"<<\w+>>", text) is None
    assert [c.seq for c in chunks] == list(range(len(chunks)))
    assert s.response().content == text


@pytest.mark.parametrize("stream", [False, True])
async def test_tool_call_arguments_come_back_with_the_values(stage: Any, stream: bool) -> None:
    # The emulator fills a tool's arguments from the schema's enum: here the token itself,
    # as a model would copy it from the prompt.
    notify = ToolSpec(
        name="notify",
        parameters={
            "type": "object",
            "properties": {"to": {"type": "string", "enum": ['<<EMAIL_1>> "quoted"']}},
        },
    )
    s = await stage()
    await s.run(_event(tools=[notify], tool_choice="required", stream=stream))
    [call] = s.response().tool_calls
    assert call.arguments == {"to": f'{EMAIL} "quoted"'}
    if stream:
        pieces = [c.tool_call.arguments for c in s.publisher.on("llm.chunks") if c.tool_call]
        assert orjson.loads("".join(pieces)) == {"to": f'{EMAIL} "quoted"'}
    _holds_no_value([b["body"]["messages"] for b in await s.received()])


async def test_mask_mode_sends_and_answers_masks(stage: Any) -> None:
    s = await stage({"mode": "mask"})
    await s.run(_event())
    _holds_no_value(await s.received())
    response = s.response()
    assert "[EMAIL]" in response.content and "[PHONE]" in response.content
    _holds_no_value(response.model_dump())
    assert response.redaction is not None
    assert set(response.redaction.modes.values()) == {PiiMode.MASK}


async def test_a_fallback_call_is_redacted_too(stage: Any) -> None:
    s = await stage(models={"a": FaultProfile(latency=FIXED, error_rates={500: 1.0})})
    await s.run(_event())
    bodies = await s.received()
    assert [b["body"]["model"] for b in bodies] == ["a", "b"]
    _holds_no_value(bodies)
    assert (s.response().model, EMAIL in s.response().content) == ("b", True)


async def test_an_escalated_call_is_redacted_too(
    start_emulator: StartEmulator,  # noqa: F811
    http: httpx.AsyncClient,
) -> None:
    emulator = await start_emulator(
        EmulatorConfig(
            default=FaultProfile(latency=FIXED),
            models={"a": FaultProfile(latency=FIXED, empty_rate=1.0)},
            capture=50,
        )
    )
    # Redaction from the tenant's policy this time: the escalation route has none.
    config = _config(emulator, None, pii={"tenants": {"acme": PLACEHOLDER}})
    s = Stage(config, http, emulator)
    await s.run(_event("checked"))
    bodies = await s.received()
    assert [b["body"]["model"] for b in bodies] == ["a", "b"]
    _holds_no_value(bodies)
    response = s.response()
    assert response.escalated and EMAIL in response.content


async def test_consensus_voters_and_the_judge_prompt_are_redacted(
    start_emulator: StartEmulator,  # noqa: F811
    http: httpx.AsyncClient,
) -> None:
    emulator = await start_emulator(
        EmulatorConfig(
            default=FaultProfile(latency=FIXED),
            models={
                "v1": FaultProfile(latency=FIXED, answer="Mail <<EMAIL_1>> today."),
                "v2": FaultProfile(latency=FIXED, answer="Phone <<PHONE_1>> instead."),
                "judge": FaultProfile(latency=FIXED, answer="2"),
            },
            capture=50,
        )
    )
    config = _config(emulator, None, pii={"default": PLACEHOLDER})
    s = Stage(config, http, emulator)
    await s.run(_event("voting"))
    bodies = {b["body"]["model"]: b["body"] for b in await s.received()}
    assert sorted(bodies) == ["judge", "v1", "v2"]
    _holds_no_value(bodies)
    # The judge saw the request and both answers, tokens and all.
    judge_prompt = bodies["judge"]["messages"][0]["content"]
    assert "<<EMAIL_1>> <<PHONE_1>>" in judge_prompt and "<<PHONE_1>> instead" in judge_prompt
    response = s.response()
    assert response.content == f"Phone {PHONE} instead."
    assert {u.pii_counts["email"] for u in s.usage()} == {1}


async def test_no_call_leaves_outside_an_attempt(stage: Any) -> None:
    s = await stage()
    redactor = Redactor(s.dispatcher.config, s.models)
    with pytest.raises(CallOutsideAttempt):
        await redactor.complete("a", _event().request)
    assert await s.received() == []


def test_triage_blocks_naming_kinds_and_counts_never_values() -> None:
    config = GatewayConfig.model_validate(
        {
            "providers": {"emu": {"format": "openai", "base_url": "http://127.0.0.1:9/v1"}},
            "models": {
                "a": {
                    "provider": "emu",
                    "upstream": "a",
                    "input_per_mtok": "1",
                    "output_per_mtok": "1",
                    "context_window": 100_000,
                }
            },
            "routes": [{"name": "plain", "primary": "a"}],
            "router": {"scorer": "heuristic"},  # what routes the request is not the point here
            "pii": {
                "default": {"mode": "mask"},
                "tenants": {"bank": {"mode": "block", "kinds": ["payment_card"]}},
            },
        }
    )
    event = _event().request.model_copy(update={"tenant": "bank"})
    outcome = triage(event.to_bytes(), config, RecentIds(10))
    assert isinstance(outcome, Rejected)
    letter = outcome.dead_letter
    assert isinstance(letter, DeadLetter)
    assert (letter.reason, letter.stage) == ("pii_blocked", "triage")
    assert "payment_card (1)" in letter.detail and "email" not in letter.detail
    _holds_no_value(letter.model_dump())
    assert outcome.usage is not None
    assert (outcome.usage.outcome, outcome.usage.error_kind) == ("rejected", "pii_blocked")
    assert outcome.usage.pii_counts == {"email": 1, "payment_card": 1, "phone": 1}
    # Without the card the bank's request goes on (the default masks the rest later).
    clean = event.model_copy(update={"request_id": "r-2", "messages": event.messages[1:]})
    assert isinstance(triage(clean.to_bytes(), config, RecentIds(10)), Routed)
    # Another tenant is not blocked at all.
    other = event.model_copy(update={"request_id": "r-3", "tenant": "acme"})
    assert isinstance(triage(other.to_bytes(), config, RecentIds(10)), Routed)
