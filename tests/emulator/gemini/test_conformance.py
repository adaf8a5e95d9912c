"""Gemini generateContent: our adapter's requests and the emulator's replies, checked
against the official ``google-genai`` SDK's types, field by field under their REST
(camelCase) names."""

from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types as gt

from adapters.base import ProviderRequest
from adapters.credentials import Credentials
from adapters.gemini.payload import build_payload
from emulator.server import RunningEmulator
from schemas.chat import ImagePart, ResponseFormat, TextPart, ToolCall
from schemas.events import ChatMessage, GenerationParams
from schemas.providers import GeminiProvider
from tests.emulated import FAULT_STATUSES, WEATHER, StartEmulator, complete_capturing, faulty
from tests.emulator.sdk_fields import model_errors

AUTH = {"x-goog-api-key": "test-key"}
MODEL = "gemini-emu"
BODY: dict[str, Any] = {
    "contents": [{"role": "user", "parts": [{"text": "what is the capital of Portugal"}]}],
    "systemInstruction": {"parts": [{"text": "be brief"}]},
    "generationConfig": {"maxOutputTokens": 50},
}
RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"

# The REST body is the request's contents, a GenerationConfig under generationConfig,
# and the rest of the SDK's GenerateContentConfig hoisted to the top level.
_GENERATION_FIELDS = {f.alias for f in gt.GenerationConfig.model_fields.values()}
TOP_LEVEL: dict[str, Any] = {
    alias: info.annotation
    for info in gt.GenerateContentConfig.model_fields.values()
    if (alias := info.alias) is not None and alias not in _GENERATION_FIELDS
} | {
    "contents": list[gt.Content],
    "generationConfig": gt.GenerationConfig,
    # The SDK accepts callables and plain strings here and converts them; on the
    # wire these are always the models.
    "systemInstruction": gt.Content,
    "tools": list[gt.Tool],
}


def request_errors(body: dict[str, Any]) -> list[str]:
    """Where our request body departs from the SDK's types, at any depth."""
    errors = [f"$.{k}: not a request field" for k in body if k not in TOP_LEVEL]
    for key, value in body.items():
        if key in TOP_LEVEL:
            errors += model_errors(value, TOP_LEVEL[key], f"$.{key}")
    return errors


def full_request() -> ProviderRequest:
    call = ToolCall(id="call_1", name="get_weather", arguments={"city": "Lisbon"})
    return ProviderRequest(
        upstream_model=MODEL,
        messages=[
            ChatMessage(role="system", content="be brief"),
            ChatMessage(
                role="user",
                content=[
                    TextPart(text="what is this, and the weather?"),
                    ImagePart(media_type="image/png", data="iVBORw0KGgo="),
                ],
            ),
            ChatMessage(role="assistant", content="checking", tool_calls=[call]),
            ChatMessage(role="tool", tool_call_id="call_1", content="sunny"),
        ],
        params=GenerationParams(max_tokens=64, temperature=0.4, top_p=0.9, stop=["END"]),
        tools=[WEATHER],
        tool_choice="auto",
        response_format=ResponseFormat(type="json_schema", json_schema={"type": "object"}),
    )


async def test_adapter_request_fits_the_sdk_types(start_emulator: StartEmulator) -> None:
    emulator = await start_emulator()
    config = GeminiProvider(format="gemini", base_url=emulator.base_url)
    # The emulator refuses unknown fields: success is itself a check.
    result, [sent] = await complete_capturing(config, Credentials(api_key="k"), full_request())
    body = orjson.loads(sent.content)
    assert sent.url.path == f"/v1beta/models/{MODEL}:generateContent"
    assert request_errors(body) == []
    assert set(body) == {"contents", "systemInstruction", "tools", "toolConfig", "generationConfig"}
    # The SDK's own validation agrees (its models forbid unknown fields).
    for content in body["contents"]:
        gt.Content.model_validate(content)
    gt.GenerationConfig.model_validate(body["generationConfig"])
    gt.Tool.model_validate(body["tools"][0])
    gt.ToolConfig.model_validate(body["toolConfig"])
    assert orjson.loads(result.content) == {}


