"""PII redaction: find personal data and secrets in a text, then mask, tokenise or block.

``find`` runs the detectors a :class:`~schemas.pii.PiiConfig` enables and returns
non-overlapping :class:`Finding` s. A finding holds a kind and offsets, never the value, so
findings can be logged, counted and put on a dead letter. What happens next is the mode's:

- ``mask``: :func:`mask` writes ``[EMAIL]`` in place of each value, for good.
- ``placeholder``: one :class:`Placeholders` per request turns each distinct value into a
  token (``<<EMAIL_1>>``; the same value gets the same token in every message of the
  request), and its :class:`Restorer` puts the values back into the response.
- ``block``: :func:`kinds_of` names the kinds found for the dead letter.

Overlapping finds (a phone inside an IBAN, a JWT after ``Bearer``) are settled the same way
every time: the longest span wins, then the kind ranked first in :data:`PRIORITY`.

Libraries: phonenumbers (libphonenumber's metadata) judges phones and python-stdnum the
check digits and the IBAN registry; both work offline with their data in the wheel.
Presidio was left out: its analyzer fetches a spaCy model at start-up (spaCy models are
not on PyPI), and its pattern recognizers cover what these detectors do. detect-secrets
was left out too: it scans line by line, reports values rather than offsets, and its
entropy plugins flag every git SHA; the vendor formats it knows are written out in
policy.pii_secrets.
"""

from __future__ import annotations

import bisect
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from policy.pii_detectors import (
    Span,
    Token,
    detect_email,
    detect_iban,
    detect_ip_address,
    detect_payment_card,
    detect_phone,
    number_tokens,
)
from policy.pii_ids import detect_national_id
from policy.pii_secrets import detect_secret
from schemas.pii import PiiConfig, PiiKind, PiiMode

# Ties between equally long overlapping finds go to the kind ranked first: a secret or a
# checksum-validated number is a surer call than a phone or an address.
PRIORITY: tuple[str, ...] = (
    PiiKind.SECRET,
    PiiKind.PAYMENT_CARD,
    PiiKind.IBAN,
    PiiKind.NATIONAL_ID,
    PiiKind.EMAIL,
    PiiKind.PHONE,
    PiiKind.IP_ADDRESS,
)
_RANK = {kind: i for i, kind in enumerate(PRIORITY)}


@dataclass(frozen=True, slots=True)
class Finding:
    """Where one value sits in the scanned text: ``text[start:end]``.

    ``kind`` is a :class:`PiiKind` value or a custom pattern's name; ``detector`` says
    which format matched (``iban``, ``us_ssn``, ``github_token``). Neither holds any part
    of the value, so a finding is safe to log.
    """

    kind: str
    start: int
    end: int
    detector: str


# The detectors that look at runs of digits share one pass that finds them.
_DIGIT_KINDS = frozenset(
    {PiiKind.PHONE, PiiKind.PAYMENT_CARD, PiiKind.NATIONAL_ID, PiiKind.IP_ADDRESS}
)


def _spans(kind: PiiKind, text: str, tokens: list[Token], config: PiiConfig) -> Iterable[Span]:
    match kind:
        case PiiKind.EMAIL:
            return detect_email(text)
        case PiiKind.PHONE:
            return detect_phone(text, tokens, config.phone_region)
        case PiiKind.PAYMENT_CARD:
            return detect_payment_card(text, tokens)
        case PiiKind.IBAN:
            return detect_iban(text)
        case PiiKind.NATIONAL_ID:
            return detect_national_id(text, tokens)
        case PiiKind.IP_ADDRESS:
            return detect_ip_address(text, tokens)
        case PiiKind.SECRET:
            return detect_secret(text)


def find(text: str, config: PiiConfig) -> list[Finding]:
    """Every value the config looks for in ``text``, in text order, none overlapping."""
    tokens = number_tokens(text) if config.kinds & _DIGIT_KINDS else []
    found: list[Finding] = []
    for kind in PRIORITY:
        if kind in config.kinds:
            spans = _spans(PiiKind(kind), text, tokens, config)
            found.extend(Finding(str(kind), s, e, d) for s, e, d in spans)
    for pattern in config.custom_patterns:
        # re caches compiled patterns, and the config validated this one at load.
        for m in re.finditer(pattern.regex, text):
            if m.end() > m.start():
                found.append(Finding(pattern.name, m.start(), m.end(), pattern.name))
    return resolve_overlaps(found)


def _order(finding: Finding) -> tuple[int, int, str, int, str]:
    rank = _RANK.get(finding.kind, len(PRIORITY))
    # Custom kinds rank after the built-ins, among themselves by name.
    return (finding.start - finding.end, rank, finding.kind, finding.start, finding.detector)


def resolve_overlaps(findings: Iterable[Finding]) -> list[Finding]:
    """Keep the longest of overlapping finds (ties: :data:`PRIORITY`, then kind name and
    position), in text order. The result does not depend on the input's order."""
    starts: list[int] = []
    kept: list[Finding] = []
    for finding in sorted(set(findings), key=_order):
        i = bisect.bisect_right(starts, finding.start)
        if i > 0 and kept[i - 1].end > finding.start:
            continue
        if i < len(kept) and kept[i].start < finding.end:
            continue
        starts.insert(i, finding.start)
        kept.insert(i, finding)
    return kept


def _label(kind: str) -> str:
    return kind.upper()


