"""The errors an adapter raises, and the only ones: the retry policy acts on these.

Every failure of a provider call is translated once, at the adapter boundary, into
one of the classes below. Callers branch on the class (or on ``retryable``), never
on messages. ``kind`` is a stable snake_case name written to usage rows.

=========================  =====================  =========  ==============================
class                      kind                   retryable  raised for
=========================  =====================  =========  ==============================
RateLimited                rate_limited           yes        429; ``retry_after_s`` from
                                                             ``retry-after-ms`` or
                                                             ``Retry-After``
ProviderTimeout            timeout                yes        our deadline passed, 408, a
                                                             provider's gateway timeout
ProviderUnavailable        unavailable            yes        5xx, 529 overloaded
ProviderConnectionError    connection_error       yes        connect refused/reset, DNS,
  (a ProviderUnavailable)                                    the peer closing mid-reply
MalformedResponse          malformed_response     yes        a body we cannot parse or an
                                                             unexpected status
ContextWindowExceeded      context_window         no (1)     prompt too long for the model
ContentFiltered            content_filtered       no         the provider's safety filter
                                                             blocked input or output
AuthenticationFailed       authentication_failed  no         401/403, or an account-level
                                                             refusal (billing, quota)
InvalidRequest             invalid_request        no         any other 4xx
UnsupportedFeature         unsupported_feature    no (1)     checked before the call: the
  (an InvalidRequest)                                        request needs a feature this
                                                             provider's format lacks
=========================  =====================  =========  ==============================

(1) Not on the same model: a fallback (a larger window, another format) may succeed.
"""

from __future__ import annotations

from typing import ClassVar

from schemas.events import ErrorInfo


class ProviderError(Exception):
    """Base of every adapter error; carries what the retry policy and usage rows need."""

    kind: ClassVar[str] = "provider_error"
    retryable: ClassVar[bool] = False

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
    retryable = True


class ProviderTimeout(ProviderError):
    kind = "timeout"
    retryable = True


class ProviderUnavailable(ProviderError):
    kind = "unavailable"
    retryable = True


class ProviderConnectionError(ProviderUnavailable):
    kind = "connection_error"
    retryable = True


class MalformedResponse(ProviderError):
    kind = "malformed_response"
    retryable = True


class ContextWindowExceeded(ProviderError):
    kind = "context_window"
    retryable = False


class ContentFiltered(ProviderError):
    kind = "content_filtered"
    retryable = False


class AuthenticationFailed(ProviderError):
    kind = "authentication_failed"
    retryable = False


class InvalidRequest(ProviderError):
    kind = "invalid_request"
    retryable = False


class UnsupportedFeature(InvalidRequest):
    kind = "unsupported_feature"
    retryable = False


ALL_ERRORS: tuple[type[ProviderError], ...] = (
    RateLimited,
    ProviderTimeout,
    ProviderUnavailable,
    ProviderConnectionError,
    MalformedResponse,
    ContextWindowExceeded,
    ContentFiltered,
    AuthenticationFailed,
    InvalidRequest,
    UnsupportedFeature,
)
