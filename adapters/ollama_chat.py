"""Ollama's native chat API: ``POST {base_url}/api/chat``, non-streaming.

``base_url`` is the server root (``http://127.0.0.1:11434``), as with the ollama
package. A local server takes no key; a key, if configured (e.g. for ollama.com),
goes as a bearer token. The request body is built in :mod:`adapters.ollama_payload`;
this module sends it and reads the reply.

What the format cannot carry, and how that is handled:

- images only as base64 (``images`` on a message): no ``image_urls`` capability;
- no ``tool_choice``: ``required`` is not a capability, and ``none`` sends no tools;
- tool calls have no ids: ours are derived from each call's position, name and
  arguments, and a tool result names its tool (``tool_name``), looked up from the
  assistant message that made the call;
- tool parameter schemas: the ollama package's ``Tool`` type declares only ``type``,
  ``items``, ``description`` and ``enum`` per property; other JSON Schema keywords are
  sent as given, and a server may ignore them;
- no request id, no prompt-cache report (``prompt_eval_count`` counts the prompt
  tokens evaluated, and is left out when the whole prompt came from the cache), and
  no content filter.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
from pydantic import Field, ValidationError

from adapters.base import ProviderRequest, ProviderResult
from adapters.capabilities import Capabilities, features
from adapters.errors import AuthenticationFailed, ContextWindowExceeded, ProviderError
from adapters.http_call import HttpReply, JsonApi
from adapters.ollama_payload import build_payload
from adapters.retry_after import parse_retry_after
from adapters.status import error_for_status
from adapters.vendor_reply import LenientModel, derived_call_id
from schemas.chat import FinishReason, ToolCall

CAPABILITIES = Capabilities(
    features(
        "system_prompt", "images", "tools", "json_object", "json_schema", "temperature",
        "top_p", "stop",
    ),
    streaming=True,
)  # fmt: skip
# Ollama's calls have no ids; ours are derived from each call (see derived_call_id).
CALL_ID_PREFIX = "call_"

_DONE: dict[str, FinishReason] = {"stop": "stop", "length": "length"}

_STATUS_ERRORS: dict[int, type[ProviderError]] = {
    # ollama.com: the model needs a subscription or credits; waiting does not help.
    402: AuthenticationFailed,
}

# The server refuses a prompt beyond the model's context with a 400 and this phrase
# (its only signal: the error body is a bare string). Checked on 400 only; other
# wording degrades to InvalidRequest, which is also non-retryable.
_CONTEXT_WINDOW_PHRASE = "exceeded max context length"


class _Function(LenientModel):
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)


class _ToolCall(LenientModel):
    function: _Function


class _Message(LenientModel):
    content: str = ""
    tool_calls: list[_ToolCall] | None = None


class _Chat(LenientModel):
    model: str | None = None
    message: _Message
    done: bool
    done_reason: str | None = None
    # Left out when the server evaluated nothing new (a fully cached prompt).
    prompt_eval_count: int = 0
    eval_count: int = 0


class _ErrorBody(LenientModel):
    error: str


class OllamaChatAdapter:
    """Adapter for Ollama's native ``/api/chat``."""

    def __init__(
        self,
        provider: str,
        base_url: str,
        client: httpx.AsyncClient,
        api_key: str | None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.provider = provider
        self.capabilities = CAPABILITIES
        self._url = base_url.rstrip("/") + "/api/chat"
        auth = {"authorization": f"Bearer {api_key}"} if api_key else {}
        # Ollama sends no request id; a proxy in front of it (or ollama.com) may.
        self._api = JsonApi(
            provider, client, {**(headers or {}), **auth}, request_id_headers=("x-request-id",)
        )

    async def complete(self, request: ProviderRequest, *, timeout_s: float) -> ProviderResult:
        payload = build_payload(request, provider=self.provider)
        reply = await self._api.post(self._url, payload, timeout_s=timeout_s)
        if not reply.ok:
            raise _error(reply)
        return _result(reply, request.upstream_model)


def _result(reply: HttpReply, asked_model: str) -> ProviderResult:
    try:
        body = _Chat.model_validate(reply.body)
        calls = body.message.tool_calls or []
        tool_calls = [_tool_call(i, c) for i, c in enumerate(calls)]
    except ValidationError as exc:
        raise reply.malformed("unexpected chat body") from exc
    if not body.done:
        # A non-streaming reply is always the final one; anything else is cut short.
        raise reply.malformed("unexpected chat body")
    finish = "tool_calls" if tool_calls else _DONE.get(body.done_reason or "", "other")
    return ProviderResult(
        content=body.message.content,
        tool_calls=tool_calls,
        finish_reason=finish,
        input_tokens=body.prompt_eval_count,
        output_tokens=body.eval_count,
        provider_request_id=reply.request_id,
        upstream_model=body.model or asked_model,
    )


def _error(reply: HttpReply) -> ProviderError:
    cls = _STATUS_ERRORS.get(reply.status) or error_for_status(reply.status)
    message = reply.snippet()
    try:
        detail = _ErrorBody.model_validate(reply.body)
    except ValidationError:
        pass  # not the documented error shape: the status alone decides
    else:
        message = detail.error or message
        if reply.status == 400 and _CONTEXT_WINDOW_PHRASE in detail.error.lower():
            cls = ContextWindowExceeded
    return reply.error(cls, message, retry_after_s=parse_retry_after(reply.headers))


def _tool_call(index: int, call: _ToolCall) -> ToolCall:
    function = call.function
    return ToolCall.model_validate(
        {
            "id": derived_call_id(CALL_ID_PREFIX, index, function.name, function.arguments),
            "name": function.name,
            "arguments": function.arguments,
        }
    )
