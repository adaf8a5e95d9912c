from functools import partial
from typing import Any

import httpx
import pytest

from adapters.base import ChatAdapter, ProviderRequest
from adapters.capabilities import check_supported
from adapters.credentials import Credentials
from adapters.errors import (
    AuthenticationFailed,
    ContentFiltered,
    ContextWindowExceeded,
    InvalidRequest,
    MalformedResponse,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
    UnsupportedFeature,
)
from adapters.gemini.adapter import GeminiAdapter
from adapters.gemini.payload import GENERATED_ID_PREFIX, build_payload
from schemas.chat import ImagePart, ResponseFormat, TextPart, ToolCall, ToolSpec
from schemas.events import ChatMessage, GenerationParams
from schemas.providers import GeminiProvider
from tests.adapters.helpers import (
    PNG,
    TIMEOUT_S,
    AdapterFor,
    Handler,
    ask,
    json_reply,
    mock_client,
    user,
)
from tests.emulated import WEATHER, StartEmulator

conversation = partial(ask, model="gemini-emu")


# Against the emulator


async def test_generated_call_ids_are_stable(
    start_emulator: StartEmulator, adapter_for: AdapterFor
) -> None:
    # The rest of the round trip is in tests/adapters/test_contract.py.
    emulator = await start_emulator()
    adapter = adapter_for("gemini", emulator)
    request = conversation(user("call get_weather for Lisbon"), tools=[WEATHER])
    first = await adapter.complete(request, timeout_s=TIMEOUT_S)
    # Gemini 2.x gives no call id; ours is derived from the call, so it is stable.
    assert first.tool_calls[0].id.startswith(GENERATED_ID_PREFIX)
    again = await adapter.complete(request, timeout_s=TIMEOUT_S)
    assert again.tool_calls[0].id == first.tool_calls[0].id


# Capabilities and the payload


def test_image_urls_are_refused_before_the_call() -> None:
    config = GeminiProvider(format="gemini", base_url="http://unused")
    adapter = GeminiAdapter("g", config, httpx.AsyncClient(), Credentials(api_key="k"))
    by_url = ImagePart(media_type="image/png", url="https://example.com/cat.png")
    with pytest.raises(UnsupportedFeature, match="image_urls"):
        check_supported(conversation(user([by_url])), adapter.capabilities, "g")
    inline = ImagePart(media_type="image/png", data=PNG)
    check_supported(
        conversation(
            ChatMessage(role="system", content="s"),
            user([inline]),
            tools=[WEATHER],
            tool_choice="required",
            params=GenerationParams(temperature=0.1, top_p=0.5, stop=["x"]),
            response_format=ResponseFormat(type="json_object"),
        ),
        adapter.capabilities,
        "g",
    )


def test_payload_maps_roles_system_and_generation_config() -> None:
    request = conversation(
        ChatMessage(role="system", content="be brief"),
        user([TextPart(text="look"), ImagePart(media_type="image/jpeg", data=PNG)]),
        ChatMessage(role="assistant", content="a cat"),
        ChatMessage(role="system", content="in French"),
        user("and now?"),
        params=GenerationParams(max_tokens=9, temperature=0.5, top_p=0.9, stop=["END"]),
        response_format=ResponseFormat(type="json_schema", json_schema={"type": "object"}),
    )
    assert build_payload(request, "g") == {
        "contents": [
            {
                "role": "user",
                "parts": [
                    {"text": "look"},
                    {"inlineData": {"mimeType": "image/jpeg", "data": PNG}},
                ],
            },
            {"role": "model", "parts": [{"text": "a cat"}]},
            {"role": "user", "parts": [{"text": "and now?"}]},
        ],
        "systemInstruction": {"parts": [{"text": "be brief\n\nin French"}]},
        "generationConfig": {
            "maxOutputTokens": 9,
            "temperature": 0.5,
            "topP": 0.9,
            "stopSequences": ["END"],
            "responseMimeType": "application/json",
            "responseJsonSchema": {"type": "object"},
        },
    }
    assert "generationConfig" not in build_payload(conversation(user("hi")), "g")


