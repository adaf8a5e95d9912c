"""Gemini's error replies translated into the adapter error classes.

Google APIs answer errors with ``{"error": {"code", "message", "status", "details"}}``,
where ``status`` is the canonical gRPC code name and ``details`` holds typed
``google.rpc`` messages: ``RetryInfo`` says how long to wait, ``ErrorInfo`` names a
machine-readable ``reason`` (e.g. ``API_KEY_INVALID``, sent with a plain 400).
"""

from __future__ import annotations

import math
import re
from typing import Any

from pydantic import Field, ValidationError

from adapters.errors import (
    AuthenticationFailed,
    ContextWindowExceeded,
    ProviderError,
    ProviderTimeout,
    RateLimited,
)
from adapters.http_call import HttpReply
from adapters.retry_after import parse_retry_after
from adapters.status import error_for_status
from adapters.vendor_reply import LenientModel

_RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"
_ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"

# Canonical codes that say more than the HTTP status; the rest (INVALID_ARGUMENT,
# NOT_FOUND, INTERNAL, UNAVAILABLE, ...) agree with it.
_STATUS_ERRORS: dict[str, type[ProviderError]] = {
    "RESOURCE_EXHAUSTED": RateLimited,
    "UNAUTHENTICATED": AuthenticationFailed,
    "PERMISSION_DENIED": AuthenticationFailed,
    "DEADLINE_EXCEEDED": ProviderTimeout,
    # Gemini's "free tier is not available in your country, enable billing": an
    # account-level refusal that retrying cannot fix.
    "FAILED_PRECONDITION": AuthenticationFailed,
}
_REASON_ERRORS: dict[str, type[ProviderError]] = {
    # A wrong or expired key comes back as 400 INVALID_ARGUMENT with this reason.
    "API_KEY_INVALID": AuthenticationFailed,
    "API_KEY_EXPIRED": AuthenticationFailed,
}
# Gemini reports an over-long prompt as a plain 400 INVALID_ARGUMENT with no reason
# or distinct status, so the message is the only signal: "The input token count
# (N) exceeds the maximum number of tokens allowed (M)." The check is confined to
# that status pair and that phrasing; if the wording changes we degrade to
# InvalidRequest, which is also non-retryable.
_CONTEXT_WINDOW = re.compile(
    r"input token count.*exceeds the maximum number of tokens allowed", re.IGNORECASE
)
# protobuf Duration in JSON: seconds with an "s" suffix, e.g. "30s" or "1.5s".
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")


class _ErrorDetail(LenientModel):
    code: int | None = None
    message: str = ""
    status: str | None = None
    details: list[dict[str, Any]] = Field(default_factory=list)


class _ErrorBody(LenientModel):
    error: _ErrorDetail


def translate_error(reply: HttpReply) -> ProviderError:
    """The adapter error for a non-2xx reply; the status alone decides for odd bodies."""
    cls = error_for_status(reply.status)
    message = reply.snippet()
    retry_after_s = parse_retry_after(reply.headers)
    # Some Google front ends wrap the error object in a one-element list.
    body = reply.body[0] if isinstance(reply.body, list) and len(reply.body) == 1 else reply.body
    try:
        detail = _ErrorBody.model_validate(body).error
    except ValidationError:
        detail = None
    if detail is not None:
        message = detail.message or message
        cls = _STATUS_ERRORS.get(detail.status or "", cls)
        for reason in _detail_values(detail, _ERROR_INFO, "reason"):
            cls = _REASON_ERRORS.get(reason, cls)
        if _is_context_window(reply.status, detail):
            cls = ContextWindowExceeded
        # The body's RetryInfo is Google's own signal; headers are a fallback.
        delays = [_duration_s(d) for d in _detail_values(detail, _RETRY_INFO, "retryDelay")]
        retry_after_s = next((d for d in delays if d is not None), retry_after_s)
    return reply.error(cls, message, retry_after_s=retry_after_s)


def _detail_values(detail: _ErrorDetail, type_url: str, key: str) -> list[str]:
    return [
        value
        for d in detail.details
        if d.get("@type") == type_url and isinstance(value := d.get(key), str)
    ]


def _is_context_window(status: int, detail: _ErrorDetail) -> bool:
    if status != 400 or detail.status != "INVALID_ARGUMENT":
        return False
    return _CONTEXT_WINDOW.search(detail.message) is not None


def _duration_s(raw: str) -> float | None:
    match = _DURATION.match(raw)
    if match is None:
        return None
    seconds = float(match.group(1))
    return seconds if math.isfinite(seconds) else None
