"""Dead letters for input a stage could not read: what was wrong, and the raw bytes."""

from __future__ import annotations

from pydantic import ValidationError

from schemas.events import DeadLetter, DeadLetterReason, DeadLetterStage

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
