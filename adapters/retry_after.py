"""Reading how long a provider asks us to wait before the next attempt."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


def parse_retry_after(headers: Mapping[str, str], *, now: datetime | None = None) -> float | None:
    """Seconds to wait, from ``retry-after-ms`` or ``Retry-After`` (seconds or HTTP-date).

    ``retry-after-ms`` wins when both are present because it is the more precise of
    the two (OpenAI sends both). A date in the past means "now", so it yields 0.
    Returns None when neither header is present or usable.
    """
    millis = _number(headers.get("retry-after-ms"))
    if millis is not None:
        return millis / 1000.0
    raw = headers.get("retry-after")
    if raw is None:
        return None
    seconds = _number(raw)
    if seconds is not None:
        return seconds
    return _seconds_until(raw, now or datetime.now(UTC))


def _number(raw: str | None) -> float | None:
    if raw is None:
        return None
    try:
        value = float(raw.strip())
    except ValueError:
        return None
    # inf/nan would poison backoff arithmetic; negatives mean "no wait".
    if not math.isfinite(value):
        return None
    return max(value, 0.0)


def _seconds_until(raw: str, now: datetime) -> float | None:
    try:
        when = parsedate_to_datetime(raw.strip())
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        # RFC 9110 dates are always GMT; parsedate leaves "-0000" naive.
        when = when.replace(tzinfo=UTC)
    return max((when - now).total_seconds(), 0.0)
