from typing import Any

import httpx
import pytest

from adapters.base import ChatAdapter, ProviderRequest
from adapters.cohere.adapter import CohereAdapter
from adapters.cohere.payload import build_payload
from adapters.credentials import Credentials
from adapters.errors import (
    AuthenticationFailed,
    ContentFiltered,
    ContextWindowExceeded,
    InvalidRequest,
    MalformedResponse,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
    UnsupportedFeature,
)
from schemas.chat import (
    ChatMessage,
    GenerationParams,
    ImagePart,
    ResponseFormat,
    ToolCall,
)
from schemas.providers import CohereProvider
from tests.adapters.helpers import (
    TIMEOUT_S,
    Chat,
    Handler,
    ask,
    json_reply,
    mock_client,
)
from tests.emulated import WEATHER


def test_payload_maps_every_field() -> None:
    call = ToolCall(id="c1", name="get_weather", arguments={"city": "Lisbon"})
    request = ask(
        ChatMessage(role="system", content="sys"),
        ChatMessage(role="user", content="hi"),
        ChatMessage(role="assistant", content="let me check", tool_calls=[call]),
        ChatMessage(role="tool", tool_call_id="c1", content="21C"),
        ChatMessage(role="assistant", content="21C in Lisbon"),
        tools=[WEATHER],
        tool_choice="none",
        params=GenerationParams(max_tokens=5, temperature=0.2, top_p=1.0, stop=["END"]),
    )
    assert build_payload(request, provider="p") == {
        "model": "model-a",
        "messages": [
            {"role": "system", "content": "sys"},
            {"role": "user", "content": "hi"},
            {
                "role": "assistant",
                "tool_calls": [
                    {
                        "id": "c1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":"Lisbon"}'},
                    }
                ],
                "tool_plan": "let me check",
            },
            {"role": "tool", "tool_call_id": "c1", "content": [{"type": "text", "text": "21C"}]},
            {"role": "assistant", "content": "21C in Lisbon"},
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
        "tool_choice": "NONE",
        "max_tokens": 5,
        "temperature": 0.2,
        # Cohere's p stops at 0.99.
        "p": 0.99,
        "stop_sequences": ["END"],
    }


def test_payload_leaves_auto_tool_choice_out_and_maps_json_object() -> None:
    auto = ask(ChatMessage(role="user", content="hi"), tools=[WEATHER])
    assert "tool_choice" not in build_payload(auto, provider="p")
    as_json = ask(
        ChatMessage(role="user", content="hi"), response_format=ResponseFormat(type="json_object")
    )
    assert build_payload(as_json, provider="p")["response_format"] == {"type": "json_object"}


@pytest.mark.parametrize(
    "request_",
    [
        ask(
            ChatMessage(role="user", content="hi"),
            tools=[WEATHER],
            response_format=ResponseFormat(type="json_object"),
        ),
        ask(
            ChatMessage(
                role="tool",
                tool_call_id="c1",
                content=[ImagePart(media_type="image/png", data="iVBORw0KGgo=")],
            )
        ),
    ],
    ids=["json_with_tools", "image_in_tool_result"],
)
async def test_what_cohere_rejects_fails_before_the_call(request_: ProviderRequest) -> None:
    def never(_: httpx.Request) -> httpx.Response:
        raise AssertionError("no request should be sent")

    with pytest.raises(UnsupportedFeature):
        await mocked(never).complete(request_, timeout_s=TIMEOUT_S)


# Replies no emulator profile produces: other documented statuses and body shapes.


def mocked(handler: Handler) -> ChatAdapter:
    config = CohereProvider(
        format="cohere", base_url="http://mock.test/", headers={"X-Client-Name": "ry"}
    )
    return CohereAdapter("mock", config, mock_client(handler), Credentials(api_key="k"))


def reply(status: int, body: object, headers: dict[str, str] | None = None) -> Handler:
    sent = {"authorization": "Bearer k", "x-client-name": "ry"}
    return json_reply(status, body, headers, url="http://mock.test/v2/chat", sent_headers=sent)


