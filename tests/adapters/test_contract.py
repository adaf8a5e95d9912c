"""The provider contract: what every adapter does the same way, checked for each wire
format against the in-process emulator. Vendor test files keep only what their format
does differently (payload shapes, vendor error tables, reply variants).

Features a format's capabilities lack are refused before the call; the tables below pin
which those are, so that a capability silently dropped or added fails here."""

import orjson
import pytest
from pydantic import HttpUrl

from adapters.anthropic.payload import DEFAULT_MAX_TOKENS
from adapters.base import ChatAdapter, ProviderRequest
from adapters.capabilities import check_supported
from adapters.errors import (
    ContentFiltered,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
    UnsupportedFeature,
)
from adapters.gemini.payload import GENERATED_ID_PREFIX
from adapters.ollama.reply import CALL_ID_PREFIX
from adapters.vendor_reply import derived_call_id
from emulator import cohere, ollama, openai
from emulator.generate import estimate_tokens, generate_reply
from emulator.ollama.wire import REFUSAL
from schemas.chat import ChatMessage, ImagePart, ResponseFormat, TextPart, ToolCall
from tests.adapters.bedrock.helpers import CLAUDE
from tests.adapters.helpers import PNG, TIMEOUT_S, AdapterFor, Chat, ask, user
from tests.emulated import FAULT_STATUSES, WEATHER, StartEmulator, faulty

FORMATS = ["openai", "anthropic", "gemini", "cohere", "bedrock", "ollama"]
# Bedrock model ids carry dots and a colon into the URL path.
MODEL = {fmt: CLAUDE if fmt == "bedrock" else "model-a" for fmt in FORMATS}
TEXT = "tell me about the weather in Lisbon today"

# What each format's capabilities leave out (of the features the tests below exercise).
REFUSED: dict[str, set[str]] = {
    "openai": set(),
    "anthropic": {"temperature", "top_p", "json_object"},
    "gemini": {"image_urls"},
    "cohere": set(),
    "bedrock": {"image_urls", "json_object"},
    "ollama": {"image_urls", "tool_choice_required"},
}
CACHES = {"openai", "anthropic", "gemini", "cohere", "bedrock"}
# Emulators that price an image by a flat token count.
IMAGE_TOKENS = {
    "openai": openai.parse.IMAGE_TOKENS,
    "cohere": cohere.parse.IMAGE_TOKENS,
    "ollama": ollama.parse.IMAGE_TOKENS,
}


def request_id_ok(fmt: str, request_id: str | None) -> bool:
    if request_id is None:
        return False
    if fmt == "gemini":
        # responseId, from the body: Gemini sends no request-id header.
        return len(request_id) == 24
    if fmt == "ollama":
        # The emulator puts an id where a proxy would; Ollama itself sends none.
        return True
    return request_id.startswith("req_")


def call_id_ok(fmt: str, call: ToolCall) -> bool:
    if fmt == "gemini":
        # Gemini 2.x gives no call id; ours is derived from the call.
        return call.id.startswith(GENERATED_ID_PREFIX)
    if fmt == "ollama":
        derived = derived_call_id(CALL_ID_PREFIX, 0, call.name, call.arguments)
        return call.id == derived and call.id.startswith("call_")
    prefixes = {"openai": "call_", "anthropic": "toolu_"}
    return call.id.startswith(prefixes.get(fmt, ""))


def refused(adapter: ChatAdapter, fmt: str, request: ProviderRequest, feature: str) -> None:
    assert feature in REFUSED[fmt]
    with pytest.raises(UnsupportedFeature, match=feature):
        check_supported(request, adapter.capabilities, fmt)


@pytest.mark.parametrize("fmt", FORMATS)
async def test_declared_capabilities(
    start_emulator: StartEmulator, adapter: AdapterFor, fmt: str
) -> None:
    capabilities = adapter(fmt, await start_emulator()).capabilities
    exercised = {
        "system_prompt", "images", "image_urls", "tools", "tool_choice_required",
        "json_object", "json_schema", "temperature", "top_p", "stop",
    }  # fmt: skip
    assert exercised - capabilities.features == REFUSED[fmt]
    assert capabilities.reports_cached_tokens == (fmt in CACHES)


@pytest.mark.parametrize("fmt", FORMATS)
async def test_success_maps_content_tokens_and_ids(
    start_emulator: StartEmulator, adapter: AdapterFor, chat: Chat, fmt: str
) -> None:
    emulator = await start_emulator()
    request = chat(TEXT, system="be brief", model=MODEL[fmt])
    result = await adapter(fmt, emulator).complete(request, timeout_s=TIMEOUT_S)

    # Anthropic requires max_tokens: the adapter defaults it, and the emulator honours it.
    max_tokens = DEFAULT_MAX_TOKENS if fmt == "anthropic" else None
    expected = generate_reply(TEXT, max_tokens=max_tokens, stop=[])
    assert result.content == expected.text
    assert result.finish_reason == "stop"
    assert result.output_tokens == expected.output_tokens == estimate_tokens(result.content)
    # The system prompt reached the emulator in the format's own place and was counted.
    assert result.input_tokens == estimate_tokens("be brief") + estimate_tokens(TEXT)
    assert result.cached_input_tokens == 0
    assert result.upstream_model == MODEL[fmt]
    assert request_id_ok(fmt, result.provider_request_id), result.provider_request_id


