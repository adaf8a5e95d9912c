"""Dead letters for input a stage could not read: what was wrong, and the raw bytes.

Such a letter carries the event's raw text (``payload``, capped), and its ``detail`` can
quote it (a schema error names the offending key; an internal error's message is
anything). When the config has PII policies, :func:`masked` takes their values out of
both before the letter is published. The event could not be read, or its handling went
wrong, so neither its route nor its tenant can be trusted to pick a policy: every kind
and custom pattern that any configured policy names is masked, whatever the policies'
modes (a placeholder could never be restored here, and there is nothing left to block).
The :class:`~streams.publisher.Publisher` applies it to every dead letter it sends, so no
stage, present or future, can publish one unmasked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import orjson
from pydantic import ValidationError

from policy.pii import Finding, find, mask, resolve_overlaps
from policy.pii_policy import combine
from schemas.config import GatewayConfig
from schemas.events import DeadLetter, DeadLetterReason, DeadLetterStage, EventSource
from schemas.pii import PiiConfig, PiiKind
from streams.window import Source

# Keep dead letters small; the reason matters more than the bytes.
PAYLOAD_LIMIT = 4096
DETAIL_LIMIT = 2000
# What a payload that may have been cut at PAYLOAD_LIMIT loses from its end when it is
# masked: a value cut in two leaves a fragment no detector recognises (twelve digits of a
# card), and every value but a private key (recognised from its header) is shorter.
CUT_TAIL = 256
CUT_MARK = "[TRUNCATED]"


def describe(exc: ValidationError) -> str:
    """The first few failures as ``field.path: problem``, for humans reading the DLQ.

    It can quote input: a path holds the keys as sent (an unknown field's name), and a
    union's message the tag it got. :func:`masked` covers it when policies are on."""
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err["loc"]) or "(event)"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)


def _payload(raw: bytes) -> str:
    return raw[:PAYLOAD_LIMIT].decode("utf-8", errors="replace")


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
        # Bounded: a schema error quotes keys as sent, and a key can be megabytes.
        detail=detail[:DETAIL_LIMIT],
        payload=_payload(raw),
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
        f" {type(exc).__name__}: {exc}"[:DETAIL_LIMIT],
        payload=_payload(raw),
        source=EventSource(topic=source.topic, partition=source.partition, offset=source.offset),
    )


# --- masking under PII policies -------------------------------------------------------


@dataclass(frozen=True)
class LetterMask:
    """Every configured policy at once: ``scans[0]`` looks for each kind and custom
    pattern any of them names; the others for phones in the other regions policies read
    them in (a number without ``+country`` is one in some regions only)."""

    scans: tuple[PiiConfig, ...]

    def findings(self, text: str) -> list[Finding]:
        return resolve_overlaps(f for scan in self.scans for f in find(text, scan))


def letter_mask(config: GatewayConfig) -> LetterMask | None:
    """What dead letters are masked with under ``config``; None: no PII policy at all."""
    policies = [config.pii.default, *config.pii.tenants.values(), *(r.pii for r in config.routes)]
    configured = tuple(p for p in policies if p is not None)
    if not configured:
        return None
    union = combine(configured).scan
    regions = {p.phone_region for p in configured if PiiKind.PHONE in p.kinds}
    others = sorted(regions - {union.phone_region})
    phones = (PiiConfig(kinds=frozenset({PiiKind.PHONE}), phone_region=r) for r in others)
    return LetterMask((union, *phones))


# JSON string escapes: a payload is mostly JSON text, where a PEM key's line breaks are
# ``\n`` and some encoders write ``@`` or ``/`` escaped.
_ESCAPE = re.compile(r'\\(?:u([0-9a-fA-F]{4})|(["\\/bfnrt]))')
_ESCAPED = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


def _findings(text: str, letters: LetterMask) -> list[Finding]:
    """The values in ``text``, looked for with its JSON escapes read; offsets into ``text``."""
    if "\\" not in text:
        return letters.findings(text)
    view: list[str] = []
    # origin[i]: where the view's i-th character starts in text; one more for the end.
    origin: list[int] = []
    at = 0
    for m in _ESCAPE.finditer(text):
        view.append(text[at : m.start()])
        origin.extend(range(at, m.start()))
        view.append(chr(int(m[1], 16)) if m[1] is not None else _ESCAPED[m[2]])
        origin.append(m.start())
        at = m.end()
    view.append(text[at:])
    origin.extend(range(at, len(text) + 1))
    found = letters.findings("".join(view))
    return [Finding(f.kind, origin[f.start], origin[f.end], f.detector) for f in found]


def _mask_payload(payload: str, letters: LetterMask) -> str:
    findings = _findings(payload, letters)
    if len(payload.encode("utf-8", "surrogatepass")) < PAYLOAD_LIMIT:
        return mask(payload, findings)
    # Possibly cut at the limit: the end goes, but not through a value found whole.
    end = max(0, len(payload) - CUT_TAIL)
    for f in findings:
        if f.start < end < f.end:
            end = f.end
    kept = [f for f in findings if f.end <= end]
    return mask(payload[:end], kept) + CUT_MARK


def masked(letter: DeadLetter, letters: LetterMask) -> DeadLetter:
    """``letter`` as it may leave under PII policies: one carrying a raw event has the
    values masked in its payload and detail (at most DETAIL_LIMIT of it) and says so.
    Letters without a payload are built from routed requests, whose text reached
    providers redacted (an error echoing it echoes masks or tokens), or from figures."""
    if letter.payload is None or letter.payload_masked:
        return letter
    detail = letter.detail[:DETAIL_LIMIT]
    return letter.model_copy(
        update={
            "payload": _mask_payload(letter.payload, letters),
            "detail": mask(detail, _findings(detail, letters)),
            "payload_masked": True,
        }
    )


def has_kind(raw: bytes, kind: str) -> bool:
    """Whether a tagged event (admission, cache) says ``kind``; False when unreadable."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return False
    return isinstance(data, dict) and data.get("kind") == kind
