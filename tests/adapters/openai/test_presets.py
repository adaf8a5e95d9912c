from typing import Any, get_args

import httpx
import orjson
import pytest
from pydantic import HttpUrl

from adapters.base import ProviderRequest, ProviderResult
from adapters.capabilities import Feature, check_supported
from adapters.credentials import Credentials
from adapters.errors import UnsupportedFeature
from adapters.openai.adapter import OpenAIAdapter
from adapters.openai.payload import build_payload
from adapters.openai.presets import PRESETS
from emulator.server import RunningEmulator
from schemas.chat import (
    ChatMessage,
    GenerationParams,
    ImagePart,
    ResponseFormat,
    TextPart,
    ToolCall,
    ToolSpec,
)
from schemas.providers import OpenAIPreset, OpenAIProvider
from tests.adapters.helpers import TIMEOUT_S, mock_client
from tests.emulated import StartEmulator

API_VERSION = "2024-10-21"
TOOL = ToolSpec(
    name="lookup", parameters={"type": "object", "properties": {"q": {"type": "string"}}}
)
SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}}


def config(preset: OpenAIPreset, base_url: str, **extra: Any) -> OpenAIProvider:
    version = API_VERSION if preset == "azure" else None
    return OpenAIProvider(
        format="openai", preset=preset, base_url=base_url, api_version=version, **extra
    )


def request(**changes: Any) -> ProviderRequest:
    base = ProviderRequest(
        upstream_model="model-a", messages=[ChatMessage(role="user", content="hello there")]
    )
    return base.model_copy(update=changes)


