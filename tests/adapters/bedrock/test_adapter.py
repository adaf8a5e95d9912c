from typing import Any

import httpx
import pytest

from adapters.bedrock.adapter import FALLBACK_REGION, BedrockAdapter, region_for
from adapters.capabilities import check_supported
from adapters.credentials import Credentials
from adapters.errors import (
    ContentFiltered,
    MalformedResponse,
    ProviderError,
    UnsupportedFeature,
)
from adapters.registry import ADAPTERS
from schemas.chat import ChatMessage, ImagePart, ResponseFormat
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


@pytest.mark.parametrize(
    ("status", "error_type"),
    [
        (429, "ThrottlingException"),
        (500, "InternalServerException"),
        (502, "ServiceUnavailableException"),
        (503, "ServiceUnavailableException"),
        (529, "ServiceUnavailableException"),
        (504, "ModelTimeoutException"),
    ],
)
async def test_fault_statuses_name_the_error_type(
    start_emulator: StartEmulator, bedrock: Bedrock, status: int, error_type: str
) -> None:
    # Class, status, request id and retry-after: tests/adapters/test_contract.py.
    emulator = await start_emulator(faulty(error_rates={status: 1.0}))
    with pytest.raises(ProviderError) as caught:
        await bedrock(emulator.base_url).complete(ask(user("hi")), timeout_s=TIMEOUT_S)
    # The emulator names the error only in x-amzn-ErrorType, so this is the header read.
    assert caught.value.message.startswith(f"{error_type}: ")


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
