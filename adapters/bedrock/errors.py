"""Bedrock's error replies translated into the adapter error hierarchy.

Bedrock (a rest-json AWS service) names the error in the ``x-amzn-ErrorType`` header,
e.g. ``ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/``, and
sometimes in the body's ``__type`` (``com.amazon.coral.service#ThrottlingException``);
the body's ``message`` (or ``Message``) says what happened in prose. The type name
decides the class; the status decides only when no type is given.
"""

from __future__ import annotations

from pydantic import ConfigDict, Field, ValidationError

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

ERROR_TYPE_HEADER = "x-amzn-ErrorType"

_TYPE_ERRORS: dict[str, type[ProviderError]] = {
    "ThrottlingException": RateLimited,
    # Tokens or requests per minute over the account's quota: waiting frees it up.
    "ServiceQuotaExceededException": RateLimited,
    "ServiceUnavailableException": ProviderUnavailable,
    "InternalServerException": ProviderUnavailable,
    # A 429 by status, but it means the model is being loaded, not that we sent too much.
    "ModelNotReadyException": ProviderUnavailable,
    # The model itself failed (a 424); another attempt or model may not.
    "ModelErrorException": ProviderUnavailable,
    # The same, reported inside a stream that had begun (ConverseStream's own).
    "ModelStreamErrorException": ProviderUnavailable,
    "ModelTimeoutException": ProviderTimeout,
    "ValidationException": InvalidRequest,
    "ResourceNotFoundException": InvalidRequest,
    "AccessDeniedException": AuthenticationFailed,
    # AWS's authentication layer, in front of Bedrock: bad, expired or missing keys.
    "UnrecognizedClientException": AuthenticationFailed,
    "InvalidSignatureException": AuthenticationFailed,
    "IncompleteSignatureException": AuthenticationFailed,
    "MissingAuthenticationTokenException": AuthenticationFailed,
    "ExpiredTokenException": AuthenticationFailed,
}

# Bedrock reports an over-long prompt as a ValidationException with no code of its
# own, so the message is the only signal. The check is confined to that type and to
# the phrasings Bedrock uses ("Input is too long for requested model.", "Too many
# input tokens", and Anthropic's "prompt is too long" passed through); other wording
# degrades to InvalidRequest, which is also non-retryable.
_CONTEXT_WINDOW_PHRASES = ("input is too long", "too many input tokens", "prompt is too long")


class _ErrorBody(LenientModel):
    model_config = ConfigDict(populate_by_name=True)

    message: str | None = None
    capital_message: str | None = Field(default=None, alias="Message")
    type_name: str | None = Field(default=None, alias="__type")


def error_type_name(raw: str | None) -> str | None:
    """``ThrottlingException`` from the header's or ``__type``'s decorated forms."""
    if not raw:
        return None
    name = raw.split(":", 1)[0]
    return name.rsplit("#", 1)[-1].strip() or None


def translate_error(reply: HttpReply) -> ProviderError:
    message = reply.snippet()
    type_name = error_type_name(reply.headers.get(ERROR_TYPE_HEADER))
    try:
        body = _ErrorBody.model_validate(reply.body)
    except ValidationError:
        pass  # not the documented shape: the header or the status decides
    else:
        message = body.message or body.capital_message or message
        type_name = type_name or error_type_name(body.type_name)
    cls = _TYPE_ERRORS.get(type_name or "", error_for_status(reply.status))
    if reply.status == 413 or _is_context_window(type_name, message):
        cls = ContextWindowExceeded
    return reply.error(
        cls,
        f"{type_name}: {message}" if type_name else message,
        retry_after_s=parse_retry_after(reply.headers),
    )


def translate_stream_exception(reply: HttpReply, event_name: str, message: str) -> ProviderError:
    """An error sent inside a stream that began with a 200: an ``exception`` message names
    its member of ``ConverseStreamOutput`` (``throttlingException``), an ``error`` message
    its code; both decide by the exception's name as :func:`translate_error` does. With
    nothing known about it, the failure is the provider's."""
    type_name = event_name[:1].upper() + event_name[1:]
    cls = _TYPE_ERRORS.get(type_name, ProviderUnavailable)
    if _is_context_window(type_name, message):
        cls = ContextWindowExceeded
    return reply.error(cls, f"{type_name}: {message}" if message else type_name)


def _is_context_window(type_name: str | None, message: str) -> bool:
    if type_name != "ValidationException":
        return False
    lowered = message.lower()
    return any(phrase in lowered for phrase in _CONTEXT_WINDOW_PHRASES)
