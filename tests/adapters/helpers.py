"""Requests, mock transports and fixture types the adapter tests share."""

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import httpx
import orjson

from adapters.base import ChatAdapter, ProviderRequest
from emulator.server import RunningEmulator
from schemas.chat import ChatMessage, GenerationParams

TIMEOUT_S = 5.0
# Not a decodable picture: emulators count images without looking at the pixels.
PNG = "iVBORw0KGgo="

AdapterFor = Callable[..., ChatAdapter]
Bedrock = Callable[..., ChatAdapter]
Chat = Callable[..., ProviderRequest]
Stats = Callable[[RunningEmulator], Awaitable[dict[str, Any]]]
Handler = Callable[[httpx.Request], httpx.Response]


def user(content: Any) -> ChatMessage:
    return ChatMessage(role="user", content=content)


def ask(*messages: ChatMessage, model: str = "model-a", **fields: Any) -> ProviderRequest:
    """A request of these messages; ``params`` may be a dict of generation parameters."""
    params = GenerationParams.model_validate(fields.pop("params", {}))
    return ProviderRequest(upstream_model=model, messages=list(messages), params=params, **fields)


def mock_client(handler: Handler) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


def json_reply(
    status: int,
    body: object,
    headers: Mapping[str, str] | None = None,
    *,
    url: str,
    sent_headers: Mapping[str, str] | None = None,
) -> Handler:
    """Answer ``body`` (bytes as they are, anything else as JSON), once the request is
    checked to have gone to ``url`` carrying ``sent_headers``."""
    content = body if isinstance(body, bytes) else orjson.dumps(body)

    def handle(request: httpx.Request) -> httpx.Response:
        assert request.url == url
        for name, value in (sent_headers or {}).items():
            assert request.headers[name] == value
        return httpx.Response(status, content=content, headers=headers)

    return handle