def capture(sent: list[httpx.Request]) -> httpx.AsyncClient:
    def handle(req: httpx.Request) -> httpx.Response:
        sent.append(req)
        body = {
            "choices": [{"message": {"content": "ok"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1},
        }
        return httpx.Response(200, content=orjson.dumps(body))

    return mock_client(handle)


def test_every_preset_has_an_entry() -> None:
    assert set(PRESETS) == set(get_args(OpenAIPreset))


@pytest.mark.parametrize(
    ("preset", "lacks"),
    [
        ("openai", set()),
        ("azure", set()),
        ("deepseek", {"images", "image_urls", "json_schema"}),
        (
            "perplexity",
            {"tools", "tool_choice_required", "images", "image_urls", "stop", "json_object"},
        ),
        ("lmstudio", {"json_object", "image_urls", "tool_choice_required"}),
        ("ollama", {"tool_choice_required"}),
        ("tgi", {"json_object", "json_schema", "tool_choice_required"}),
    ],
)
def test_declared_features(preset: OpenAIPreset, lacks: set[Feature]) -> None:
    every: set[Feature] = set(get_args(Feature))
    assert set(PRESETS[preset].capabilities.features) == every - lacks


async def test_missing_feature_fails_before_the_call() -> None:
    sent: list[httpx.Request] = []
    adapter = OpenAIAdapter(
        "ds", config("deepseek", "http://mock.test/v1"), capture(sent), Credentials("k")
    )
    image = ImagePart(media_type="image/png", data="iVBORw0KGgo=")
    call = request(messages=[ChatMessage(role="user", content=[TextPart(text="see"), image])])
    with pytest.raises(UnsupportedFeature, match="images"):
        check_supported(call, adapter.capabilities, adapter.provider)
    assert sent == []


async def test_azure_puts_the_deployment_in_the_path_and_uses_api_key() -> None:
    sent: list[httpx.Request] = []
    adapter = OpenAIAdapter(
        "az",
        config("azure", "https://res.openai.azure.com/", headers={"X-Trace": "t1"}),
        capture(sent),
        Credentials(api_key="secret"),
    )
    await adapter.complete(request(upstream_model="gpt 4o/prod"), timeout_s=TIMEOUT_S)
    [sent_request] = sent
    assert str(sent_request.url) == (
        "https://res.openai.azure.com/openai/deployments/gpt%204o%2Fprod/chat/completions"
        f"?api-version={API_VERSION}"
    )
    assert sent_request.headers["api-key"] == "secret"
    assert "authorization" not in sent_request.headers
    assert sent_request.headers["x-trace"] == "t1"
    assert "model" not in orjson.loads(sent_request.content)


async def test_openrouter_sends_configured_headers_but_not_over_the_key() -> None:
    sent: list[httpx.Request] = []
    headers = {"HTTP-Referer": "https://app.example", "X-Title": "app", "Authorization": "x"}
    adapter = OpenAIAdapter(
        "or",
        config("openrouter", "https://openrouter.ai/api/v1", headers=headers),
        capture(sent),
        Credentials(api_key="k"),
    )
    await adapter.complete(request(), timeout_s=TIMEOUT_S)
    [sent_request] = sent
    assert str(sent_request.url) == "https://openrouter.ai/api/v1/chat/completions"
    assert sent_request.headers["http-referer"] == "https://app.example"
    assert sent_request.headers["x-title"] == "app"
    assert sent_request.headers.get_list("authorization") == ["Bearer k"]


@pytest.mark.parametrize(
    ("preset", "field"),
    [("openai", "max_completion_tokens"), ("azure", "max_completion_tokens"),
     ("mistral", "max_tokens"), ("vllm", "max_tokens")],
)  # fmt: skip
def test_max_tokens_field(preset: OpenAIPreset, field: str) -> None:
    payload = build_payload(request(params=GenerationParams(max_tokens=9)), PRESETS[preset])
    assert payload[field] == 9
    assert {"max_tokens", "max_completion_tokens"} & set(payload) == {field}


def test_mistral_tool_call_ids_are_nine_alphanumerics_and_still_match() -> None:
    messages = [
        ChatMessage(role="user", content="go"),
        ChatMessage(
            role="assistant",
            tool_calls=[
                ToolCall(id="call_abc-123", name="lookup"),
                ToolCall(id="Ab3De6Gh9", name="lookup"),
            ],
        ),
        ChatMessage(role="tool", tool_call_id="call_abc-123", content="r1"),
        ChatMessage(role="tool", tool_call_id="Ab3De6Gh9", content="r2"),
    ]
    payload = build_payload(request(messages=messages, tools=[TOOL]), PRESETS["mistral"])
    sent = payload["messages"]
    assert isinstance(sent, list)
    ids = [c["id"] for c in sent[1]["tool_calls"]]
    assert ids[1] == "Ab3De6Gh9"
    assert len(ids[0]) == 9 and ids[0].isalnum()
    assert [sent[2]["tool_call_id"], sent[3]["tool_call_id"]] == ids
    # Other services get the ids unchanged.
    plain = build_payload(request(messages=messages, tools=[TOOL]), PRESETS["openai"])
    assert isinstance(plain["messages"], list)
    assert plain["messages"][1]["tool_calls"][0]["id"] == "call_abc-123"


@pytest.mark.parametrize(("preset", "sends_tools"), [("openai", True), ("ollama", False)])
def test_tool_choice_none(preset: OpenAIPreset, sends_tools: bool) -> None:
    payload = build_payload(request(tools=[TOOL], tool_choice="none"), PRESETS[preset])
    # Without a tool_choice field, "none" is said by offering no tools at all.
    assert ("tools" in payload) is sends_tools
    assert payload.get("tool_choice") == ("none" if sends_tools else None)


def test_images_outside_user_messages_are_refused() -> None:
    image = ImagePart(media_type="image/png", data="iVBORw0KGgo=")
    messages = [
        ChatMessage(role="user", content="hi"),
        ChatMessage(role="assistant", content=[TextPart(text="look"), image]),
    ]
    with pytest.raises(UnsupportedFeature):
        build_payload(request(messages=messages))


# Every preset against the emulator, using every feature it declares.


def emulator_url(preset: OpenAIPreset, emulator: RunningEmulator) -> str:
    if preset == "azure":
        return emulator.base_url
    if preset == "perplexity":
        return emulator.base_url
    return f"{emulator.base_url}/v1"


def full_request(features: frozenset[Feature], *, tools: bool) -> ProviderRequest:
    content: list[TextPart | ImagePart] = [TextPart(text="call lookup about Lisbon")]
    if "images" in features:
        content.append(ImagePart(media_type="image/png", data="iVBORw0KGgo="))
    if "image_urls" in features:
        content.append(ImagePart(media_type="image/jpeg", url=HttpUrl("https://example.org/a.jpg")))
    params = GenerationParams(
        max_tokens=50,
        temperature=0.3 if "temperature" in features else None,
        top_p=0.9 if "top_p" in features else None,
        stop=["never-appears"] if "stop" in features else None,
    )
    call = ProviderRequest(
        upstream_model="model-a",
        messages=[
            ChatMessage(role="system", content="be brief"),
            ChatMessage(role="user", content=content),
        ],
        params=params,
    )
    if tools:
        choice = "required" if "tool_choice_required" in features else "auto"
        return call.model_copy(update={"tools": [TOOL], "tool_choice": choice})
    kind = "json_schema" if "json_schema" in features else "json_object"
    schema = SCHEMA if kind == "json_schema" else None
    return call.model_copy(
        update={"response_format": ResponseFormat(type=kind, json_schema=schema)}
    )


async def answer(
    preset: OpenAIPreset, emulator: RunningEmulator, call: ProviderRequest
) -> ProviderResult:
    async with httpx.AsyncClient() as client:
        adapter = OpenAIAdapter(
            preset, config(preset, emulator_url(preset, emulator)), client, Credentials("k")
        )
        check_supported(call, adapter.capabilities, preset)
        return await adapter.complete(call, timeout_s=TIMEOUT_S)


@pytest.mark.parametrize("preset", get_args(OpenAIPreset))
async def test_preset_round_trip_with_all_declared_features(
    start_emulator: StartEmulator, preset: OpenAIPreset
) -> None:
    emulator = await start_emulator()
    features = PRESETS[preset].features
    results: list[ProviderResult] = []
    if "tools" in features:
        results.append(await answer(preset, emulator, full_request(features, tools=True)))
        assert [c.name for c in results[-1].tool_calls] == ["lookup"]
    if features & {"json_object", "json_schema"}:
        results.append(await answer(preset, emulator, full_request(features, tools=False)))
        document = orjson.loads(results[-1].content)
        assert set(document) == ({"city"} if "json_schema" in features else {"answer"})
    assert results
    for result in results:
        assert result.provider_request_id is not None
        assert result.provider_request_id.startswith("req_")
        # Only Perplexity's route attaches sources.
        assert bool(result.citations) is (preset == "perplexity")
