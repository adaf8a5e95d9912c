"""Properties over every valid request and event shape (strategies: tests/schemas/strategies.py).

1. every event decodes to itself: ``from_bytes(to_bytes(x)) == x``, and bytes written by
   the previous encoder (orjson over ``model_dump``) still decode; the admission topic's two
   kinds decode through its tagged union; money is written as its exact decimal string;
2. triage never raises on a valid request, and what it publishes encodes and decodes;
3. the dispatch event it publishes can be dispatched: for every configured model, the
   adapter either builds a body that encodes or refuses the request before any call.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, get_args

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, HttpUrl, ValidationError

from adapters import json_body
from adapters.anthropic.adapter import AnthropicAdapter
from adapters.anthropic.payload import build_payload as anthropic_payload
from adapters.base import ChatAdapter, ProviderRequest
from adapters.bedrock.adapter import BedrockAdapter
from adapters.bedrock.payload import build_body as bedrock_body
from adapters.capabilities import check_supported
from adapters.cohere.adapter import CohereAdapter
from adapters.cohere.payload import build_payload as cohere_payload
from adapters.credentials import credentials_for
from adapters.errors import InvalidRequest
from adapters.gemini.adapter import GeminiAdapter
from adapters.gemini.payload import build_payload as gemini_payload
from adapters.ollama.adapter import OllamaAdapter
from adapters.ollama.payload import build_payload as ollama_payload
from adapters.openai.adapter import OpenAIAdapter
from adapters.openai.payload import build_payload as openai_payload
from adapters.registry import ADAPTERS
from policy.router import choose_route
from policy.scoring import build_classifier
from policy.strategy import capable, misfits, model_capabilities
from schemas.admission import AdmitEvent, SpendEvent, admission_event
from schemas.base import Event
from schemas.chat import ImagePart, ResponseFormat, Role, ToolChoice
from schemas.config import GatewayConfig
from schemas.config_loader import load_config
from schemas.events import DispatchEvent, LLMRequest, UsageEvent
from streams.triage import Duplicate, RecentIds, Rejected, Routed, triage
from tests.paths import EXAMPLE_CONFIG
from tests.schemas.strategies import (
    EVENT_STRATEGIES,
    LARGE_PROMPT_CHARS,
    admit_events,
    llm_requests,
    spend_events,
)

# Loaded at import: the strategies draw the config's route names and tenants.
CONFIG = load_config(EXAMPLE_CONFIG)
ROUTES = [r.name for r in CONFIG.routes]
CAPABILITIES = model_capabilities(CONFIG)
TENANTS = sorted({t for r in CONFIG.routes for t in r.when.tenants or ()})
REQUESTS = llm_requests(routes=ROUTES, tenants=TENANTS, models=sorted(CONFIG.models))

# Large prompts make single examples slow and big; the health checks would call that a
# strategy problem, but covering them is the point.
PROPERTY = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _legacy_bytes(event: Event) -> bytes:
    """What ``to_bytes`` wrote before it used pydantic's serializer."""

    def default(value: object) -> object:
        if isinstance(value, Decimal):
            return str(value)
        raise TypeError(f"cannot encode {type(value).__name__}")

    return orjson.dumps(event.model_dump(mode="python"), default=default)


def _same_json(old: Any, new: Any, path: str = "$") -> None:
    """Equal JSON trees, except that a timestamp may be spelled differently (Z vs +00:00)."""
    if isinstance(old, dict) and isinstance(new, dict):
        assert old.keys() == new.keys(), path
        for key in old:
            _same_json(old[key], new[key], f"{path}.{key}")
    elif isinstance(old, list) and isinstance(new, list):
        assert len(old) == len(new), path
        for i, (a, b) in enumerate(zip(old, new, strict=True)):
            _same_json(a, b, f"{path}[{i}]")
    elif isinstance(old, str) and isinstance(new, str) and old != new:
        try:
            same = datetime.fromisoformat(old) == datetime.fromisoformat(new)
        except ValueError:
            same = False
        assert same, f"{path}: {old[:80]!r} became {new[:80]!r}"
    else:
        assert old == new, path
        assert type(old) is type(new), path