@pytest.mark.parametrize(
    ("mutate", "where"),
    [
        (lambda b: b.update(model="x"), "$.model"),
        (lambda b: b["generationConfig"].update(maxTokens=5), "$.generationConfig"),
        (lambda b: b["contents"][0]["parts"][1].update(inline_data={}), "$.contents[0].parts[1]"),
        (lambda b: b["tools"][0]["functionDeclarations"][0].update(input_schema={}),
         "$.tools[0].functionDeclarations[0]"),
        (lambda b: b["contents"][1]["parts"][1]["functionCall"].update(arguments={}),
         "$.contents[1].parts[1].functionCall"),
        (lambda b: b["toolConfig"].update(mode="ANY"), "$.toolConfig"),
    ],
)  # fmt: skip
def test_the_type_walk_catches_invented_fields(
    mutate: Callable[[dict[str, Any]], None], where: str
) -> None:
    body = orjson.loads(orjson.dumps(build_payload(full_request(), "g")))
    assert request_errors(body) == []
    mutate(body)
    errors = request_errors(body)
    assert errors
    assert all(e.startswith(where) for e in errors), errors


async def post(
    http: httpx.AsyncClient, emulator: RunningEmulator, body: dict[str, Any]
) -> httpx.Response:
    url = f"{emulator.base_url}/v1beta/models/{MODEL}:generateContent"
    return await http.post(url, json=body, headers=AUTH)


def assert_response_fits(data: dict[str, Any]) -> gt.GenerateContentResponse:
    # Walked by alias: a snake_case or invented key fails even where the SDK, which
    # also populates by name, would accept it.
    assert model_errors(data, gt.GenerateContentResponse) == []
    return gt.GenerateContentResponse.model_validate(data)


async def test_text_reply_matches_sdk_types(
    start_emulator: StartEmulator, http: httpx.AsyncClient
) -> None:
    emulator = await start_emulator()
    response = await post(http, emulator, BODY)
    assert response.status_code == 200
    parsed = assert_response_fits(response.json())
    assert parsed.text
    assert parsed.model_version == MODEL
    assert parsed.response_id
    [candidate] = parsed.candidates or []
    assert candidate.finish_reason == gt.FinishReason.STOP
    usage = parsed.usage_metadata
    assert usage is not None and usage.prompt_token_count and usage.candidates_token_count
    assert usage.total_token_count == usage.prompt_token_count + usage.candidates_token_count


async def test_function_call_json_and_cache_match_sdk_types(
    start_emulator: StartEmulator, http: httpx.AsyncClient
) -> None:
    emulator = await start_emulator()
    tools = [{"functionDeclarations": [{"name": "get_weather", "parametersJsonSchema": {
        "type": "object", "properties": {"city": {"type": "string"}}}}]}]  # fmt: skip
    body = {
        "contents": [{"role": "user", "parts": [{"text": "word " * 1200 + "get_weather"}]}],
        "tools": tools,
    }
    await post(http, emulator, body)
    parsed = assert_response_fits((await post(http, emulator, body)).json())
    assert parsed.function_calls is not None
    [call] = parsed.function_calls
    assert (call.name, call.args) == ("get_weather", {"city": "example"})
    usage = parsed.usage_metadata
    assert usage is not None and usage.cached_content_token_count
    assert 0 < usage.cached_content_token_count <= (usage.prompt_token_count or 0)

    schema = {"type": "object", "properties": {"n": {"type": "integer"}}}
    shaped = {**BODY, "generationConfig": {"responseMimeType": "application/json",
                                           "responseJsonSchema": schema}}  # fmt: skip
    parsed = assert_response_fits((await post(http, emulator, shaped)).json())
    assert orjson.loads(parsed.text or "") == {"n": 1}


async def test_safety_block_matches_sdk_types(
    start_emulator: StartEmulator, http: httpx.AsyncClient
) -> None:
    emulator = await start_emulator(faulty(content_filter_rate=1.0))
    parsed = assert_response_fits((await post(http, emulator, BODY)).json())
    [candidate] = parsed.candidates or []
    assert candidate.finish_reason == gt.FinishReason.SAFETY
    assert candidate.content is None
    assert candidate.safety_ratings and candidate.safety_ratings[0].blocked