@pytest.mark.parametrize("fmt", FORMATS)
async def test_max_tokens_truncates_with_length(
    start_emulator: StartEmulator, adapter: AdapterFor, chat: Chat, fmt: str
) -> None:
    emulator = await start_emulator()
    result = await adapter(fmt, emulator).complete(chat(max_tokens=2), timeout_s=TIMEOUT_S)
    assert (result.finish_reason, result.output_tokens) == ("length", 2)


@pytest.mark.parametrize("fmt", FORMATS)
async def test_stop_sequence_cuts_the_answer(
    start_emulator: StartEmulator, adapter: AdapterFor, chat: Chat, fmt: str
) -> None:
    emulator = await start_emulator()
    client = adapter(fmt, emulator)
    # Sampling parameters ride along where the format carries them.
    params = {"temperature": 0.3} if "temperature" in client.capabilities else {}
    result = await client.complete(chat(TEXT, stop=["weather"], **params), timeout_s=TIMEOUT_S)
    assert (result.content, result.finish_reason) == ("tell me about the ", "stop")


@pytest.mark.parametrize("fmt", FORMATS)
async def test_tool_call_then_tool_result(
    start_emulator: StartEmulator, adapter: AdapterFor, fmt: str
) -> None:
    emulator = await start_emulator()
    client = adapter(fmt, emulator)
    question = user("call get_weather for Lisbon")
    first = await client.complete(ask(question, tools=[WEATHER]), timeout_s=TIMEOUT_S)
    assert first.finish_reason == "tool_calls"
    [call] = first.tool_calls
    assert (call.name, call.arguments) == ("get_weather", {"city": "example"})
    assert call_id_ok(fmt, call), call.id
    # Cohere's words beside a call come from tool_plan; the others say nothing.
    assert first.content == ("I will call get_weather." if fmt == "cohere" else "")

    answered = ask(
        question,
        ChatMessage(role="assistant", content=first.content, tool_calls=[call]),
        ChatMessage(role="tool", tool_call_id=call.id, content='{"temp_c": 21}'),
        tools=[WEATHER],
    )
    second = await client.complete(answered, timeout_s=TIMEOUT_S)
    # A tool result is answered in text (the emulator echoes it), not with another call.
    assert (second.finish_reason, second.tool_calls) == ("stop", [])
    # Gemini's functionResponse wraps a result that is not an object as {"output": ...}.
    echoed = '{"output":"{\\"temp_c\\": 21}"}' if fmt == "gemini" else '{"temp_c": 21}'
    assert second.content.startswith(echoed)


@pytest.mark.parametrize(
    ("choice", "text", "calls"),
    [
        ("required", "hello there", 1),
        # The prompt names the tool, which would call it under "auto".
        ("none", "use get_weather for Lisbon", 0),
        ("auto", "hello there", 0),
    ],
)
@pytest.mark.parametrize("fmt", FORMATS)
async def test_tool_choice_reaches_the_model(
    start_emulator: StartEmulator, adapter: AdapterFor, fmt: str, choice: str, text: str, calls: int
) -> None:
    emulator = await start_emulator()
    client = adapter(fmt, emulator)
    request = ask(user(text), tools=[WEATHER], tool_choice=choice)
    if choice == "required" and "tool_choice_required" not in client.capabilities:
        refused(client, fmt, request, "tool_choice_required")
        return
    result = await client.complete(request, timeout_s=TIMEOUT_S)
    assert [c.name for c in result.tool_calls] == ["get_weather"] * calls
    if not calls:
        assert result.finish_reason == "stop"


@pytest.mark.parametrize("fmt", FORMATS)
async def test_json_schema_output(
    start_emulator: StartEmulator, adapter: AdapterFor, fmt: str
) -> None:
    emulator = await start_emulator()
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    request = ask(
        user("a number please"),
        response_format=ResponseFormat(type="json_schema", json_schema=schema),
    )
    result = await adapter(fmt, emulator).complete(request, timeout_s=TIMEOUT_S)
    assert orjson.loads(result.content) == {"n": 1}
    assert result.finish_reason == "stop"


@pytest.mark.parametrize("fmt", FORMATS)
async def test_json_object_output(
    start_emulator: StartEmulator, adapter: AdapterFor, fmt: str
) -> None:
    emulator = await start_emulator()
    client = adapter(fmt, emulator)
    request = ask(user("weather as json"), response_format=ResponseFormat(type="json_object"))
    if "json_object" not in client.capabilities:
        refused(client, fmt, request, "json_object")
        return
    result = await client.complete(request, timeout_s=TIMEOUT_S)
    assert set(orjson.loads(result.content)) == {"answer"}
    assert result.finish_reason == "stop"


