"""Errors in OpenAI's wire format, and the one table from dead-letter reasons to them.

Every failure the front door reports is an :class:`OpenAIError`: its status, the body
``{"error": {"message", "type", "param", "code"}}`` and the headers that go with it.
:func:`error_for_dead_letter` maps a dead letter through :data:`_TABLE`, keyed by
``(reason, kind)``: ``kind`` refines a reason when the cause matters to the caller
(``permanent_error``'s last provider error), ``None`` is the reason's default row.

Choices worth knowing (the SDK picks its exception class by status alone):

- ``budget_exceeded`` is 429 with type ``insufficient_quota`` (what OpenAI itself sends
  for an exhausted quota), not 402: every OpenAI SDK maps 429 to ``RateLimitError``,
  which callers already handle, while 402 has no class of its own.
- ``Retry-After`` (whole seconds, rounded up) and ``retry-after-ms`` say when trying
  again can work: a rate limit's slot, a budget period's end, or the wait a provider asked
  for. The SDK retries after it when it is at most a minute and gives up beyond.
- Where trying again soon cannot help and no such time is known (routeyard has already
  retried across the route's models until its attempts or deadline ran out; our own
  credentials were refused), ``x-should-retry: false`` keeps the SDK from retrying: its
  retries would only multiply the load on providers that are already failing.
- A provider refusing *our* credentials is 502, never 401: the caller's key was fine.
  Its detail is withheld (providers echo part of the key they refused), as is an internal
  error's (it names our code, not the caller's mistake).
- ``request_too_large`` is 413: the caller must shrink the request (images behind URLs).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import orjson

from adapters.errors import (
    AuthenticationFailed,
    ContentFiltered,
    ContextWindowExceeded,
    UnsupportedFeature,
)
from schemas.events import DeadLetter, DeadLetterReason

INVALID_REQUEST = "invalid_request_error"
SERVER_ERROR = "server_error"


class OpenAIError(Exception):
    """An error as the OpenAI API returns it: ``status``, :meth:`body` and ``headers``."""

    def __init__(
        self,
        status: int,
        message: str,
        type: str = INVALID_REQUEST,
        param: str | None = None,
        code: str | None = None,
        *,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers: dict[str, str] = dict(headers or {})

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }

    def __repr__(self) -> str:
        return f"OpenAIError({self.status}, {self.code!r}, {self.message!r})"


@dataclass(frozen=True)
class _Row:
    status: int
    type: str
    code: str
    summary: str
    param: str | None = None
    futile: bool = False  # retrying soon cannot help: x-should-retry false, unless a wait is known
    show_detail: bool = True


_UNAVAILABLE = "no provider could answer"

_TABLE: dict[tuple[DeadLetterReason, str | None], _Row] = {
    ("invalid_json", None): _Row(400, INVALID_REQUEST, "invalid_json", "the request is not JSON"),
    ("schema_invalid", None): _Row(
        400, INVALID_REQUEST, "schema_invalid", "the request does not fit routeyard's schema"
    ),
    ("request_too_large", None): _Row(
        413, INVALID_REQUEST, "request_too_large", "the request is too large"
    ),
    ("unknown_route", None): _Row(
        404, INVALID_REQUEST, "model_not_found", "no such route", param="model"
    ),
    ("unknown_model", None): _Row(
        404, INVALID_REQUEST, "model_not_found", "no such model", param="model"
    ),
    ("no_route", None): _Row(400, INVALID_REQUEST, "no_route", "no route serves this request"),
    ("no_capable_model", None): _Row(
        400, INVALID_REQUEST, "no_capable_model", "no model can serve what this request needs"
    ),
    ("permanent_error", None): _Row(
        400, INVALID_REQUEST, "invalid_request", "the provider refused the request"
    ),
    ("permanent_error", ContentFiltered.kind): _Row(
        400, INVALID_REQUEST, "content_filter", "the provider's content filter blocked it"
    ),
    ("permanent_error", ContextWindowExceeded.kind): _Row(
        400,
        INVALID_REQUEST,
        "context_length_exceeded",
        "the messages exceed every candidate model's context window",
        param="messages",
    ),
    ("permanent_error", UnsupportedFeature.kind): _Row(
        400, INVALID_REQUEST, "unsupported_feature", "no candidate model supports what it needs"
    ),
    ("permanent_error", AuthenticationFailed.kind): _Row(
        502,
        SERVER_ERROR,
        "upstream_authentication_failed",
        "the provider refused the gateway's own credentials (not your API key)",
        futile=True,
        show_detail=False,
    ),
    ("budget_exceeded", None): _Row(
        429,
        "insufficient_quota",
        "budget_exceeded",
        "a spending budget is used up",
        futile=True,
    ),
    ("rate_limited", None): _Row(
        429, "rate_limit_error", "rate_limit_exceeded", "a rate limit is reached"
    ),
    ("attempts_exhausted", None): _Row(
        503, SERVER_ERROR, "attempts_exhausted", _UNAVAILABLE, futile=True
    ),
    ("retry_after_too_long", None): _Row(
        503, SERVER_ERROR, "retry_after_too_long", f"{_UNAVAILABLE} soon enough"
    ),
    ("deadline_exceeded", None): _Row(
        504,
        SERVER_ERROR,
        "deadline_exceeded",
        f"{_UNAVAILABLE} before the deadline",
        futile=True,
    ),
    ("stream_interrupted", None): _Row(
        502, SERVER_ERROR, "stream_interrupted", "the provider's stream broke off mid-answer"
    ),
    ("internal_error", None): _Row(
        500, SERVER_ERROR, "internal_error", "routeyard failed internally", show_detail=False
    ),
    ("quality_failed", None): _Row(
        502, SERVER_ERROR, "quality_failed", "no answer passed the route's quality checks"
    ),
    ("pii_blocked", None): _Row(
        400,
        INVALID_REQUEST,
        "pii_blocked",
        "the messages hold personal data or secrets that the PII policy blocks",
        param="messages",
    ),
    # OpenAI's own code for a prompt over the window, so callers handle both alike.
    ("context_too_long", None): _Row(
        400,
        INVALID_REQUEST,
        "context_length_exceeded",
        "the messages are too long for the route's context policy",
        param="messages",
    ),
}


def error_for_dead_letter(letter: DeadLetter, *, request_id: str | None = None) -> OpenAIError:
    """The error a caller gets for ``letter``; ``request_id`` names the request when the
    letter could not (its input was unreadable)."""
    kind = letter.last_error.kind if letter.last_error is not None else None
    row = _TABLE.get((letter.reason, kind)) or _TABLE[(letter.reason, None)]
    rid = letter.request_id or request_id or "unknown"
    why = f": {letter.detail}" if row.show_detail and letter.detail else ""
    message = f"{row.summary}{why} (request_id {rid})"
    headers: dict[str, str] = {}
    wait = _retry_after_s(letter)
    if wait is not None:
        headers["retry-after"] = str(max(0, math.ceil(wait)))
        headers["retry-after-ms"] = str(max(0, round(wait * 1000)))
    elif row.futile:
        headers["x-should-retry"] = "false"
    return OpenAIError(row.status, message, row.type, row.param, row.code, headers=headers)


def _retry_after_s(letter: DeadLetter) -> float | None:
    """When trying again can work: a limit's own figure, else what the provider asked."""
    if letter.limit is not None and letter.limit.retry_after_s is not None:
        return letter.limit.retry_after_s
    if letter.reason == "retry_after_too_long" and letter.last_error is not None:
        return letter.last_error.retry_after_s
    return None


def error_frame(error: OpenAIError | DeadLetter, *, request_id: str | None = None) -> bytes:
    """The server-sent event that ends a broken stream, never followed by ``[DONE]``: the
    OpenAI SDKs raise ``APIError`` on it, so a cut stream cannot pass for a whole one."""
    if isinstance(error, DeadLetter):
        error = error_for_dead_letter(error, request_id=request_id)
    return b"event: error\ndata: " + orjson.dumps(error.body()) + b"\n\n"
