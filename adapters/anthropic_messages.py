"""Anthropic Messages: ``POST {base_url}/v1/messages``.

``base_url`` is the API host without a version (``https://api.anthropic.com``), as
with the Anthropic SDK, which adds ``/v1/messages`` itself. The request body is built
in :mod:`adapters.anthropic_payload`; this module sends it and reads the reply.

The Messages API (as of the SDK we validate against, anthropic 2.12) has no sampling
parameters, so ``temperature`` and ``top_p`` are not among the capabilities: a request
that sets them is refused before the call and moves to a fallback, rather than having
them silently dropped or rejected by the API. Structured output takes a JSON Schema
(``output_config.format``); there is no schema-free JSON mode, so ``json_object`` is
not offered either.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import httpx
from pydantic import Field, ValidationError

from adapters.anthropic_payload import DEFAULT_MAX_TOKENS, build_payload
from adapters.base import ProviderRequest, ProviderResult
from adapters.capabilities import Capabilities, features
from adapters.errors import (
    AuthenticationFailed,
    ContentFiltered,
    ContextWindowExceeded,
    InvalidRequest,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
)
from adapters.http_call import HttpReply, JsonApi
from adapters.retry_after import parse_retry_after
from adapters.status import error_for_status
from adapters.vendor_reply import LenientModel
from schemas.chat import ToolCall
from schemas.events import FinishReason

__all__ = ["API_VERSION", "DEFAULT_MAX_TOKENS", "AnthropicMessagesAdapter", "build_payload"]

API_VERSION = "2023-06-01"

# No temperature, top_p or json_object: see the module docstring.
CAPABILITIES = Capabilities(
    features(
        "system_prompt", "images", "image_urls", "tools", "tool_choice_required",
        "json_schema", "stop",
    ),
    streaming=True,
    reports_cached_tokens=True,
)  # fmt: skip

_STOP: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    # The output ran into the context window: truncated, as with max_tokens.
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
}

_TYPE_ERRORS: dict[str, type[ProviderError]] = {
    "rate_limit_error": RateLimited,
    "overloaded_error": ProviderUnavailable,
    "api_error": ProviderUnavailable,
    "timeout_error": ProviderTimeout,
    "authentication_error": AuthenticationFailed,
    "permission_error": AuthenticationFailed,
    # The account cannot pay: retrying is futile, another provider may not be.
    "billing_error": AuthenticationFailed,
    "not_found_error": InvalidRequest,
    "request_too_large": ContextWindowExceeded,
    "invalid_request_error": InvalidRequest,
}

# Limits Anthropic reports in anthropic-ratelimit-{limit}-remaining / -reset headers.
_RATE_LIMITS = ("requests", "tokens", "input-tokens", "output-tokens")

# Anthropic reports an over-long prompt as a plain invalid_request_error with no
# distinct code, so the message is the only signal. The check is confined to that
# status and type, and to the two phrasings the API documents; if the wording
# changes we degrade to InvalidRequest, which is also non-retryable.
_CONTEXT_WINDOW_PHRASES = ("prompt is too long", "input length and `max_tokens` exceed")


class _Block(LenientModel):
    type: str
    text: str | None = None
    # tool_use blocks
    id: str | None = None
    name: str | None = None
    input: dict[str, Any] | None = None


class _Usage(LenientModel):
    input_tokens: int = Field(ge=0)
    output_tokens: int = Field(ge=0)
    # Null or absent when prompt caching played no part.
    cache_creation_input_tokens: int | None = Field(default=None, ge=0)
    cache_read_input_tokens: int | None = Field(default=None, ge=0)


class _StopDetails(LenientModel):
    category: str | None = None
    explanation: str | None = None


class _Message(LenientModel):
    id: str | None = None
    model: str | None = None
    content: list[_Block]
    stop_reason: str | None = None
    stop_details: _StopDetails | None = None
    usage: _Usage


class _ErrorDetail(LenientModel):
    type: str
    message: str = ""


class _ErrorBody(LenientModel):
    error: _ErrorDetail
    request_id: str | None = None


class AnthropicMessagesAdapter:
    """Adapter for Anthropic's Messages API."""

    def __init__(
        self,
        provider: str,
        base_url: str,
        client: httpx.AsyncClient,
        api_key: str | None,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.provider = provider
        self.capabilities = CAPABILITIES
        self._url = base_url.rstrip("/") + "/v1/messages"
        # Static config headers first: anthropic-beta flags, say, but never the key.
        auth = {"x-api-key": api_key} if api_key else {}
        api_headers = {**(headers or {}), "anthropic-version": API_VERSION, **auth}
        self._api = JsonApi(provider, client, api_headers, request_id_headers=("request-id",))

    async def complete(self, request: ProviderRequest, *, timeout_s: float) -> ProviderResult:
        reply = await self._api.post(self._url, build_payload(request), timeout_s=timeout_s)
        if not reply.ok:
            raise _error(reply)
        return _result(reply, request.upstream_model)


def _result(reply: HttpReply, asked_model: str) -> ProviderResult:
    try:
        body = _Message.model_validate(reply.body)
    except ValidationError as exc:
        raise reply.malformed("unexpected message body") from exc
    reply = reply.with_request_id(body.id)
    if body.stop_reason == "refusal":
        raise reply.error(ContentFiltered, _refusal_message(body.stop_details))
    try:
        tool_calls = [
            ToolCall(id=b.id or "", name=b.name or "", arguments=b.input or {})
            for b in body.content
            if b.type == "tool_use"
        ]
    except ValidationError as exc:
        raise reply.malformed("unusable tool_use block") from exc
    usage = body.usage
    cache_read = usage.cache_read_input_tokens or 0
    return ProviderResult(
        content="".join(b.text or "" for b in body.content if b.type == "text"),
        tool_calls=tool_calls,
        finish_reason=_STOP.get(body.stop_reason or "", "other"),
        # Anthropic's input_tokens leaves out the cached part, read or written.
        input_tokens=usage.input_tokens + cache_read + (usage.cache_creation_input_tokens or 0),
        output_tokens=usage.output_tokens,
        cached_input_tokens=cache_read,
        provider_request_id=reply.request_id,
        upstream_model=body.model or asked_model,
    )


def _error(reply: HttpReply) -> ProviderError:
    cls = error_for_status(reply.status)
    message = reply.snippet()
    try:
        body = _ErrorBody.model_validate(reply.body)
    except ValidationError:
        pass  # not the documented error shape: the status alone decides
    else:
        message = body.error.message or message
        reply = reply.with_request_id(body.request_id)
        cls = _TYPE_ERRORS.get(body.error.type, cls)
        if _is_context_window(reply.status, body.error):
            cls = ContextWindowExceeded
    return reply.error(cls, message, retry_after_s=_retry_after(reply.headers))


def _refusal_message(details: _StopDetails | None) -> str:
    message = "the model declined to answer (stop_reason=refusal)"
    if details is not None and details.category:
        message += f", category {details.category}"
    if details is not None and details.explanation:
        message += f": {details.explanation}"
    return message


def _retry_after(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """``retry-after``, else when the exhausted ``anthropic-ratelimit-*`` limit resets."""
    seconds = parse_retry_after(headers)
    if seconds is not None:
        return seconds
    now = now or datetime.now(UTC)
    waits = []
    for limit in _RATE_LIMITS:
        if headers.get(f"anthropic-ratelimit-{limit}-remaining") != "0":
            continue
        try:
            reset = datetime.fromisoformat(headers.get(f"anthropic-ratelimit-{limit}-reset", ""))
        except ValueError:
            continue
        if reset.tzinfo is not None:
            waits.append(max((reset - now).total_seconds(), 0.0))
    # Every exhausted limit must reset before a retry can pass.
    return max(waits, default=None)


def _is_context_window(status: int, error: _ErrorDetail) -> bool:
    if status != 400 or error.type != "invalid_request_error":
        return False
    message = error.message.lower()
    return any(phrase in message for phrase in _CONTEXT_WINDOW_PHRASES)