def test_payload_maps_tool_calls_and_merges_their_results() -> None:
    ours = ToolCall(id=f"{GENERATED_ID_PREFIX}abc", name="get_weather", arguments={"city": "A"})
    theirs = ToolCall(id="call_77", name="get_time", arguments={})
    request = conversation(
        user("weather and time?"),
        ChatMessage(role="assistant", content="checking", tool_calls=[ours, theirs]),
        ChatMessage(role="tool", tool_call_id=theirs.id, content="noon"),
        ChatMessage(role="tool", tool_call_id=ours.id, content="sunny"),
        tools=[WEATHER, ToolSpec(name="get_time")],
        tool_choice="required",
    )
    payload = build_payload(request, "g")
    assert payload["contents"][1:] == [  # type: ignore[index]
        {
            "role": "model",
            "parts": [
                {"text": "checking"},
                # Ids we made up stay home; a real id goes back so Gemini can match it.
                {"functionCall": {"name": "get_weather", "args": {"city": "A"}}},
                {"functionCall": {"name": "get_time", "args": {}, "id": "call_77"}},
            ],
        },
        {
            "role": "user",
            "parts": [
                {
                    "functionResponse": {
                        "name": "get_time",
                        "response": {"output": "noon"},
                        "id": "call_77",
                    }
                },
                {"functionResponse": {"name": "get_weather", "response": {"output": "sunny"}}},
            ],
        },
    ]
    assert payload["tools"] == [
        {
            "functionDeclarations": [
                {
                    "name": "get_weather",
                    "description": "current weather",
                    "parametersJsonSchema": WEATHER.parameters,
                },
                {"name": "get_time", "parametersJsonSchema": {"type": "object", "properties": {}}},
            ]
        }
    ]
    assert payload["toolConfig"] == {"functionCallingConfig": {"mode": "ANY"}}


def test_payload_refuses_results_it_cannot_express() -> None:
    orphan = conversation(user("hi"), ChatMessage(role="tool", tool_call_id="nope", content="x"))
    with pytest.raises(InvalidRequest, match="answers no tool call"):
        build_payload(orphan, "g")
    call = ToolCall(id="c1", name="snap")
    picture = conversation(
        user("take one"),
        ChatMessage(role="assistant", tool_calls=[call]),
        ChatMessage(
            role="tool",
            tool_call_id="c1",
            content=[ImagePart(media_type="image/png", data=PNG)],
        ),
    )
    with pytest.raises(UnsupportedFeature):
        build_payload(picture, "g")


# Replies no emulator profile produces


def mocked(handler: Handler, model: str = "gemini-emu") -> tuple[ChatAdapter, ProviderRequest]:
    client = mock_client(handler)
    config = GeminiProvider(format="gemini", base_url="http://mock.test/", headers={"x-extra": "1"})
    adapter = GeminiAdapter("mock", config, client, Credentials(api_key="k"))
    return adapter, ProviderRequest(upstream_model=model, messages=[user("hi")])


def reply(status: int, body: object, headers: dict[str, str] | None = None) -> Handler:
    answer = json_reply(
        status,
        body,
        headers,
        url="http://mock.test/v1beta/models/gemini-emu:generateContent",
        sent_headers={"x-goog-api-key": "k", "x-extra": "1"},
    )

    def handle(request: httpx.Request) -> httpx.Response:
        assert "key" not in request.url.params
        return answer(request)

    return handle


async def run(handler: Handler, model: str = "gemini-emu") -> Any:
    adapter, request = mocked(handler, model)
    return await adapter.complete(request, timeout_s=TIMEOUT_S)


def google_error(
    code: int, status: str, message: str = "nope", details: list[dict[str, Any]] | None = None
) -> dict[str, object]:
    error: dict[str, object] = {"code": code, "message": message, "status": status}
    if details is not None:
        error["details"] = details
    return {"error": error}


