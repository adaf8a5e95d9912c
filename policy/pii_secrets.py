"""Detectors for credentials by their published formats: API keys, tokens, private keys.

Only formats a vendor fixed (a literal prefix, a length, an alphabet) are matched, plus
values an explicit label introduces (``Authorization: Bearer ...``, ``aws_secret_access_key
= ...``). Entropy guesses are left out on purpose: they flag every git SHA, UUID and hash
in a code prompt, and a redacted SHA breaks the very question the user asked.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

Span = tuple[int, int, str]


def _mixed(value: str) -> bool:
    """A generated key has digits and both cases; a hyphenated word list does not."""
    return (
        any(c.isdigit() for c in value)
        and any(c.isupper() for c in value)
        and any(c.islower() for c in value)
    )


def _has_digit_and_letter(value: str) -> bool:
    return any(c.isdigit() for c in value) and any(c.isalpha() for c in value)


def _always(_: str) -> bool:
    return True


_AWS_BEFORE = re.compile(r"(?i:aws)_?\Z")

# (detector, pattern, check on the matched secret, what must stand right before the match).
# When a pattern has a group, the group is the secret and only it is redacted: the label
# around it stays readable. Each pattern starts with its literal prefix, and the boundary
# check follows as a lookbehind: the regex engine then jumps between occurrences of the
# prefix instead of trying every position of a 900 KB prompt.
_SECRETS: tuple[tuple[str, re.Pattern[str], Callable[[str], bool], re.Pattern[str] | None], ...] = (
    (
        "anthropic_key",
        re.compile(r"sk-ant-(?<![\w-]sk-ant-)[a-z]{3,8}\d{2}-[A-Za-z0-9_-]{32,200}"),
        _always,
        None,
    ),
    (
        "openai_key",
        re.compile(r"sk-(?<![\w-]sk-)(?!ant-)(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{32,200}"),
        _mixed,
        None,
    ),
    (
        "aws_access_key",
        re.compile(r"A(?<![A-Za-z0-9]A)(?:KIA|SIA|BIA|CCA)[A-Z0-9]{16}(?![A-Za-z0-9])"),
        _always,
        None,
    ),
    (
        "aws_secret_key",
        re.compile(
            r"[Ss](?i:ecret_?(?:access_?)?key)[\"']?\s*[:=]\s*[\"']?"
            r"([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])"
        ),
        _always,
        _AWS_BEFORE,
    ),
    (
        "github_token",
        re.compile(r"gh[pousr]_(?<![\w-]gh[pousr]_)[A-Za-z0-9]{36,251}(?!\w)"),
        _always,
        None,
    ),
    (
        "github_token",
        re.compile(r"github_pat_(?<![\w-]github_pat_)[A-Za-z0-9_]{22,242}(?!\w)"),
        _always,
        None,
    ),
    (
        "slack_token",
        re.compile(r"xox[abposr]-(?<![\w-]xox[abposr]-)[A-Za-z0-9-]{10,250}"),
        _has_digit_and_letter,
        None,
    ),
    (
        "slack_webhook",
        re.compile(r"https://hooks\.slack\.com/services/[A-Za-z0-9_/]{20,120}"),
        _always,
        None,
    ),
    (
        "stripe_key",
        re.compile(r"sk_(?<![\w-]sk_)(?:live|test)_[A-Za-z0-9]{16,247}(?!\w)"),
        _always,
        None,
    ),
    (
        "stripe_key",
        re.compile(r"rk_(?<![\w-]rk_)(?:live|test)_[A-Za-z0-9]{16,247}(?!\w)"),
        _always,
        None,
    ),
    (
        "google_api_key",
        re.compile(r"AIza(?<![\w-]AIza)[0-9A-Za-z_-]{35}(?![\w-])"),
        _always,
        None,
    ),
    (
        "jwt",
        re.compile(
            r"eyJ(?<![\w-]eyJ)[A-Za-z0-9_-]{8,4000}"
            r"\.eyJ[A-Za-z0-9_-]{8,8000}\.[A-Za-z0-9_-]{0,2000}"
        ),
        _always,
        None,
    ),
    # "bearer of bad news" has no token after it: the value must look generated.
    (
        "bearer_token",
        re.compile(
            r"[Bb](?<!\w[Bb])(?i:earer)[ \t]+([A-Za-z0-9\-._~+/]{15,4000}[A-Za-z0-9\-_~+/]=*)"
        ),
        _has_digit_and_letter,
        None,
    ),
    (
        "private_key",
        re.compile(
            r"-----BEGIN[A-Z0-9 ]{0,40} PRIVATE KEY(?: BLOCK)?-----"
            r"(?:[\s\S]{0,20000}?-----END[A-Z0-9 ]{0,40} PRIVATE KEY(?: BLOCK)?-----"
            # A key cut off before its END line is still a key: take the armoured body.
            r"|[A-Za-z0-9+/=:\s-]{0,20000})"
        ),
        _always,
        None,
    ),
)


def detect_secret(text: str) -> Iterator[Span]:
    for detector, pattern, check, before in _SECRETS:
        for m in pattern.finditer(text):
            if before is not None and not before.search(text, max(0, m.start() - 8), m.start()):
                continue
            group = 1 if pattern.groups and m.group(1) is not None else 0
            if check(m.group(group)):
                yield m.start(group), m.end(group), detector