# --- 1. encoding --------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(EVENT_STRATEGIES))
@settings(PROPERTY, max_examples=100)
@given(data=st.data())
def test_every_event_decodes_to_itself(name: str, data: st.DataObject) -> None:
    event = data.draw(EVENT_STRATEGIES[name], label=name)
    encoded = event.to_bytes()
    assert type(event).from_bytes(encoded) == event
    # Encoding is stable, so a re-published event is byte-identical.
    assert type(event).from_bytes(encoded).to_bytes() == encoded


@pytest.mark.parametrize("name", sorted(EVENT_STRATEGIES))
@settings(PROPERTY, max_examples=50)
@given(data=st.data())
def test_bytes_of_the_previous_encoder_still_decode(name: str, data: st.DataObject) -> None:
    event = data.draw(EVENT_STRATEGIES[name], label=name)
    try:
        old = _legacy_bytes(event)
    except TypeError:
        # What the old encoder could not write (an image URL, an int past 64 bits) was
        # never on a topic.
        assume(False)
    assert type(event).from_bytes(old) == event
    # The wire changed only in how UTC is spelled: "Z" where orjson wrote "+00:00".
    _same_json(orjson.loads(old), orjson.loads(event.to_bytes()))


@settings(PROPERTY, max_examples=100)
@given(event=st.one_of(admit_events, spend_events))
def test_admission_events_decode_by_their_kind(event: AdmitEvent | SpendEvent) -> None:
    # Both kinds share llm.admission: the consumer tells them apart by ``kind`` alone.
    encoded = event.to_bytes()
    decoded = admission_event.validate_json(encoded)
    assert type(decoded) is type(event)
    assert decoded == event
    other = SpendEvent if isinstance(event, AdmitEvent) else AdmitEvent
    with pytest.raises(ValidationError):
        other.from_bytes(encoded)


JsonPath = tuple[str | int, ...]


