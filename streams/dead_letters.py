"""Dead letters for input a stage could not read: what was wrong, and the raw bytes."""

from __future__ import annotations

import orjson
from pydantic import ValidationError

from schemas.events import DeadLetter, DeadLetterReason, DeadLetterStage, EventSource
from streams.window import Source

# Keep dead letters small; the reason matters more than the bytes.
PAYLOAD_LIMIT = 4096


def describe(exc: ValidationError) -> str:
    """The first few failures as ``field.path: problem``, for humans reading the DLQ."""
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err["loc"]) or "(event)"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)


def unreadable(
    stage: DeadLetterStage,
    raw: bytes,
    reason: DeadLetterReason,
    detail: str,
    *,
    request_id: str | None = None,
    tenant: str | None = None,
) -> DeadLetter:
    return DeadLetter(
        request_id=request_id,
        tenant=tenant,
        stage=stage,
        reason=reason,
        detail=detail,
        payload=raw[:PAYLOAD_LIMIT].decode("utf-8", errors="replace"),
    )


def schema_invalid(
    stage: DeadLetterStage, raw: bytes, what: str, exc: ValidationError
) -> DeadLetter:
    return unreadable(stage, raw, "schema_invalid", f"{what} fails the schema: {describe(exc)}")


def identity(raw: bytes) -> tuple[str | None, str | None]:
    """request_id and tenant of an event, if its JSON has them at the top or in ``request``."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None, None
    if not isinstance(data, dict):
        return None, None
    inner = data.get("request")
    tenant = data.get("tenant") or (inner.get("tenant") if isinstance(inner, dict) else None)
    rid = data.get("request_id")
    # Within the schema's lengths, so that a huge bogus id cannot make the letter too big.
    return (
        rid if isinstance(rid, str) and 0 < len(rid) <= 128 else None,
        tenant if isinstance(tenant, str) and 0 < len(tenant) <= 64 else None,
    )


def internal_error(
    stage: DeadLetterStage, raw: bytes, source: Source, exc: Exception
) -> DeadLetter:
    """The dead letter of an event whose handler kept failing: a bug, not bad input."""
    request_id, tenant = identity(raw)
    return DeadLetter(
        request_id=request_id,
        tenant=tenant,
        stage=stage,
        reason="internal_error",
        detail=f"{stage} failed on {source.topic}[{source.partition}]@{source.offset}:"
        f" {type(exc).__name__}: {exc}"[:2000],
        payload=raw[:PAYLOAD_LIMIT].decode("utf-8", errors="replace"),
        source=EventSource(topic=source.topic, partition=source.partition, offset=source.offset),
    )
