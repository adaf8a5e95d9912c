"""Error replies of OpenAI-compatible services, translated into the adapter errors.

The body shapes seen across the family, all read by one lenient model:

* ``{"error": {"message", "type", "param", "code"}}``: OpenAI, Azure, Groq, Together,
  DeepSeek, Perplexity, recent vLLM; OpenRouter puts the HTTP status in ``code``.
* ``{"object": "error", "message", "type", "code"}``: Mistral and older vLLM.
* ``{"error": "text"}``: LM Studio, TGI (with ``error_type``), xAI (with ``code``).

Classification is by status, then by ``error.code``. Only a preset's
``context_window_phrases`` look at the message, for services that report an over-long
prompt as a plain 400 with no code at all (see :mod:`adapters.openai.presets`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from adapters.errors import (
    AuthenticationFailed,
    ContentFiltered,
    ContextWindowExceeded,
    InvalidRequest,
    ProviderError,
)
from adapters.http_call import HttpReply
from adapters.openai.presets import Preset
from adapters.retry_after import parse_retry_after
from adapters.status import error_for_status
from adapters.vendor_reply import LenientModel

# error.code values that say more than the status does.
_CODE_ERRORS: dict[str, type[ProviderError]] = {
    "context_length_exceeded": ContextWindowExceeded,
    # Azure OpenAI rejects a prompt its filter flags with 400 and this code.
    "content_filter": ContentFiltered,
    # Out of credit: a 429 by status, but waiting does not help.
    "insufficient_quota": AuthenticationFailed,
}
# Payment Required: out of credits or balance (DeepSeek, OpenRouter); retrying is futile.
_FAMILY_STATUS: dict[int, type[ProviderError]] = {402: AuthenticationFailed}

# OpenAI's x-ratelimit-reset-* values are Go durations: "1s", "6m0s", "20ms", "7.66s".
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(h|ms|us|µs|ns|m|s)")
_UNIT_S = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
_LIMITS = ("requests", "tokens")


class _ErrorDetail(LenientModel):
    message: str | None = None
    type: str | None = None
    # Some compatible servers put the HTTP status here as a number.
    code: str | int | None = None


class _ErrorBody(LenientModel):
    error: _ErrorDetail | str | None = None
    object: str | None = None
    # Mistral nests a validation detail object here at times.
    message: str | dict[str, Any] | list[Any] | None = None
    type: str | None = None
    code: str | int | None = None

    def detail(self) -> _ErrorDetail | None:
        if isinstance(self.error, _ErrorDetail):
            return self.error
        if isinstance(self.error, str):
            return _ErrorDetail(message=self.error)
        if self.object == "error":
            message = self.message if isinstance(self.message, str) else None
            return _ErrorDetail(message=message, type=self.type, code=self.code)
        return None


def translate_error(reply: HttpReply, preset: Preset) -> ProviderError:
    cls = preset.status_errors.get(reply.status) or _FAMILY_STATUS.get(reply.status)
    cls = cls or error_for_status(reply.status)
    message = reply.snippet()
    try:
        detail = _ErrorBody.model_validate(reply.body).detail()
    except ValidationError:
        detail = None  # not a known error shape: the status alone decides
    if detail is not None:
        message = detail.message or message
        coded = isinstance(detail.code, str) and detail.code in _CODE_ERRORS
        if 400 <= reply.status < 500 and coded:
            cls = _CODE_ERRORS[str(detail.code)]
        elif cls is InvalidRequest and _says_too_long(message, preset):
            cls = ContextWindowExceeded
    retry_after = parse_retry_after(reply.headers)
    if retry_after is None and reply.status == 429:
        retry_after = ratelimit_reset_s(reply.headers)
    return reply.error(cls, message, retry_after_s=retry_after)


def _says_too_long(message: str, preset: Preset) -> bool:
    lowered = message.lower()
    return any(phrase.lower() in lowered for phrase in preset.context_window_phrases)


def ratelimit_reset_s(headers: Mapping[str, str]) -> float | None:
    """When the exhausted limit resets, from ``x-ratelimit-reset-requests/-tokens``.

    Only limits whose ``x-ratelimit-remaining-*`` is 0 count when that header is
    there; waiting for a limit that is not exhausted would only delay the retry. With
    several candidates the longest wait wins, since all must have reset.
    """
    waits: list[float] = []
    for limit in _LIMITS:
        remaining = headers.get(f"x-ratelimit-remaining-{limit}")
        if remaining is not None and remaining.strip() not in ("0", "0.0"):
            continue
        wait = parse_duration_s(headers.get(f"x-ratelimit-reset-{limit}"))
        if wait is not None:
            waits.append(wait)
    return max(waits) if waits else None


def parse_duration_s(raw: str | None) -> float | None:
    """Seconds in a Go duration string such as ``6m0s``; None when it is not one."""
    if raw is None:
        return None
    text = raw.strip()
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    return sum(float(number) * _UNIT_S[unit] for number, unit in parts)
