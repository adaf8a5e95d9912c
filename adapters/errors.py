"""The errors an adapter raises, and the only ones: the retry policy acts on these.

Every failure of a provider call is translated once, at the adapter boundary, into
one of the classes below. Callers branch on the class's ``action``, never on messages.
``kind`` is a stable snake_case name written to usage rows.

``action`` is the one place that says what to do about an error; :mod:`policy.retry`
reads it (and :data:`ACTION_BY_KIND` for the kinds in an attempt history):

- ``retry``: transient; the same model may work on a later attempt (after Retry-After or
  backoff), and the route's other candidates after that;
- ``next_model``: this model (or its provider) cannot serve this request, another might:
  move on at once and never retry this model for the request;
- ``give_up``: the request's own fault, no model will do better: dead letter
  ``permanent_error``.

=========================  =====================  ==========  ==============================
class                      kind                   action      raised for
=========================  =====================  ==========  ==============================
RateLimited                rate_limited           retry       429; ``retry_after_s`` from
                                                              ``retry-after-ms`` or
                                                              ``Retry-After``
ProviderTimeout            timeout                retry       our deadline passed, 408, a
                                                              provider's gateway timeout
ProviderUnavailable        unavailable            retry       5xx, 529 overloaded
ProviderConnectionError    connection_error       retry       connect refused/reset, DNS,
  (a ProviderUnavailable)                                     the peer closing mid-reply
StreamInterrupted          stream_interrupted     retry       a stream that stopped before
  (a ProviderConnectionError)                                 its closing event (dispatch
                                                              retries only while nothing
                                                              of it was relayed)
MalformedResponse          malformed_response     retry       a body we cannot parse or an
                                                              unexpected status
ContextWindowExceeded      context_window         next_model  prompt too long for the model
                                                              (a larger window may fit)
ContentFiltered            content_filtered       give_up     the provider's safety filter
                                                              blocked input or output
AuthenticationFailed       authentication_failed  next_model  401/403, or an account-level
                                                              refusal (billing, quota)
InvalidRequest             invalid_request        give_up     any other 4xx
UnsupportedFeature         unsupported_feature    next_model  checked before the call: the
  (an InvalidRequest)                                         request needs a feature this
                                                              provider's format lacks
=========================  =====================  ==========  ==============================

``tests/adapters/test_errors.py`` checks this table against the classes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar, Literal

from schemas.events import ErrorInfo

ErrorAction = Literal["retry", "next_model", "give_up"]


class ProviderError(Exception):
    """Base of every adapter error; carries what the retry policy and usage rows need."""

    kind: ClassVar[str] = "provider_error"
    action: ClassVar[ErrorAction] = "give_up"

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        status_code: int | None = None,
        provider_request_id: str | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.status_code = status_code
        self.provider_request_id = provider_request_id
        self.retry_after_s = retry_after_s

    @property
    def retryable(self) -> bool:
        """The same model may succeed on a later attempt; follows from ``action``."""
        return self.action == "retry"

    def __str__(self) -> str:
        status = f" {self.status_code}" if self.status_code is not None else ""
        return f"{self.provider}{status} {self.kind}: {self.message}"

    def to_error_info(self) -> ErrorInfo:
        return ErrorInfo(
            kind=self.kind,
            message=str(self),
            status_code=self.status_code,
            retry_after_s=self.retry_after_s,
        )


class RateLimited(ProviderError):
    kind = "rate_limited"
    action: ClassVar[ErrorAction] = "retry"


class ProviderTimeout(ProviderError):
    kind = "timeout"
    action: ClassVar[ErrorAction] = "retry"


class ProviderUnavailable(ProviderError):
    kind = "unavailable"
    action: ClassVar[ErrorAction] = "retry"


class ProviderConnectionError(ProviderUnavailable):
    kind = "connection_error"
    action: ClassVar[ErrorAction] = "retry"


class StreamInterrupted(ProviderConnectionError):
    kind = "stream_interrupted"


class MalformedResponse(ProviderError):
    kind = "malformed_response"
    action: ClassVar[ErrorAction] = "retry"


class ContextWindowExceeded(ProviderError):
    kind = "context_window"
    action: ClassVar[ErrorAction] = "next_model"


class ContentFiltered(ProviderError):
    kind = "content_filtered"
    action: ClassVar[ErrorAction] = "give_up"


class AuthenticationFailed(ProviderError):
    kind = "authentication_failed"
    action: ClassVar[ErrorAction] = "next_model"


class InvalidRequest(ProviderError):
    kind = "invalid_request"
    action: ClassVar[ErrorAction] = "give_up"


class UnsupportedFeature(InvalidRequest):
    kind = "unsupported_feature"
    action: ClassVar[ErrorAction] = "next_model"


ALL_ERRORS: tuple[type[ProviderError], ...] = (
    RateLimited,
    ProviderTimeout,
    ProviderUnavailable,
    ProviderConnectionError,
    StreamInterrupted,
    MalformedResponse,
    ContextWindowExceeded,
    ContentFiltered,
    AuthenticationFailed,
    InvalidRequest,
    UnsupportedFeature,
)

# Attempt histories record an error's kind, not its class: this maps a kind back to what
# to do about it.
ACTION_BY_KIND: Mapping[str, ErrorAction] = {cls.kind: cls.action for cls in ALL_ERRORS}
