from typing import Any

import httpx
import orjson
import pytest

from adapters.bedrock.adapter import FALLBACK_REGION, BedrockAdapter, region_for
from adapters.capabilities import check_supported
from adapters.credentials import Credentials
from adapters.errors import (
    ContentFiltered,
    MalformedResponse,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
    UnsupportedFeature,
)
from adapters.registry import ADAPTERS
from emulator.generate import estimate_tokens, generate_reply
from schemas.chat import ChatMessage, ImagePart, ResponseFormat, TextPart
from schemas.providers import BedrockProvider
from tests.adapters.bedrock.helpers import (
    CLAUDE,
    KEYS,
    OK_BODY,
    PNG,
    TIMEOUT_S,
    WEATHER,
    ask,
    mocked,
    user,
)
from tests.adapters.helpers import Bedrock, Stats
from tests.emulated import StartEmulator, faulty

# Against the emulator


async def test_success_maps_text_tokens_and_request_id(
    start_emulator: StartEmulator, bedrock: Bedrock
) -> None:
    emulator = await start_emulator()
    request = ask(
        ChatMessage(role="system", content="be brief"),
        user("tell me about the weather in Lisbon today"),
        model=CLAUDE,
    )
    result = await bedrock(emulator.base_url).complete(request, timeout_s=TIMEOUT_S)

    expected = generate_reply(request.messages[-1].text, max_tokens=None, stop=[])
    assert result.content == expected.text
    assert result.finish_reason == "stop"
    assert result.output_tokens == expected.output_tokens
    assert result.input_tokens == estimate_tokens("be brief") + estimate_tokens(
        request.messages[-1].text
    )
    assert result.cached_input_tokens == 0
    assert result.upstream_model == CLAUDE
    assert result.provider_request_id is not None
    assert result.provider_request_id.startswith("req_")


async def test_max_tokens_and_stop_sequences(
    start_emulator: StartEmulator, bedrock: Bedrock
) -> None:
    emulator = await start_emulator()
    adapter = bedrock(emulator.base_url)
    text = "tell me about the weather in Lisbon today"
    truncated = await adapter.complete(ask(user(text), params={"max_tokens": 2}), timeout_s=5)
    assert (truncated.finish_reason, truncated.output_tokens) == ("length", 2)
    stopped = await adapter.complete(ask(user(text), params={"stop": ["weather"]}), timeout_s=5)
    assert (stopped.content, stopped.finish_reason) == ("tell me about the ", "stop")


async def test_tool_call_round_trip(start_emulator: StartEmulator, bedrock: Bedrock) -> None:
    emulator = await start_emulator()
    adapter = bedrock(emulator.base_url)
    question = user("what does get_weather say for Porto")
    first = await adapter.complete(ask(question, tools=[WEATHER]), timeout_s=TIMEOUT_S)
    assert first.finish_reason == "tool_calls"
    [call] = first.tool_calls
    assert (call.name, call.arguments) == ("get_weather", {"city": "example"})

    answered = ask(
        question,
        ChatMessage(role="assistant", tool_calls=[call]),
        ChatMessage(role="tool", tool_call_id=call.id, content="sunny and 24C"),
        tools=[WEATHER],
    )
    second = await adapter.complete(answered, timeout_s=TIMEOUT_S)
    # The emulator answers tool results in text instead of calling again.
    assert second.tool_calls == []
    assert second.finish_reason == "stop"
    assert second.content.startswith("sunny and 24C")


async def test_required_tool_choice_forces_a_call(
    start_emulator: StartEmulator, bedrock: Bedrock
) -> None:
    emulator = await start_emulator()
    request = ask(user("hello there"), tools=[WEATHER], tool_choice="required")
    result = await bedrock(emulator.base_url).complete(request, timeout_s=TIMEOUT_S)
    assert [c.name for c in result.tool_calls] == ["get_weather"]


