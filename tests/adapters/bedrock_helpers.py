"""Requests, keys and a stubbed transport shared by the Bedrock adapter tests."""

from collections.abc import Callable
from typing import Any

import httpx
import orjson

from adapters.base import ProviderRequest
from adapters.bedrock_converse import BedrockConverseAdapter
from adapters.credentials import AwsKeys
from schemas.chat import ChatMessage, GenerationParams, ToolSpec

TIMEOUT_S = 5.0
KEYS = AwsKeys("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "session-token")
CLAUDE = "anthropic.claude-3-5-haiku-20241022-v1:0"
WEATHER = ToolSpec(
    name="get_weather",
    description="current weather",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}},
)
# A 1x1 PNG, base64.
PNG = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJ"
    "RU5ErkJggg=="
)
OK_BODY: dict[str, Any] = {
    "output": {"message": {"role": "assistant", "content": [{"text": "hi"}]}},
    "stopReason": "end_turn",
    "usage": {"inputTokens": 3, "outputTokens": 1, "totalTokens": 4},
    "metrics": {"latencyMs": 12},
}

Handler = Callable[[httpx.Request], httpx.Response]


def user(text: str) -> ChatMessage:
    return ChatMessage(role="user", content=text)


def ask(*messages: ChatMessage, model: str = "model-a", **fields: Any) -> ProviderRequest:
    params = GenerationParams.model_validate(fields.pop("params", {}))
    return ProviderRequest(upstream_model=model, messages=list(messages), params=params, **fields)


def mocked(
    status: int, body: object, headers: dict[str, str] | None = None
) -> BedrockConverseAdapter:
    """An adapter whose every call to model CLAUDE gets this reply."""

    def handle(request: httpx.Request) -> httpx.Response:
        assert request.url.path == f"/model/{CLAUDE}/converse"
        return httpx.Response(status, content=orjson.dumps(body), headers=headers)

    client = httpx.AsyncClient(transport=httpx.MockTransport(handle))
    return BedrockConverseAdapter("mock", "http://mock.test", client, KEYS, region="us-east-1")