def _money(value: object, path: JsonPath = ()) -> Iterator[tuple[JsonPath, Decimal]]:
    """Every Decimal in an event, with the path to it in the event's JSON."""
    if isinstance(value, Decimal):
        yield path, value
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _money(getattr(value, name), (*path, name))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _money(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _money(item, (*path, index))


# Events that always carry an amount; the others only sometimes (a dead letter's limit), and
# a request never.
ALWAYS_MONEY = {"LLMResponse", "UsageEvent", "SpendEvent", "BudgetAlert"}


@pytest.mark.parametrize("name", sorted(set(EVENT_STRATEGIES) - {"LLMRequest"}))
@settings(PROPERTY, max_examples=50)
@given(data=st.data())
def test_money_travels_as_its_exact_decimal_string(name: str, data: st.DataObject) -> None:
    event = data.draw(EVENT_STRATEGIES[name], label=name)
    wire = orjson.loads(event.to_bytes())
    amounts = list(_money(event))
    assert amounts or name not in ALWAYS_MONEY
    for path, amount in amounts:
        written: Any = wire
        for step in path:
            written = written[step]
        # A float, or a normalized string, would lose the scale or the digits.
        assert written == str(amount), path


def test_old_event_bytes_decode() -> None:
    # Written by the orjson encoder: "+00:00" timestamps, money as a decimal string.
    old = (
        b'{"schema_version":1,"request_id":"r-1","attempt":1,"call_id":"c-1","tenant":"acme",'
        b'"route":"default","model":"gpt-4o-mini","provider":"openai",'
        b'"upstream_model":"gpt-4o-mini","outcome":"success","error_kind":"","status_code":0,'
        b'"is_fallback":false,"input_tokens":10,"output_tokens":5,"cached_input_tokens":0,'
        b'"cost_usd":"0.000150000","latency_ms":12.5,"complexity":0.1,"tier":"simple",'
        b'"task_type":"chat","started_at":"2025-01-02T03:04:05.006789+00:00"}'
    )
    usage = UsageEvent.from_bytes(old)
    assert usage.cost_usd == Decimal("0.000150000")
    assert usage.started_at == datetime(2025, 1, 2, 3, 4, 5, 6789, tzinfo=UTC)
    again = orjson.loads(usage.to_bytes())
    assert again["cost_usd"] == "0.000150000"
    assert again["started_at"] == "2025-01-02T03:04:05.006789Z"


# --- 2. triage ----------------------------------------------------------------------------


def _upstream_bytes(request: LLMRequest) -> bytes:
    """The request as an upstream service would publish it: JSON of its own making (the
    standard library's, which unlike orjson writes integers of any size)."""
    return json.dumps(request.model_dump(mode="json")).encode()


def _summary(outcome: object) -> str:
    # The outcome's repr can hold megabytes of prompt.
    if isinstance(outcome, Rejected):
        return f"dead letter {outcome.dead_letter.reason}: {outcome.dead_letter.detail[:300]}"
    return type(outcome).__name__


def _route_models(request: LLMRequest, config: GatewayConfig) -> list[str]:
    if request.model is not None:
        return [request.model]  # a pinned model: that one alone
    # The scorer triage uses under this config (router.scorer), so the route is the same.
    return choose_route(config, request, build_classifier(config.router)(request)).candidates


def _check_triage(raw: bytes, request: LLMRequest, config: GatewayConfig) -> DispatchEvent | None:
    outcome = triage(raw, config, RecentIds(8))
    assert not isinstance(outcome, Duplicate)
    if len(raw) > config.limits.max_request_bytes:
        assert isinstance(outcome, Rejected)
        assert outcome.dead_letter.reason == "request_too_large"
    elif request.model is not None and request.model not in config.models:
        assert isinstance(outcome, Rejected)
        assert outcome.dead_letter.reason == "unknown_model"
    elif request.route is not None and config.route(request.route) is None:
        assert isinstance(outcome, Rejected)
        assert outcome.dead_letter.reason == "unknown_route"
    elif not capable(models := _route_models(request, config), request, config, CAPABILITIES):
        # A feature none of its route's models carries: no_capable_model; else too long for
        # every window: the route's context policy (move, else reject).
        assert isinstance(outcome, Rejected), _summary(outcome)
        unfit = misfits(models, request, config, CAPABILITIES, context=False)
        featured = [m for m in models if m not in unfit]
        reason = "context_too_long" if featured else "no_capable_model"
        assert outcome.dead_letter.reason == reason
    else:
        # The example config ends its automatic routes with a catch-all.
        assert isinstance(outcome, Routed), _summary(outcome)
    if isinstance(outcome, Rejected):
        letter = outcome.dead_letter
        assert type(letter).from_bytes(letter.to_bytes()) == letter
        if outcome.usage is not None:
            assert UsageEvent.from_bytes(outcome.usage.to_bytes()) == outcome.usage
        return None
    assert isinstance(outcome, Routed)
    dispatch = outcome.dispatch
    assert dispatch.request == request
    decoded = DispatchEvent.from_bytes(dispatch.to_bytes())
    assert decoded == dispatch
    return decoded


@PROPERTY
@given(request=REQUESTS)
def test_triage_routes_every_valid_request_into_an_event_that_decodes(
    request: LLMRequest,
) -> None:
    _check_triage(_upstream_bytes(request), request, CONFIG)
    # A request published with our own encoder (a re-publish, the client library).
    _check_triage(request.to_bytes(), request, CONFIG)


def test_long_digit_run_triages_fast() -> None:
    # A pasted table of numbers, a long id: 12k digits, far below any size limit. Linear
    # scanning takes milliseconds; the second is room for a loaded machine.
    raw = orjson.dumps(
        {
            "request_id": "r-digits",
            "tenant": "acme",
            "messages": [{"role": "user", "content": "7" * 12_000}],
        }
    )
    started = time.perf_counter()
    outcome = triage(raw, CONFIG, RecentIds(8))
    assert isinstance(outcome, Routed)
    assert time.perf_counter() - started < 1.0


# --- 3. dispatch --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def adapters() -> Iterator[dict[str, ChatAdapter]]:
    """An adapter per configured provider, as the worker builds them; none sends anything."""
    http = httpx.AsyncClient()
    yield {
        name: ADAPTERS[provider.format](name, provider, http, credentials_for(provider, {}))
        for name, provider in CONFIG.providers.items()
    }
    asyncio.run(http.aclose())


def _provider_request(model_name: str, request: LLMRequest) -> ProviderRequest:
    # As streams.model_client.ModelClient.complete resolves a model.
    return ProviderRequest(
        upstream_model=CONFIG.models[model_name].upstream,
        messages=request.messages,
        params=request.params,
        tools=request.tools,
        tool_choice=request.tool_choice,
        response_format=request.response_format,
    )


def _body(adapter: ChatAdapter, call: ProviderRequest) -> bytes:
    """The bytes ``adapter.complete`` would send: its payload builder, then JsonApi's encoder."""
    payload: dict[str, object]
    match adapter:
        case OpenAIAdapter():
            payload = openai_payload(call, adapter.preset, provider=adapter.provider)
        case AnthropicAdapter():
            payload = anthropic_payload(call)
        case GeminiAdapter():
            payload = gemini_payload(call, adapter.provider)
        case BedrockAdapter():
            return bedrock_body(call)
        case CohereAdapter():
            payload = cohere_payload(call, provider=adapter.provider)
        case OllamaAdapter():
            payload = ollama_payload(call, provider=adapter.provider)
        case _:
            raise AssertionError(f"no payload builder known for {type(adapter).__name__}")
    return json_body.dumps(payload)


def _send_or_refuse(adapter: ChatAdapter, call: ProviderRequest) -> bytes | None:
    """The body, or None when the adapter refuses the request before any call."""
    try:
        check_supported(call, adapter.capabilities, adapter.provider)
        return _body(adapter, call)
    except InvalidRequest:
        # UnsupportedFeature and its kin: the dispatcher moves on to the next candidate.
        return None


@PROPERTY
@given(request=REQUESTS)
def test_every_model_can_send_or_refuse_what_triage_dispatches(
    adapters: dict[str, ChatAdapter], request: LLMRequest
) -> None:
    dispatch = _check_triage(_upstream_bytes(request), request, CONFIG)
    assume(dispatch is not None)
    assert dispatch is not None
    # The route's candidates first, as the dispatcher tries them; then every other model,
    # so every wire format meets every request shape.
    others = [m for m in CONFIG.models if m not in dispatch.candidates]
    for model_name in dispatch.candidates:
        # Triage kept only the models that carry what the request needs.
        adapter = adapters[CONFIG.models[model_name].provider]
        check_supported(_provider_request(model_name, dispatch.request), adapter.capabilities, "")
    for model_name in [*dispatch.candidates, *others]:
        adapter = adapters[CONFIG.models[model_name].provider]
        body = _send_or_refuse(adapter, _provider_request(model_name, dispatch.request))
        if body is not None:
            assert orjson.loads(body)


def test_tool_arguments_beyond_64_bits_are_sent_or_refused(
    adapters: dict[str, ChatAdapter],
) -> None:
    # A 128-bit id given as a JSON number, in an earlier tool call of the conversation.
    raw = json.dumps(
        {
            "request_id": "r-bigint",
            "tenant": "acme",
            "messages": [
                {"role": "user", "content": "look it up"},
                {
                    "role": "assistant",
                    "tool_calls": [{"id": "c1", "name": "lookup", "arguments": {"id": 2**100}}],
                },
                {"role": "tool", "tool_call_id": "c1", "content": "found"},
            ],
        }
    ).encode()
    outcome = triage(raw, CONFIG, RecentIds(8))
    assert isinstance(outcome, Routed)
    for model_name in CONFIG.models:
        adapter = adapters[CONFIG.models[model_name].provider]
        _send_or_refuse(adapter, _provider_request(model_name, outcome.dispatch.request))


# --- the shapes are really drawn ----------------------------------------------------------


def _images(request: LLMRequest) -> list[ImagePart]:
    return [image for m in request.messages for image in m.images]


def _shapes(request: LLMRequest) -> set[str]:
    """The union members and notable sizes one request shows."""
    shapes = {f"role {m.role}" for m in request.messages}
    shapes |= {
        f"content {'text' if isinstance(m.content, str) else 'parts'}" for m in request.messages
    }
    shapes |= {"image by url" if i.url is not None else "inline image" for i in _images(request)}
    shapes |= {"tool calls" for m in request.messages if m.tool_calls}
    shapes.add(f"tool_choice {request.tool_choice}")
    fmt = request.response_format
    shapes.add(f"response_format {fmt.type if fmt is not None else None}")
    shapes.add(
        "deadline_s"
        if request.deadline_s
        else "deadline_at"
        if request.deadline_at
        else "no deadline"
    )
    route = request.route
    shapes.add(
        "no route" if route is None else "named route" if route in ROUTES else "unknown route"
    )
    if any(len(m.text) >= LARGE_PROMPT_CHARS[0] for m in request.messages):
        shapes.add("large prompt")
    if len(_upstream_bytes(request)) > CONFIG.limits.max_request_bytes:
        shapes.add("over the request limit")
    return shapes


EVERY_SHAPE = {
    *(f"role {role}" for role in get_args(Role)),
    "content text",
    "content parts",
    "image by url",
    "inline image",
    "tool calls",
    *(f"tool_choice {choice}" for choice in get_args(ToolChoice)),
    "response_format None",
    *(
        f"response_format {kind}"
        for kind in get_args(ResponseFormat.model_fields["type"].annotation)
    ),
    "no deadline",
    "deadline_s",
    "deadline_at",
    "no route",
    "named route",
    "unknown route",
    "large prompt",
    "over the request limit",
}


def test_the_request_strategy_draws_every_shape() -> None:
    seen: set[str] = set()

    # Generation only, as many examples as the properties above draw; derandomized, so that
    # a rare shape (over the limit: 1 in 16) cannot go missing by chance.
    @settings(PROPERTY, max_examples=150, phases=[Phase.generate], database=None, derandomize=True)
    @given(request=REQUESTS)
    def draw(request: LLMRequest) -> None:
        seen.update(_shapes(request))

    draw()
    assert EVERY_SHAPE - seen == set()


# --- the exact shape --------------------------------------------------------------


def test_image_by_url_request_is_routed_and_its_dispatch_event_encodes(
    adapters: dict[str, ChatAdapter],
) -> None:
    url = "https://example.com/cat.png"
    raw = orjson.dumps(
        {
            "request_id": "r-url",
            "tenant": "acme",
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "what is in this picture?"},
                        {"type": "image", "media_type": "image/png", "url": url},
                    ],
                }
            ],
        }
    )
    outcome = triage(raw, CONFIG, RecentIds(8))
    assert isinstance(outcome, Routed)
    encoded = outcome.dispatch.to_bytes()
    content = orjson.loads(encoded)["request"]["messages"][0]["content"]
    assert content[1] == {"type": "image", "media_type": "image/png", "data": None, "url": url}
    decoded = DispatchEvent.from_bytes(encoded)
    assert decoded == outcome.dispatch
    assert decoded.request.messages[0].images[0].url == HttpUrl(url)
    # The route's first model takes image URLs: the URL is what goes out.
    adapter = adapters[CONFIG.models[decoded.model].provider]
    body = _send_or_refuse(adapter, _provider_request(decoded.model, decoded.request))
    assert body is not None and url.encode() in body
