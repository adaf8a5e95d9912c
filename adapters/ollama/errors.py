"""Ollama's error replies translated into the adapter errors.

The error body is ``{"error": "text"}``: the status decides, plus one narrowly scoped
message check for an over-long prompt.
"""

from __future__ import annotations

from pydantic import ValidationError

from adapters.errors import (
    AuthenticationFailed,
    ContextWindowExceeded,
    ProviderError,
    ProviderUnavailable,
)
from adapters.http_call import HttpReply
from adapters.retry_after import parse_retry_after
from adapters.status import error_for_status
from adapters.vendor_reply import LenientModel

_STATUS_ERRORS: dict[int, type[ProviderError]] = {
    # ollama.com: the model needs a subscription or credits; waiting does not help.
    402: AuthenticationFailed,
}

# The server refuses a prompt beyond the model's context with a 400 and this phrase
# (its only signal: the error body is a bare string). Checked on 400 only; other
# wording degrades to InvalidRequest, which is also non-retryable.
_CONTEXT_WINDOW_PHRASE = "exceeded max context length"


class _ErrorBody(LenientModel):
    error: str


def translate_error(reply: HttpReply) -> ProviderError:
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


def stream_error(reply: HttpReply, message: str) -> ProviderError:
    """An ``{"error": ...}`` object in a stream that had already begun with a 200: the
    generation failed on the server's side (a runner crash, say), and a later attempt
    may not."""
    return reply.error(ProviderUnavailable, message)
