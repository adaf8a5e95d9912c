"""The error class an HTTP status implies when the body says nothing more specific."""

from __future__ import annotations

from adapters.errors import (
    AuthenticationFailed,
    ContextWindowExceeded,
    InvalidRequest,
    MalformedResponse,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
)

_BY_STATUS: dict[int, type[ProviderError]] = {
    401: AuthenticationFailed,
    403: AuthenticationFailed,
    # A request timeout is the server giving up waiting, so a retry can succeed.
    408: ProviderTimeout,
    # The body was too big to accept at all: a larger context will not fit it either,
    # but it is the same "input too large" decision the policy makes for windows.
    413: ContextWindowExceeded,
    429: RateLimited,
    504: ProviderTimeout,
}


def error_for_status(status: int) -> type[ProviderError]:
    """Classify a non-2xx status; 529 is Anthropic's "overloaded"."""
    known = _BY_STATUS.get(status)
    if known is not None:
        return known
    if 400 <= status < 500:
        return InvalidRequest
    if 500 <= status < 600:
        return ProviderUnavailable
    # A redirect or informational status on a JSON API means we cannot use the reply.
    return MalformedResponse