@pytest.mark.parametrize("status", [*FAULT_STATUSES, "context", "no_key", "bad_field"])
async def test_error_bodies_match_google_shape(
    start_emulator: StartEmulator, http: httpx.AsyncClient, status: int | str
) -> None:
    body, headers = BODY, AUTH
    if isinstance(status, int):
        emulator = await start_emulator(faulty(error_rates={status: 1.0}, retry_after_s=1.5))
    else:
        emulator = await start_emulator(faulty(context_window=3))
        body = {**BODY, "generationConfig": {"maxTokens": 5}} if status == "bad_field" else BODY
        headers = {} if status == "no_key" else AUTH
    url = f"{emulator.base_url}/v1beta/models/{MODEL}:generateContent"
    response = await http.post(url, json=body, headers=headers)
    data = response.json()
    assert set(data) == {"error"}
    error = data["error"]
    assert set(error) <= {"code", "message", "status", "details"}
    assert error["code"] == response.status_code
    # The SDK reads Google's error shape into code, status and message.
    parsed = genai_errors.APIError(response.status_code, data)
    assert (parsed.code, parsed.status, parsed.message) == (
        error["code"],
        error["status"],
        error["message"],
    )
    if status == 429:
        assert error["details"] == [{"@type": RETRY_INFO, "retryDelay": "1.5s"}]
        assert response.headers["retry-after"] == "2"
    elif status == "context":
        assert (response.status_code, parsed.status) == (400, "INVALID_ARGUMENT")
        assert "exceeds the maximum number of tokens allowed (3)" in error["message"]
    elif status == "no_key":
        assert (response.status_code, parsed.status) == (403, "PERMISSION_DENIED")
    elif status == "bad_field":
        assert 'Unknown name "maxTokens"' in error["message"]
    else:
        assert "details" not in error


async def test_official_sdk_round_trip(start_emulator: StartEmulator) -> None:
    emulator = await start_emulator()
    options = gt.HttpOptions(base_url=emulator.base_url, api_version="v1beta")
    client = genai.Client(api_key="test-key", http_options=options)
    weather = gt.FunctionDeclaration(
        name="get_weather", description="weather", parameters_json_schema=WEATHER.parameters
    )
    config = gt.GenerateContentConfig(
        system_instruction="be brief",
        max_output_tokens=50,
        temperature=0.2,
        top_p=0.9,
        stop_sequences=["never-appears"],
        tools=[gt.Tool(function_declarations=[weather])],
        tool_config=gt.ToolConfig(function_calling_config=gt.FunctionCallingConfig(mode="ANY")),
        automatic_function_calling=gt.AutomaticFunctionCallingConfig(disable=True),
    )
    # The SDK sends some fields by their proto names (parameters_json_schema), which
    # Google's parser accepts and so must the emulator.
    called = await client.aio.models.generate_content(model=MODEL, contents="hi", config=config)
    assert called.function_calls is not None
    assert called.function_calls[0].name == "get_weather"
    answer = gt.Part.from_function_response(name="get_weather", response={"output": "sun"})
    answered = await client.aio.models.generate_content(
        model=MODEL,
        contents=[
            gt.Content(role="user", parts=[gt.Part.from_text(text="hi")]),
            called.candidates[0].content if called.candidates else gt.Content(),
            gt.Content(role="user", parts=[answer]),
        ],
        config=config,
    )
    assert answered.text
    assert answered.function_calls is None


async def test_official_sdk_reads_rate_limits(start_emulator: StartEmulator) -> None:
    emulator = await start_emulator(faulty(error_rates={429: 1.0}, retry_after_s=7))
    options = gt.HttpOptions(base_url=emulator.base_url, api_version="v1beta")
    client = genai.Client(api_key="test-key", http_options=options)
    with pytest.raises(genai_errors.ClientError) as caught:
        await client.aio.models.generate_content(model=MODEL, contents="hi")
    assert (caught.value.code, caught.value.status) == (429, "RESOURCE_EXHAUSTED")
    details = caught.value.details["error"]["details"]
    assert details == [{"@type": RETRY_INFO, "retryDelay": "7s"}]


def test_response_walk_is_strict() -> None:
    # The SDK populates by field name as well as alias, so it accepts snake_case keys
    # Google never sends; the walk does not.
    data = {"candidates": [], "usage_metadata": {"promptTokenCount": 1}, "modelVersion": "m"}
    gt.GenerateContentResponse.model_validate(data)
    assert model_errors(data, gt.GenerateContentResponse) == [
        "$.usage_metadata: not a field of GenerateContentResponse"
    ]
    bad_enum = {"candidates": [{"finishReason": "DONE"}]}
    assert model_errors(bad_enum, gt.GenerateContentResponse) == [
        f"$.candidates[0].finishReason: 'DONE' not in {gt.FinishReason}"
    ]