def _replace(text: str, findings: Sequence[Finding], write: Callable[[Finding], str]) -> str:
    parts: list[str] = []
    at = 0
    for finding in resolve_overlaps(findings):
        parts.append(text[at : finding.start])
        parts.append(write(finding))
        at = finding.end
    parts.append(text[at:])
    return "".join(parts)


def mask(text: str, findings: Sequence[Finding]) -> str:
    """``text`` with each finding replaced by ``[KIND]``: the value is gone for good."""
    return _replace(text, findings, lambda f: f"[{_label(f.kind)}]")


def kinds_of(findings: Iterable[Finding]) -> tuple[str, ...]:
    """The distinct kinds found, sorted: what a block names instead of the values."""
    return tuple(sorted({f.kind for f in findings}))


def count_kinds(findings: Iterable[Finding]) -> dict[str, int]:
    """How many values of each kind were found, kinds sorted: for a dead letter or a log."""
    counts: dict[str, int] = {}
    for f in findings:
        counts[f.kind] = counts.get(f.kind, 0) + 1
    return dict(sorted(counts.items()))


# What a model may do to a token it echoes: pad the inside with spaces, change the case.
_TOKEN = re.compile(r"<<\s*([A-Za-z][A-Za-z0-9_]*_\d+)\s*>>")
# The tail of a streamed chunk that could still become a token once more text arrives.
_PARTIAL_TOKEN = re.compile(r"<(?:<\s*(?:[A-Za-z][A-Za-z0-9_]*(?:\s*>?)?)?)?\Z")
_PARTIAL_MAX = 80


class Restorer:
    """Puts the values behind a request's tokens back into response text.

    Tokens the request never issued are left as they are. The repr counts tokens and shows
    no value.
    """

    __slots__ = ("_values",)

    def __init__(self, values: Mapping[str, str]) -> None:
        # Keys are the token's inside, upper-cased: "EMAIL_1".
        self._values = dict(values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"Restorer({len(self._values)} tokens)"

    def restore(self, text: str) -> str:
        if not self._values or "<<" not in text:
            return text

        def back(m: re.Match[str]) -> str:
            return self._values.get(m.group(1).upper(), m.group())

        return _TOKEN.sub(back, text)

    def stream(self) -> StreamRestorer:
        return StreamRestorer(self)


class StreamRestorer:
    """Restores tokens in a streamed response: a token split across chunks is held back
    until it is complete (or clearly is not a token), then written restored."""

    __slots__ = ("_pending", "_restorer")

    def __init__(self, restorer: Restorer) -> None:
        self._restorer = restorer
        self._pending = ""

    def feed(self, chunk: str) -> str:
        text = self._pending + chunk
        tail = _PARTIAL_TOKEN.search(text, max(0, len(text) - _PARTIAL_MAX))
        cut = tail.start() if tail is not None else len(text)
        self._pending = text[cut:]
        return self._restorer.restore(text[:cut])

    def flush(self) -> str:
        text, self._pending = self._pending, ""
        return self._restorer.restore(text)


class Placeholders:
    """One per request: turns values into tokens, the same value into the same token in
    every message of the request, and knows how to turn them back.

    It holds the values (it must, to restore them) and so stays in memory with the request:
    its repr counts tokens and shows no value.
    """

    __slots__ = ("_counts", "_tokens", "_values")

    def __init__(self) -> None:
        self._tokens: dict[tuple[str, str], str] = {}
        self._values: dict[str, str] = {}
        self._counts: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"Placeholders({len(self._values)} tokens)"

    def _token(self, kind: str, value: str) -> str:
        key = (kind, value)
        name = self._tokens.get(key)
        if name is None:
            label = _label(kind)
            self._counts[label] = self._counts.get(label, 0) + 1
            name = f"{label}_{self._counts[label]}"
            self._tokens[key] = name
            self._values[name] = value
        return f"<<{name}>>"

    def apply(self, text: str, findings: Sequence[Finding]) -> str:
        """``text`` with each finding replaced by its value's token."""
        return _replace(text, findings, lambda f: self._token(f.kind, text[f.start : f.end]))

    @property
    def restorer(self) -> Restorer:
        return Restorer(self._values)

    @property
    def json_restorer(self) -> Restorer:
        """For tokens inside JSON text (streamed tool-call arguments): each value comes
        back escaped as a JSON string's contents, so a quote in a value cannot end it."""
        escaped = {k: json.dumps(v, ensure_ascii=False)[1:-1] for k, v in self._values.items()}
        return Restorer(escaped)


@dataclass(frozen=True, slots=True)
class Redaction:
    """What the mode made of one text: the text to send (None when blocked) and the kinds
    found (never the values)."""

    text: str | None
    kinds: tuple[str, ...]

    @property
    def blocked(self) -> bool:
        return self.text is None


def redact(text: str, config: PiiConfig, placeholders: Placeholders | None = None) -> Redaction:
    """Apply the config's mode to ``text``. Placeholder mode needs the request's
    :class:`Placeholders`, shared by all of its texts so that tokens stay stable."""
    findings = find(text, config)
    kinds = kinds_of(findings)
    if config.mode is PiiMode.BLOCK:
        return Redaction(None if findings else text, kinds)
    if config.mode is PiiMode.PLACEHOLDER:
        if placeholders is None:
            raise ValueError("placeholder mode needs the request's Placeholders")
        return Redaction(placeholders.apply(text, findings), kinds)
    return Redaction(mask(text, findings), kinds)