def chat_body(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "gen-1",
        "finish_reason": "COMPLETE",
        "message": {"role": "assistant", "content": [{"type": "text", "text": "hi"}]},
        "usage": {
            "billed_units": {"input_tokens": 10, "output_tokens": 2},
            "tokens": {"input_tokens": 70, "output_tokens": 2},
        },
    }
    return body | fields


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (
            400,
            {"message": "too many tokens: total number of tokens in the prompt cannot exceed 10"},
            ContextWindowExceeded,
        ),
        (400, {"message": "too many tokens: size limit exceeded by 11 tokens."},
         ContextWindowExceeded),
        # The same prefix about max_tokens is an ordinary bad request.
        (400, {"message": "too many tokens: max tokens must be less than or equal to 4096"},
         InvalidRequest),
        (500, {"message": "too many tokens: total number of tokens"}, ProviderUnavailable),
        (402, {"message": "please add a payment method"}, AuthenticationFailed),
        (498, {"message": "invalid api token"}, AuthenticationFailed),
        (403, {"message": "forbidden"}, AuthenticationFailed),
        (404, {"message": "model not found"}, InvalidRequest),
        (422, {"message": "invalid request"}, InvalidRequest),
        (499, {"message": "request cancelled"}, ProviderConnectionError),
        (501, {"message": "not implemented"}, InvalidRequest),
        (503, b"upstream connect error", ProviderUnavailable),
        (200, b"{", MalformedResponse),
        (200, {"id": "x", "message": {}}, MalformedResponse),
        (200, chat_body(usage={}), MalformedResponse),
        (200, chat_body(finish_reason="ERROR"), ProviderUnavailable),
        (200, chat_body(finish_reason="TIMEOUT"), ProviderTimeout),
        (200, chat_body(finish_reason="ERROR_TOXIC"), ContentFiltered),
        (
            200,
            chat_body(message={"role": "assistant", "tool_calls": [
                {"id": "t", "type": "function", "function": {"name": "f", "arguments": "{oops"}}]}),
            MalformedResponse,
        ),
    ],
)  # fmt: skip
async def test_error_translation(
    chat: Chat, status: int, body: object, expected: type[ProviderError]
) -> None:
    with pytest.raises(expected) as caught:
        await mocked(reply(status, body)).complete(chat(), timeout_s=TIMEOUT_S)
    assert type(caught.value) is expected
    assert caught.value.status_code == status


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"x-ratelimit-reset": "8"}, 8.0),
        ({"retry-after": "3", "x-ratelimit-reset": "8"}, 3.0),
        # A Unix time would need our clock to agree with Cohere's: not trusted.
        ({"x-ratelimit-reset": "1900000000"}, None),
        ({"x-ratelimit-reset": "soon"}, None),
    ],
)
async def test_rate_limit_wait_headers(
    chat: Chat, headers: dict[str, str], expected: float | None
) -> None:
    handler = reply(429, {"message": "limited"}, {**headers, "x-debug-trace-id": "trace-1"})
    with pytest.raises(RateLimited) as caught:
        await mocked(handler).complete(chat(), timeout_s=TIMEOUT_S)
    assert caught.value.retry_after_s == expected
    assert caught.value.provider_request_id == "trace-1"


async def test_citation_urls_error_limit_and_body_id(chat: Chat) -> None:
    source_doc = {"type": "document", "id": "doc:0", "document": {"url": "https://a.example/x"}}
    source_tool = {"type": "tool", "id": "t:0", "tool_output": {"url": "https://b.example/"}}
    no_url = {"type": "document", "id": "doc:1", "document": {"title": "t"}}
    citations = [
        {"start": 0, "end": 2, "text": "hi", "sources": [source_doc, no_url]},
        {"start": 0, "end": 2, "text": "hi", "sources": [source_tool, source_doc]},
    ]
    body = chat_body(
        finish_reason="ERROR_LIMIT",
        message={
            "role": "assistant",
            "content": [{"type": "thinking", "thinking": "hmm"}, {"type": "text", "text": "hi"}],
            "citations": citations,
        },
        usage={"tokens": {"input_tokens": 70, "output_tokens": 2}, "cached_tokens": 64.0},
    )
    result = await mocked(reply(200, body)).complete(chat(), timeout_s=TIMEOUT_S)
    assert result.citations == ["https://a.example/x", "https://b.example/"]
    assert result.content == "hi"
    assert result.finish_reason == "length"
    # Without billed units, the token counts are the next best thing.
    assert (result.input_tokens, result.output_tokens, result.cached_input_tokens) == (70, 2, 64)
    assert result.provider_request_id == "gen-1"