async def test_tool_choice_none_gets_text(start_emulator: StartEmulator, bedrock: Bedrock) -> None:
    emulator = await start_emulator()
    request = ask(user("what does get_weather say"), tools=[WEATHER], tool_choice="none")
    result = await bedrock(emulator.base_url).complete(request, timeout_s=TIMEOUT_S)
    assert result.tool_calls == []
    assert result.finish_reason == "stop"


async def test_images_are_sent_inline(start_emulator: StartEmulator, bedrock: Bedrock) -> None:
    emulator = await start_emulator()
    message = ChatMessage(
        role="user",
        content=[TextPart(text="describe"), ImagePart(media_type="image/png", data=PNG)],
    )
    result = await bedrock(emulator.base_url).complete(ask(message), timeout_s=TIMEOUT_S)
    assert result.content.startswith("describe")


async def test_json_schema_output(start_emulator: StartEmulator, bedrock: Bedrock) -> None:
    emulator = await start_emulator()
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    request = ask(
        user("count"), response_format=ResponseFormat(type="json_schema", json_schema=schema)
    )
    result = await bedrock(emulator.base_url).complete(request, timeout_s=TIMEOUT_S)
    assert orjson.loads(result.content) == {"n": 1}


async def test_repeated_long_prompt_reports_cached_tokens(
    start_emulator: StartEmulator, bedrock: Bedrock
) -> None:
    emulator = await start_emulator()
    adapter = bedrock(emulator.base_url)
    request = ask(user("a long shared preamble " * 300))
    first = await adapter.complete(request, timeout_s=TIMEOUT_S)
    second = await adapter.complete(request, timeout_s=TIMEOUT_S)
    assert first.cached_input_tokens == 0
    assert second.cached_input_tokens > 0
    # Bedrock's inputTokens excludes cache reads; ours counts every prompt token.
    assert second.input_tokens == first.input_tokens


@pytest.mark.parametrize(
    ("status", "error", "seen_status", "error_type"),
    [
        (429, RateLimited, 429, "ThrottlingException"),
        (500, ProviderUnavailable, 500, "InternalServerException"),
        (502, ProviderUnavailable, 502, "ServiceUnavailableException"),
        (503, ProviderUnavailable, 503, "ServiceUnavailableException"),
        (529, ProviderUnavailable, 503, "ServiceUnavailableException"),
        (504, ProviderTimeout, 504, "ModelTimeoutException"),
    ],
)
async def test_fault_statuses_translate(
    start_emulator: StartEmulator,
    bedrock: Bedrock,
    status: int,
    error: type[ProviderError],
    seen_status: int,
    error_type: str,
) -> None:
    emulator = await start_emulator(faulty(error_rates={status: 1.0}, retry_after_s=3))
    with pytest.raises(error) as caught:
        await bedrock(emulator.base_url).complete(ask(user("hi")), timeout_s=TIMEOUT_S)
    assert type(caught.value) is error
    assert caught.value.status_code == seen_status
    assert caught.value.provider_request_id is not None
    assert caught.value.retry_after_s == (3.0 if status == 429 else None)
    # The emulator names the error only in x-amzn-ErrorType, so this is the header read.
    assert caught.value.message.startswith(f"{error_type}: ")


async def test_guardrail_is_content_filtered(
    start_emulator: StartEmulator, bedrock: Bedrock
) -> None:
    emulator = await start_emulator(faulty(content_filter_rate=1.0))
    with pytest.raises(ContentFiltered) as caught:
        await bedrock(emulator.base_url).complete(ask(user("hi")), timeout_s=TIMEOUT_S)
    assert "guardrail_intervened" in caught.value.message


async def test_temperature_above_one_fails_before_the_call(
    start_emulator: StartEmulator, bedrock: Bedrock, stats: Stats
) -> None:
    emulator = await start_emulator()
    request = ask(user("hi"), params={"temperature": 1.5})
    with pytest.raises(UnsupportedFeature):
        await bedrock(emulator.base_url).complete(request, timeout_s=TIMEOUT_S)
    assert (await stats(emulator))["models"] == {}


