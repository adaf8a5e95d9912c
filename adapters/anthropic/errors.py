"""Anthropic's error replies translated into the adapter errors.

Errors are ``{"type": "error", "error": {"type", "message"}, "request_id"}``; the
error type decides, the status only when the body is not that shape. A rate limit's
wait comes from ``retry-after`` or, failing that, from when the exhausted
``anthropic-ratelimit-*`` limit resets.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import UTC, datetime

import orjson
from pydantic import ValidationError

from adapters.errors import (
    AuthenticationFailed,
    ContextWindowExceeded,
    InvalidRequest,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
)
from adapters.http_call import HttpReply
from adapters.retry_after import parse_retry_after
from adapters.status import error_for_status
from adapters.vendor_reply import LenientModel

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


class _ErrorDetail(LenientModel):
    type: str
    message: str = ""


class _ErrorBody(LenientModel):
    error: _ErrorDetail
    request_id: str | None = None


def translate_error(reply: HttpReply) -> ProviderError:
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


def translate_error_event(reply: HttpReply, data: str) -> ProviderError:
    """An ``event: error`` in a stream that began with ``reply``: the same body as an
    error status carries, arriving after the 200, so its type alone decides (an
    unknown type is a reply we cannot use). The status stays the stream's own."""
    raw = data.encode()
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        body = None
    return translate_error(dataclasses.replace(reply, body=body, raw=raw))


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
