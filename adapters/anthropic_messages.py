"""Anthropic Messages: ``POST {base_url}/v1/messages``.

``base_url`` is the API host without a version (``https://api.anthropic.com``), as
with the Anthropic SDK, which adds ``/v1/messages`` itself.

The Messages API (as of the SDK we validate against, anthropic 2.12) has no sampling
parameters: ``temperature`` and ``top_p`` from the gateway request are not sent,
because the API rejects unknown fields and a 400 would only push every call to a
fallback.
"""

from __future__ import annotations

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from adapters.base import ProviderRequest, ProviderResult
from adapters.capabilities import Capabilities
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
)
from adapters.http_call import HttpReply, post_json
from adapters.retry_after import parse_retry_after
from adapters.status import error_for_status
from schemas.events import FinishReason

API_VERSION = "2023-06-01"
# Anthropic requires max_tokens; this applies when the caller left it unset.
DEFAULT_MAX_TOKENS = 1024

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

# Anthropic reports an over-long prompt as a plain invalid_request_error with no
# distinct code, so the message is the only signal. The check is confined to that
# status and type, and to the two phrasings the API documents; if the wording
# changes we degrade to InvalidRequest, which is also non-retryable.
_CONTEXT_WINDOW_PHRASES = ("prompt is too long", "input length and `max_tokens` exceed")


class _Reply(BaseModel):
    # Vendors add response fields all the time; ignoring extras keeps us parsing.
    model_config = ConfigDict(extra="ignore", frozen=True)


class _Block(_Reply):
    type: str
    text: str | None = None


class _Usage(_Reply):
    input_tokens: int = Field(ge=0)
    output_tokens: int = Field(ge=0)


class _Message(_Reply):
    id: str | None = None
    model: str | None = None
    content: list[_Block]
    stop_reason: str | None = None
    usage: _Usage


class _ErrorDetail(_Reply):
    type: str
    message: str = ""


class _ErrorBody(_Reply):
    error: _ErrorDetail
    request_id: str | None = None


class AnthropicMessagesAdapter:
    """Adapter for Anthropic's Messages API."""

    def __init__(
        self, provider: str, base_url: str, client: httpx.AsyncClient, api_key: str | None
    ) -> None:
        self.provider = provider
        # The Messages API has no temperature or top_p (see the module docstring).
        self.capabilities = Capabilities(frozenset({"system_prompt", "stop"}), streaming=True)
        self._url = base_url.rstrip("/") + "/v1/messages"
        self._client = client
        self._headers = {"anthropic-version": API_VERSION}
        if api_key:
            self._headers["x-api-key"] = api_key

    async def complete(self, request: ProviderRequest, *, timeout_s: float) -> ProviderResult:
        reply = await post_json(
            self._client,
            self._url,
            headers=self._headers,
            payload=build_payload(request),
            timeout_s=timeout_s,
            provider=self.provider,
        )
        request_id = reply.headers.get("request-id")
        if not 200 <= reply.status < 300:
            raise self._error(reply, request_id)
        return self._result(reply, request_id, request.upstream_model)

    def _result(self, reply: HttpReply, request_id: str | None, asked_model: str) -> ProviderResult:
        try:
            body = _Message.model_validate(reply.body)
        except ValidationError as exc:
            raise MalformedResponse(
                f"unexpected message body: {reply.snippet()!r}",
                provider=self.provider,
                status_code=reply.status,
                provider_request_id=request_id,
            ) from exc
        request_id = request_id or body.id
        text = "".join(b.text or "" for b in body.content if b.type == "text")
        if body.stop_reason == "refusal":
            raise ContentFiltered(
                "the model declined to answer (stop_reason=refusal)",
                provider=self.provider,
                status_code=reply.status,
                provider_request_id=request_id,
            )
        return ProviderResult(
            content=text,
            finish_reason=_STOP.get(body.stop_reason or "", "other"),
            input_tokens=body.usage.input_tokens,
            output_tokens=body.usage.output_tokens,
            provider_request_id=request_id,
            upstream_model=body.model or asked_model,
        )

    def _error(self, reply: HttpReply, request_id: str | None) -> ProviderError:
        cls = error_for_status(reply.status)
        message = reply.snippet()
        try:
            body = _ErrorBody.model_validate(reply.body)
        except ValidationError:
            pass  # not the documented error shape: the status alone decides
        else:
            message = body.error.message or message
            request_id = request_id or body.request_id
            cls = _TYPE_ERRORS.get(body.error.type, cls)
            if _is_context_window(reply.status, body.error):
                cls = ContextWindowExceeded
        return cls(
            message,
            provider=self.provider,
            status_code=reply.status,
            provider_request_id=request_id,
            retry_after_s=parse_retry_after(reply.headers),
        )


def _is_context_window(status: int, error: _ErrorDetail) -> bool:
    if status != 400 or error.type != "invalid_request_error":
        return False
    message = error.message.lower()
    return any(phrase in message for phrase in _CONTEXT_WINDOW_PHRASES)


def build_payload(request: ProviderRequest) -> dict[str, object]:
    """The request body; optional parameters are sent only when set.

    Anthropic has no system role inside ``messages``: every system message moves to
    the top-level ``system`` field, joined in order. That loses where a mid-dialogue
    system message sat, which the API cannot express anyway.
    """
    system = [m.text for m in request.messages if m.role == "system"]
    params = request.params
    payload: dict[str, object] = {
        "model": request.upstream_model,
        "max_tokens": params.max_tokens if params.max_tokens is not None else DEFAULT_MAX_TOKENS,
        "messages": [
            {"role": m.role, "content": m.content} for m in request.messages if m.role != "system"
        ],
    }
    if system:
        payload["system"] = "\n\n".join(system)
    if params.stop:
        payload["stop_sequences"] = list(params.stop)
    return payload