def test_capabilities_refuse_what_converse_cannot_carry(bedrock: Bedrock) -> None:
    adapter = bedrock("http://127.0.0.1:1")
    url_image = ChatMessage(
        role="user", content=[ImagePart(media_type="image/png", url="https://x.test/a.png")]
    )
    with pytest.raises(UnsupportedFeature, match="image_urls"):
        check_supported(ask(url_image), adapter.capabilities, "bedrock")
    json_object = ask(user("hi"), response_format=ResponseFormat(type="json_object"))
    with pytest.raises(UnsupportedFeature, match="json_object"):
        check_supported(json_object, adapter.capabilities, "bedrock")
    inline = ChatMessage(role="user", content=[ImagePart(media_type="image/png", data=PNG)])
    required = ask(inline, tools=[WEATHER], tool_choice="required", params={"top_p": 0.5})
    check_supported(required, adapter.capabilities, "bedrock")


def test_region_comes_from_config_then_host() -> None:
    host = "https://bedrock-runtime.ap-south-1.amazonaws.com"
    assert region_for("eu-west-1", host) == "eu-west-1"
    assert region_for(None, host) == "ap-south-1"
    assert region_for(None, "https://bedrock-runtime-fips.us-west-2.amazonaws.com") == "us-west-2"
    assert region_for(None, "http://127.0.0.1:8900") == FALLBACK_REGION


def test_default_endpoint_follows_region(http_client: httpx.AsyncClient) -> None:
    config = BedrockProvider(format="bedrock", region="us-west-2")
    adapter = ADAPTERS[config.format]("b", config, http_client, Credentials(aws=KEYS))
    assert isinstance(adapter, BedrockAdapter)
    assert config.resolved_base_url == "https://bedrock-runtime.us-west-2.amazonaws.com"


# Replies no emulator profile produces: other stop reasons and usage.


@pytest.mark.parametrize(
    ("stop_reason", "outcome"),
    [
        ("content_filtered", ContentFiltered),
        ("guardrail_intervened", ContentFiltered),
        ("malformed_tool_use", MalformedResponse),
        ("model_context_window_exceeded", "length"),
        ("something_new", "other"),
    ],
)
async def test_stop_reasons(stop_reason: str, outcome: type[ProviderError] | str) -> None:
    adapter = mocked(200, {**OK_BODY, "stopReason": stop_reason})
    request = ask(user("hi"), model=CLAUDE)
    if isinstance(outcome, str):
        result = await adapter.complete(request, timeout_s=TIMEOUT_S)
        assert result.finish_reason == outcome
    else:
        with pytest.raises(outcome):
            await adapter.complete(request, timeout_s=TIMEOUT_S)


async def test_usage_counts_cache_reads_and_writes_as_input() -> None:
    usage = {
        "inputTokens": 14,
        "outputTokens": 59,
        "totalTokens": 2162,
        "cacheReadInputTokens": 100,
        "cacheWriteInputTokens": 1989,
        "cacheDetails": [],
    }
    body = {
        **OK_BODY,
        "output": {
            "message": {
                "role": "assistant",
                "content": [
                    {"reasoningContent": {"reasoningText": {"text": "hmm"}}},
                    {"text": "a"},
                    {"text": "b"},
                ],
            }
        },
        "usage": usage,
    }
    result = await mocked(200, body).complete(ask(user("hi"), model=CLAUDE), timeout_s=TIMEOUT_S)
    assert (result.input_tokens, result.cached_input_tokens, result.output_tokens) == (
        2103,
        100,
        59,
    )
    assert result.content == "ab"


@pytest.mark.parametrize(
    "body",
    [
        {**OK_BODY, "usage": {"outputTokens": 1}},
        {**OK_BODY, "output": {}},
        {
            **OK_BODY,
            "output": {"message": {"role": "assistant", "content": [{"toolUse": {"name": "x"}}]}},
        },
    ],
)
async def test_unusable_bodies_are_malformed(body: dict[str, Any]) -> None:
    with pytest.raises(MalformedResponse):
        await mocked(200, body).complete(ask(user("hi"), model=CLAUDE), timeout_s=TIMEOUT_S)
