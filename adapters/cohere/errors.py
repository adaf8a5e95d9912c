"""Cohere's error replies translated into the adapter errors.

Cohere's error bodies are ``{"message": ...}`` with no machine-readable code, so the
HTTP status decides, plus one narrowly scoped message check for an over-long prompt
(see :func:`_is_context_window`).
"""

from __future__ import annotations

import math

import httpx
from pydantic import ValidationError

from adapters.errors import (
    AuthenticationFailed,
    ContextWindowExceeded,
    InvalidRequest,
    ProviderConnectionError,
    ProviderError,
)
from adapters.http_call import HttpReply
from adapters.retry_after import parse_retry_after
from adapters.status import error_for_status
from adapters.vendor_reply import LenientModel

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


class _ErrorBody(LenientModel):
    message: str


def translate_error(reply: HttpReply) -> ProviderError:
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
