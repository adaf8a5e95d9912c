"""Cohere Chat v2: ``POST {base_url}/v2/chat`` with a bearer key.

``base_url`` is the API host without a version (``https://api.cohere.com``), as with
the Cohere SDK, which adds ``/v2/chat`` itself. The request body is built by
:func:`build_payload`; this module sends it and translates the reply.

Cohere's error bodies are ``{"message": ...}`` with no machine-readable code, so the
HTTP status decides, plus one narrowly scoped message check for an over-long prompt
(see :func:`_is_context_window`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import httpx
import orjson
from pydantic import ValidationError

from adapters.base import ProviderRequest, ProviderResult
from adapters.capabilities import Capabilities, features
from adapters.cohere_payload import build_payload
from adapters.errors import (
    AuthenticationFailed,
    ContentFiltered,
    ContextWindowExceeded,
    InvalidRequest,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
)
from adapters.http_call import HttpReply, JsonApi
from adapters.retry_after import parse_retry_after
from adapters.status import error_for_status
from adapters.vendor_reply import LenientModel
from schemas.chat import FinishReason, ToolCall

_FINISH: dict[str, FinishReason] = {
    "COMPLETE": "stop",
    "STOP_SEQUENCE": "stop",
    "MAX_TOKENS": "length",
    # The reply ran into the model's context length: truncated, as with max_tokens.
    "ERROR_LIMIT": "length",
    "TOOL_CALL": "tool_calls",
}

# Statuses whose meaning at Cohere differs from the generic table in adapters.status.
_STATUS_ERRORS: dict[int, type[ProviderError]] = {
    # Payment required: the account cannot pay; waiting does not help, another provider may.
    402: AuthenticationFailed,
    # Cohere's "invalid token": a revoked or malformed key.
    498: AuthenticationFailed,
    # "Client closed request": the connection went away before the reply, not a bad request.
    499: ProviderConnectionError,
    # The feature is not implemented for this model: retrying the same call cannot help.
    501: InvalidRequest,
}

# An over-long prompt is a plain 400 whose message starts with "too many tokens:"
# (Cohere's error reference lists "total number of tokens in the prompt cannot exceed"
# and "size limit exceeded by"). The same prefix also covers a max_tokens above the
# model's output limit, which is an ordinary invalid request, so that phrasing is
# excluded. If the wording changes we degrade to InvalidRequest, also non-retryable.
_CONTEXT_WINDOW_PREFIX = "too many tokens:"
_OUTPUT_LIMIT_PHRASE = "max tokens must be"
# Above this, x-ratelimit-reset is a Unix time rather than a number of seconds.
_EPOCH_THRESHOLD_S = 1e9
_WEB = ("https://", "http://")

# Everything the v2 format carries. Images go in user messages as data: URIs or web
# URLs (the SDK's ImageUrl); whether a model can see them is Cohere's call, and a
# text-only model answers 400.
CAPABILITIES = Capabilities(
    features(
        "system_prompt", "images", "image_urls", "tools", "tool_choice_required",
        "json_object", "json_schema", "temperature", "top_p", "stop",
    ),
    streaming=True,
    reports_cached_tokens=True,
)  # fmt: skip


class _Function(LenientModel):
    name: str
    # A JSON document as a string, as in OpenAI's format.
    arguments: str = "{}"


class _ToolCall(LenientModel):
    id: str
    function: _Function


class _Content(LenientModel):
    type: str
    text: str | None = None


class _Source(LenientModel):
    document: dict[str, Any] | None = None
    tool_output: dict[str, Any] | None = None


class _Citation(LenientModel):
    sources: list[_Source] | None = None


class _Message(LenientModel):
    content: list[_Content] | None = None
    tool_plan: str | None = None
    tool_calls: list[_ToolCall] | None = None
    citations: list[_Citation] | None = None


class _Counts(LenientModel):
    # The SDK types these as numbers; whole tokens in practice.
    input_tokens: float | None = None
    output_tokens: float | None = None


class _Usage(LenientModel):
    billed_units: _Counts | None = None
    tokens: _Counts | None = None
    cached_tokens: float | None = None


class _Chat(LenientModel):
    id: str | None = None
    finish_reason: str
    message: _Message
    # Required: without it we cannot bill the call.
    usage: _Usage


class _ErrorBody(LenientModel):
    message: str


class CohereChatAdapter:
    """Adapter for Cohere's Chat v2 API."""

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
        self._url = base_url.rstrip("/") + "/v2/chat"
        auth = {"authorization": f"Bearer {api_key}"} if api_key else {}
        # Cohere documents no request-id header; its responses carry this trace id,
        # which is what its support asks for.
        self._api = JsonApi(
            provider, client, {**(headers or {}), **auth}, request_id_headers=("x-debug-trace-id",)
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
        tool_calls = [_tool_call(c) for c in body.message.tool_calls or []]
    except (ValidationError, orjson.JSONDecodeError) as exc:
        raise reply.malformed("unexpected chat body") from exc
    reply = reply.with_request_id(body.id)
    if body.finish_reason in ("ERROR", "ERROR_TOXIC", "TIMEOUT"):
        raise reply.error(
            _failed_generation(body.finish_reason),
            f"generation ended with finish_reason={body.finish_reason}",
        )
    # Billed units are what Cohere's prices apply to; ``tokens`` also counts the
    # prompt template Cohere wraps around the messages.
    counts = body.usage.billed_units or body.usage.tokens
    if counts is None or counts.input_tokens is None or counts.output_tokens is None:
        raise reply.malformed("unexpected chat body")
    text = "".join(c.text or "" for c in body.message.content or [] if c.type == "text")
    return ProviderResult(
        # With tool calls the model's words are in tool_plan; sent back as history,
        # that text goes to tool_plan again (see adapters.cohere_payload).
        content=text or (body.message.tool_plan if tool_calls else None) or "",
        tool_calls=tool_calls,
        finish_reason=_FINISH.get(body.finish_reason, "other"),
        input_tokens=int(counts.input_tokens),
        output_tokens=int(counts.output_tokens),
        cached_input_tokens=int(body.usage.cached_tokens or 0),
        citations=_citation_urls(body.message.citations or []),
        provider_request_id=reply.request_id,
        # Cohere's reply does not name the model.
        upstream_model=asked_model,
    )


def _error(reply: HttpReply) -> ProviderError:
    cls = _STATUS_ERRORS.get(reply.status) or error_for_status(reply.status)
    message = reply.snippet()
    try:
        detail = _ErrorBody.model_validate(reply.body)
    except ValidationError:
        pass  # not the documented error shape: the status alone decides
    else:
        message = detail.message or message
        if _is_context_window(reply.status, detail.message):
            cls = ContextWindowExceeded
    return reply.error(cls, message, retry_after_s=_retry_after(reply.headers))


def _tool_call(call: _ToolCall) -> ToolCall:
    arguments = orjson.loads(call.function.arguments or "{}")
    return ToolCall.model_validate(
        {"id": call.id, "name": call.function.name, "arguments": arguments}
    )


def _failed_generation(finish_reason: str) -> type[ProviderError]:
    if finish_reason == "ERROR_TOXIC":
        # The SDK documents it as "the model generated a reply that was deemed toxic".
        return ContentFiltered
    if finish_reason == "TIMEOUT":
        return ProviderTimeout
    # "Something went wrong when generating the reply": the provider's fault.
    return ProviderUnavailable


def _citation_urls(citations: list[_Citation]) -> list[str]:
    """Web addresses the cited documents or tool outputs carry in a ``url`` field.

    Cohere's sources are otherwise identified by ids it makes up per call (e.g.
    ``doc:0``), which mean nothing outside the response, so those are left out.
    """
    urls: list[str] = []
    for citation in citations:
        for source in citation.sources or []:
            for fields in (source.document, source.tool_output):
                url = (fields or {}).get("url")
                if isinstance(url, str) and url.startswith(_WEB) and url not in urls:
                    urls.append(url)
    return urls


def _is_context_window(status: int, message: str) -> bool:
    text = message.strip().lower()
    return (
        status == 400
        and text.startswith(_CONTEXT_WINDOW_PREFIX)
        and _OUTPUT_LIMIT_PHRASE not in text
    )


def _retry_after(headers: httpx.Headers) -> float | None:
    """``Retry-After`` first; else Cohere's ``x-ratelimit-reset``, seconds until reset."""
    seconds = parse_retry_after(headers)
    if seconds is not None:
        return seconds
    try:
        reset = float(headers.get("x-ratelimit-reset", ""))
    except ValueError:
        return None
    if not math.isfinite(reset) or reset < 0 or reset >= _EPOCH_THRESHOLD_S:
        # A Unix time needs a clock we cannot trust to match the provider's.
        return None
    return reset
