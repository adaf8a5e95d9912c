"""Ollama's native chat API: ``POST {base_url}/api/chat``, non-streaming.

``base_url`` is the server root (``http://127.0.0.1:11434``), as with the ollama
package. A local server takes no key; a key, if configured (e.g. for ollama.com),
goes as a bearer token.

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

import hashlib
from collections.abc import Mapping
from typing import Any

import httpx
import orjson
from pydantic import BaseModel, ConfigDict, ValidationError

from adapters.base import ProviderRequest, ProviderResult
from adapters.capabilities import Capabilities
from adapters.errors import (
    AuthenticationFailed,
    ContextWindowExceeded,
    MalformedResponse,
    ProviderError,
    UnsupportedFeature,
)
from adapters.http_call import HttpReply, post_json
from adapters.retry_after import parse_retry_after
from adapters.status import error_for_status
from schemas.chat import ChatMessage, FinishReason, ToolCall, ToolSpec

_DONE: dict[str, FinishReason] = {"stop": "stop", "length": "length"}

_STATUS_ERRORS: dict[int, type[ProviderError]] = {
    # ollama.com: the model needs a subscription or credits; waiting does not help.
    402: AuthenticationFailed,
}

# The server refuses a prompt beyond the model's context with a 400 and this phrase
# (its only signal: the error body is a bare string). Checked on 400 only; other
# wording degrades to InvalidRequest, which is also non-retryable.
_CONTEXT_WINDOW_PHRASE = "exceeded max context length"


class _Reply(BaseModel):
    # Ollama adds response fields between releases; ignoring extras keeps us parsing.
    model_config = ConfigDict(extra="ignore", frozen=True)


class _Function(_Reply):
    name: str
    arguments: dict[str, Any] = {}


class _ToolCall(_Reply):
    function: _Function


class _Message(_Reply):
    content: str = ""
    tool_calls: list[_ToolCall] | None = None


class _Chat(_Reply):
    model: str | None = None
    message: _Message
    done: bool
    done_reason: str | None = None
    # Left out when the server evaluated nothing new (a fully cached prompt).
    prompt_eval_count: int = 0
    eval_count: int = 0


class _ErrorBody(_Reply):
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
        self.capabilities = Capabilities(
            frozenset(
                {
                    "system_prompt",
                    "images",
                    "tools",
                    "json_object",
                    "json_schema",
                    "temperature",
                    "top_p",
                    "stop",
                }
            ),
            streaming=True,
        )
        self._url = base_url.rstrip("/") + "/api/chat"
        self._client = client
        self._headers = dict(headers or {})
        if api_key:
            self._headers["authorization"] = f"Bearer {api_key}"

    async def complete(self, request: ProviderRequest, *, timeout_s: float) -> ProviderResult:
        payload = build_payload(request, provider=self.provider)
        reply = await post_json(
            self._client,
            self._url,
            headers=self._headers,
            payload=payload,
            timeout_s=timeout_s,
            provider=self.provider,
        )
        # Ollama sends none; a proxy in front of it (or ollama.com) may.
        request_id = reply.headers.get("x-request-id")
        if not 200 <= reply.status < 300:
            raise self._error(reply, request_id)
        return self._result(reply, request_id, request.upstream_model)

    def _result(self, reply: HttpReply, request_id: str | None, asked_model: str) -> ProviderResult:
        try:
            body = _Chat.model_validate(reply.body)
            calls = body.message.tool_calls or []
            tool_calls = [_tool_call(i, c) for i, c in enumerate(calls)]
        except ValidationError as exc:
            raise self._malformed(reply, request_id) from exc
        if not body.done:
            # A non-streaming reply is always the final one; anything else is cut short.
            raise self._malformed(reply, request_id)
        finish = "tool_calls" if tool_calls else _DONE.get(body.done_reason or "", "other")
        return ProviderResult(
            content=body.message.content,
            tool_calls=tool_calls,
            finish_reason=finish,
            input_tokens=body.prompt_eval_count,
            output_tokens=body.eval_count,
            provider_request_id=request_id,
            upstream_model=body.model or asked_model,
        )

    def _malformed(self, reply: HttpReply, request_id: str | None) -> MalformedResponse:
        return MalformedResponse(
            f"unexpected chat body: {reply.snippet()!r}",
            provider=self.provider,
            status_code=reply.status,
            provider_request_id=request_id,
        )

    def _error(self, reply: HttpReply, request_id: str | None) -> ProviderError:
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
        return cls(
            message,
            provider=self.provider,
            status_code=reply.status,
            provider_request_id=request_id,
            retry_after_s=parse_retry_after(reply.headers),
        )


def call_id(index: int, name: str, arguments: Mapping[str, Any]) -> str:
    """A stable id for a call Ollama returned without one."""
    key = orjson.dumps([index, name, arguments], option=orjson.OPT_SORT_KEYS)
    return f"call_{hashlib.sha256(key).hexdigest()[:24]}"


def _tool_call(index: int, call: _ToolCall) -> ToolCall:
    function = call.function
    return ToolCall.model_validate(
        {
            "id": call_id(index, function.name, function.arguments),
            "name": function.name,
            "arguments": function.arguments,
        }
    )


def build_payload(request: ProviderRequest, *, provider: str) -> dict[str, object]:
    """The request body; options are sent only when set."""
    payload: dict[str, object] = {
        "model": request.upstream_model,
        "messages": _messages(request.messages, provider),
        "stream": False,
    }
    if request.tools and request.tool_choice != "none":
        payload["tools"] = [_tool(t) for t in request.tools]
    response_format = request.response_format
    if response_format is not None and response_format.type != "text":
        payload["format"] = response_format.json_schema or "json"
    params = request.params
    options: dict[str, object] = {}
    if params.max_tokens is not None:
        options["num_predict"] = params.max_tokens
    if params.temperature is not None:
        options["temperature"] = params.temperature
    if params.top_p is not None:
        options["top_p"] = params.top_p
    if params.stop:
        options["stop"] = list(params.stop)
    if options:
        payload["options"] = options
    return payload


def _messages(messages: list[ChatMessage], provider: str) -> list[dict[str, object]]:
    tool_names: dict[str, str] = {}
    out: list[dict[str, object]] = []
    for message in messages:
        item: dict[str, object] = {"role": message.role, "content": message.text}
        if message.images:
            if any(image.data is None for image in message.images):
                raise UnsupportedFeature("Ollama takes images as base64 only", provider=provider)
            item["images"] = [image.data for image in message.images]
        if message.tool_calls:
            item["tool_calls"] = [
                {"function": {"name": c.name, "arguments": c.arguments}} for c in message.tool_calls
            ]
            # A later call with a reused id names the newer tool, as the dialogue would.
            tool_names.update((c.id, c.name) for c in message.tool_calls)
        if message.tool_call_id is not None and message.tool_call_id in tool_names:
            item["tool_name"] = tool_names[message.tool_call_id]
        out.append(item)
    return out


def _tool(tool: ToolSpec) -> dict[str, object]:
    function: dict[str, Any] = {"name": tool.name, "parameters": tool.parameters}
    if tool.description:
        function["description"] = tool.description
    return {"type": "function", "function": function}