KEY_INVALID = {
    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
    "reason": "API_KEY_INVALID",
    "domain": "googleapis.com",
}
TOO_LONG = "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576)."


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (400, google_error(400, "INVALID_ARGUMENT", "API key not valid.", [KEY_INVALID]),
         AuthenticationFailed),
        (400, google_error(400, "INVALID_ARGUMENT", TOO_LONG), ContextWindowExceeded),
        (400, google_error(400, "INVALID_ARGUMENT", "bad field"), InvalidRequest),
        (400, google_error(400, "FAILED_PRECONDITION", "enable billing"), AuthenticationFailed),
        # The context-window phrase only counts on a 400 INVALID_ARGUMENT.
        (500, google_error(500, "INTERNAL", TOO_LONG), ProviderUnavailable),
        (401, google_error(401, "UNAUTHENTICATED"), AuthenticationFailed),
        (404, google_error(404, "NOT_FOUND", "models/x is not found"), InvalidRequest),
        (413, google_error(413, "INVALID_ARGUMENT", "payload too large"), ContextWindowExceeded),
        (504, google_error(504, "DEADLINE_EXCEEDED"), ProviderTimeout),
        (503, [google_error(503, "UNAVAILABLE")], ProviderUnavailable),
        (503, b"<html>upstream connect error</html>", ProviderUnavailable),
        (200, b"{", MalformedResponse),
        (200, {"candidates": []}, MalformedResponse),
        (200, {"candidates": [], "usageMetadata": {"promptTokenCount": 3}}, MalformedResponse),
    ],
)  # fmt: skip
async def test_error_translation(status: int, body: object, expected: type[ProviderError]) -> None:
    with pytest.raises(expected) as caught:
        await run(reply(status, body))
    assert type(caught.value) is expected
    assert caught.value.status_code == status


async def test_quota_429_reads_retry_info_without_header() -> None:
    retry = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "33s"}
    quota = {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": []}
    body = google_error(429, "RESOURCE_EXHAUSTED", "quota", [quota, retry])
    with pytest.raises(RateLimited) as caught:
        await run(reply(429, body))
    assert caught.value.retry_after_s == 33.0
    with pytest.raises(RateLimited) as bare:
        await run(reply(429, google_error(429, "RESOURCE_EXHAUSTED"), {"retry-after": "4"}))
    assert bare.value.retry_after_s == 4.0


def candidate(parts: list[dict[str, Any]], finish: str = "STOP") -> dict[str, Any]:
    return {"content": {"role": "model", "parts": parts}, "finishReason": finish}


@pytest.mark.parametrize(
    "body",
    [
        {"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}, "usageMetadata": {}},
        {"candidates": [{"finishReason": "RECITATION"}], "usageMetadata": {}},
        {"candidates": [candidate([{"text": "x"}], "SPII")], "usageMetadata": {}},
    ],
)
async def test_blocked_answers_are_content_filtered(body: dict[str, Any]) -> None:
    with pytest.raises(ContentFiltered):
        await run(reply(200, body))


async def test_reply_with_thoughts_ids_and_cache() -> None:
    body = {
        "candidates": [
            candidate(
                [
                    {"text": "planning...", "thought": True},
                    {"text": "Let me check."},
                    {"functionCall": {"id": "fc_1", "name": "f", "args": {"a": 1}}},
                    {"functionCall": {"name": "g"}},
                ]
            )
        ],
        "usageMetadata": {
            "promptTokenCount": 100,
            "cachedContentTokenCount": 64,
            "candidatesTokenCount": 7,
            "thoughtsTokenCount": 5,
            "totalTokenCount": 112,
        },
        "modelVersion": "gemini-2.5-flash-001",
        "responseId": "resp-1",
        "someFutureField": {"x": 1},
    }
    result = await run(reply(200, body), model="models/gemini-emu")
    assert result.content == "Let me check."
    assert result.finish_reason == "tool_calls"
    assert result.tool_calls[0].id == "fc_1"
    assert result.tool_calls[1].id.startswith(GENERATED_ID_PREFIX)
    assert (result.input_tokens, result.cached_input_tokens, result.output_tokens) == (100, 64, 12)
    assert (result.provider_request_id, result.upstream_model) == ("resp-1", "gemini-2.5-flash-001")


async def test_model_names_are_escaped_in_the_path() -> None:
    seen: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.raw_path.decode())
        return httpx.Response(200, json={"candidates": [candidate([])], "usageMetadata": {}})

    result = await run(handle, model="tuned/my model")
    assert seen == ["/v1beta/models/tuned%2Fmy%20model:generateContent"]
    assert (result.content, result.finish_reason) == ("", "stop")
