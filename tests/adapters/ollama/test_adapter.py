from typing import Any

import httpx
import orjson
import pytest

from adapters.base import ChatAdapter
from adapters.credentials import Credentials
from adapters.errors import (
    AuthenticationFailed,
    ContextWindowExceeded,
    InvalidRequest,
    MalformedResponse,
    ProviderError,
    ProviderUnavailable,
)
from adapters.ollama.adapter import OllamaAdapter
from adapters.ollama.payload import build_payload
from schemas.chat import (
    ChatMessage,
    GenerationParams,
    ImagePart,
    ResponseFormat,
    TextPart,
    ToolCall,
)
from schemas.providers import OllamaProvider
from tests.adapters.helpers import (
    PNG,
    TIMEOUT_S,
    AdapterFor,
    Chat,
    Handler,
    ask,
    json_reply,
    mock_client,
)
from tests.emulated import WEATHER, StartEmulator


async def test_no_key_is_fine_and_a_key_is_sent_as_bearer(
    start_emulator: StartEmulator, adapter_for: AdapterFor, chat: Chat
) -> None:
    emulator = await start_emulator()
    result = await adapter_for("ollama", emulator, api_key=None).complete(
        chat(), timeout_s=TIMEOUT_S
    )
    assert result.content
    seen: list[httpx.Request] = []

    def capture(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=orjson.dumps(chat_body()))

    await mocked(capture, api_key=None).complete(chat(), timeout_s=TIMEOUT_S)
    await mocked(capture, api_key="k").complete(chat(), timeout_s=TIMEOUT_S)
    assert "authorization" not in seen[0].headers
    assert seen[1].headers["authorization"] == "Bearer k"


def test_payload_maps_every_field() -> None:
    call = ToolCall(id="c1", name="get_weather", arguments={"city": "Lisbon"})
    request = ask(
        ChatMessage(role="system", content="sys"),
        ChatMessage(
            role="user", content=[TextPart(text="hi"), ImagePart(media_type="image/png", data=PNG)]
        ),
        ChatMessage(role="assistant", content="checking", tool_calls=[call]),
        ChatMessage(role="tool", tool_call_id="c1", content="21C"),
        ChatMessage(role="tool", tool_call_id="unknown", content="?"),
        tools=[WEATHER],
        params=GenerationParams(max_tokens=5, temperature=0.2, top_p=0.9, stop=["END"]),
        response_format=ResponseFormat(type="json_object"),
    )  # fmt: skip
    assert build_payload(request, provider="p") == {
        "model": "model-a",
        "messages": [
            {"role": "system", "content": "sys"},
            {"role": "user", "content": "hi", "images": [PNG]},
            {
                "role": "assistant",
                "content": "checking",
                "tool_calls": [
                    {"function": {"name": "get_weather", "arguments": {"city": "Lisbon"}}}
                ],
            },
            {"role": "tool", "content": "21C", "tool_name": "get_weather"},
            # An id no assistant message made: Ollama's tool_name is optional.
            {"role": "tool", "content": "?"},
        ],
        "stream": False,
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "parameters": WEATHER.parameters,
                    "description": "current weather",
                },
            }
        ],
        "format": "json",
        "options": {"num_predict": 5, "temperature": 0.2, "top_p": 0.9, "stop": ["END"]},
    }  # fmt: skip


def test_tool_choice_none_sends_no_tools() -> None:
    request = ask(ChatMessage(role="user", content="hi"), tools=[WEATHER], tool_choice="none")
    payload = build_payload(request, provider="p")
    assert "tools" not in payload
    assert "options" not in payload


# Replies no emulator profile produces: other statuses and body shapes.


def mocked(handler: Handler, api_key: str | None = None) -> ChatAdapter:
    config = OllamaProvider(format="ollama", base_url="http://mock.test/")
    return OllamaAdapter("mock", config, mock_client(handler), Credentials(api_key=api_key))


def reply(status: int, body: object) -> Handler:
    return json_reply(status, body, url="http://mock.test/api/chat")


def chat_body(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": "llama3.2:latest",
        "created_at": "2025-01-01T00:00:00Z",
        "message": {"role": "assistant", "content": "hi"},
        "done": True,
        "done_reason": "stop",
        "prompt_eval_count": 10,
        "eval_count": 2,
    }
    return body | fields


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (404, {"error": "model 'x' not found, try pulling it first"}, InvalidRequest),
        (400, {"error": "prompt too long; exceeded max context length by 17 tokens"},
         ContextWindowExceeded),
        (500, {"error": "prompt too long; exceeded max context length by 17 tokens"},
         ProviderUnavailable),
        (400, {"error": "invalid format"}, InvalidRequest),
        (402, {"error": "this model requires a subscription"}, AuthenticationFailed),
        (401, {"error": "unauthorized"}, AuthenticationFailed),
        (503, b"<html>bad gateway</html>", ProviderUnavailable),
        (200, b"{", MalformedResponse),
        (200, chat_body(done=False), MalformedResponse),
        (200, chat_body(message={"role": "assistant", "tool_calls": [
            {"function": {"name": "f", "arguments": "{}"}}]}), MalformedResponse),
    ],
)  # fmt: skip
async def test_error_translation(
    chat: Chat, status: int, body: object, expected: type[ProviderError]
) -> None:
    with pytest.raises(expected) as caught:
        await mocked(reply(status, body)).complete(chat(), timeout_s=TIMEOUT_S)
    assert type(caught.value) is expected
    assert caught.value.status_code == status
    if isinstance(body, dict) and "error" in body:
        assert caught.value.message == body["error"]


async def test_cached_prompt_without_eval_count_and_reported_model(chat: Chat) -> None:
    body = chat_body(done_reason="load")
    del body["prompt_eval_count"]
    result = await mocked(reply(200, body)).complete(chat(), timeout_s=TIMEOUT_S)
    assert (result.input_tokens, result.output_tokens) == (0, 2)
    assert result.finish_reason == "other"
    assert result.upstream_model == "llama3.2:latest"
    assert result.provider_request_id is None