INLINE = ImagePart(media_type="image/png", data=PNG)
BY_URL = ImagePart(media_type="image/jpeg", url=HttpUrl("https://example.org/cat.jpg"))


@pytest.mark.parametrize("fmt", FORMATS)
async def test_images_inline_and_by_url(
    start_emulator: StartEmulator, adapter: AdapterFor, fmt: str
) -> None:
    emulator = await start_emulator()
    client = adapter(fmt, emulator)
    images = [INLINE]
    if "image_urls" in client.capabilities:
        images.append(BY_URL)
    else:
        refused(client, fmt, ask(user([TextPart(text="what is this"), BY_URL])), "image_urls")
    request = ask(user([TextPart(text="what is in these pictures"), *images]))
    check_supported(request, client.capabilities, fmt)
    result = await client.complete(request, timeout_s=TIMEOUT_S)
    assert result.finish_reason == "stop"
    assert result.content.startswith("what is in these pictures")
    if fmt in IMAGE_TOKENS:
        text_tokens = estimate_tokens("what is in these pictures")
        assert result.input_tokens == text_tokens + len(images) * IMAGE_TOKENS[fmt]


@pytest.mark.parametrize("fmt", FORMATS)
async def test_repeated_long_prompt_reports_cached_tokens(
    start_emulator: StartEmulator, adapter: AdapterFor, chat: Chat, fmt: str
) -> None:
    emulator = await start_emulator()
    client = adapter(fmt, emulator)
    request = chat("word " * 6000)
    first = await client.complete(request, timeout_s=TIMEOUT_S)
    second = await client.complete(request, timeout_s=TIMEOUT_S)
    assert first.cached_input_tokens == 0
    # Vendors that report the cached part apart get it added back: the total is stable.
    assert second.input_tokens == first.input_tokens
    if fmt in CACHES:
        assert 0 < second.cached_input_tokens < second.input_tokens
    else:
        assert second.cached_input_tokens == 0


# The error class every format answers an injected fault with. Bedrock has no 529 and
# answers overload with 503.
FAULTS: dict[int, type[ProviderError]] = {
    429: RateLimited,
    500: ProviderUnavailable,
    502: ProviderUnavailable,
    503: ProviderUnavailable,
    504: ProviderTimeout,
    529: ProviderUnavailable,
}
# The emulator asks for 2.5 s; a Retry-After header alone rounds that up to 3, while
# OpenAI's retry-after-ms and Gemini's RetryInfo keep it exact.
RETRY_AFTER = {"openai": 2.5, "gemini": 2.5, "anthropic": 3.0, "cohere": 3.0, "bedrock": 3.0,
               "ollama": 3.0}  # fmt: skip


@pytest.mark.parametrize("status", FAULT_STATUSES)
@pytest.mark.parametrize("fmt", FORMATS)
async def test_fault_status_maps_to_error_and_action(
    start_emulator: StartEmulator, adapter: AdapterFor, chat: Chat, fmt: str, status: int
) -> None:
    emulator = await start_emulator(faulty(error_rates={status: 1.0}, retry_after_s=2.5))
    with pytest.raises(ProviderError) as caught:
        await adapter(fmt, emulator).complete(chat(), timeout_s=TIMEOUT_S)
    error = caught.value
    assert type(error) is FAULTS[status]
    assert error.status_code == (503 if (fmt, status) == ("bedrock", 529) else status)
    # Every injected fault is transient: the same model is tried again.
    assert error.action == "retry"
    assert error.retryable
    assert error.provider == f"{fmt}-emu"
    # Gemini's error bodies carry no id and it sends no request-id header.
    assert (error.provider_request_id is None) == (fmt == "gemini")
    assert error.retry_after_s == (RETRY_AFTER[fmt] if status == 429 else None)


# How each format's filter names itself in the error message.
FILTERED = {"openai": "", "anthropic": "", "gemini": "SAFETY", "cohere": "",
            "bedrock": "guardrail_intervened"}  # fmt: skip


@pytest.mark.parametrize("fmt", FORMATS)
async def test_filtered_output(
    start_emulator: StartEmulator, adapter: AdapterFor, chat: Chat, fmt: str
) -> None:
    emulator = await start_emulator(faulty(content_filter_rate=1.0))
    client = adapter(fmt, emulator)
    if fmt == "ollama":
        # Ollama has no safety filter, so nothing marks the refusal as filtered.
        result = await client.complete(chat(), timeout_s=TIMEOUT_S)
        assert (result.content, result.finish_reason) == (REFUSAL, "stop")
        return
    with pytest.raises(ContentFiltered) as caught:
        await client.complete(chat(), timeout_s=TIMEOUT_S)
    assert FILTERED[fmt] in caught.value.message
    assert caught.value.provider_request_id is not None
    assert caught.value.action == "give_up"
