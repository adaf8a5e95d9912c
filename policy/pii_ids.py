"""National identity numbers: those with a check digit, plus the US SSN and UK NINO rules.

Which, and how each is told apart from any other number:

============  ===========================  ===============================================
detector      format                       check
============  ===========================  ===============================================
us_ssn        123-45-6789, 123 45 6789     area not 000/666/9xx, group not 00, serial not
                                           0000, known sample numbers refused (stdnum)
us_ssn        123456789                    the same, only with "SSN"/"social security" near
uk_nino       AB123456C, AB 12 34 56 C     no check digit: prefix letters HMRC issues
nl_bsn        123456782                    11-check (stdnum), only with "BSN" near
es_dni        12345678Z                    control letter (stdnum)
es_nie        X1234567L                    control letter (stdnum)
br_cpf        123.456.789-09               two mod-11 digits (stdnum)
br_cpf        12345678909                  the same, only with "CPF" near
in_aadhaar    2345 6789 0123               Verhoeff (stdnum), only with "Aadhaar" near
============  ===========================  ===============================================

A bare run of 9, 11 or 12 digits passes a check digit one time in ten or eleven, so order
numbers and counts would pass too: those forms need the word that names the scheme within
a few words.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from functools import cache

from policy.pii_detectors import Span, Token, in_windows

_NEAR_BEFORE = 48
_NEAR_AFTER = 24


def _near(text: str, start: int, end: int, keywords: re.Pattern[str]) -> bool:
    """Whether a keyword naming the id stands close before or after the candidate."""
    return (
        keywords.search(text, max(0, start - _NEAR_BEFORE), start) is not None
        or keywords.search(text, end, end + _NEAR_AFTER) is not None
    )


_SSN_GROUPED = re.compile(r"(?<![\w-])\d{3}(?P<sep>[- ])\d{2}(?P=sep)\d{4}(?![\w-])")
_NINE_DIGITS = re.compile(r"(?<![\w.-])\d{9}(?![\w-]|\.\d)")
_SSN_WORDS = re.compile(r"(?i)\b(?:ssn|social security)")
_BSN_WORDS = re.compile(r"(?i)\b(?:bsn|burgerservicenummer|sofinummer)")
# No D, F, I, Q, U, V in the prefix, no O second, none of the prefixes never issued.
_NINO = re.compile(
    r"[A-CEGHJ-PR-TW-Z](?<![\w-][A-Z])[A-CEGHJ-NPR-TW-Z](?<!BG|GB|KN|NK|NT|TN|ZZ)"
    r"(?P<s> ?)\d{2}(?P=s)\d{2}(?P=s)\d{2}(?P=s)[A-D](?![\w-])"
)
_DNI = re.compile(r"(?<![\w-])\d{8}-?[A-Z](?![\w-])")
_NIE = re.compile(r"(?<![\w-])[XYZ]-?\d{7}-?[A-Z](?![\w-])")
_CPF_FORMATTED = re.compile(r"(?<![\w.-])\d{3}\.\d{3}\.\d{3}-\d{2}(?![\w-]|\.\d)")
_ELEVEN_DIGITS = re.compile(r"(?<![\w.-])\d{11}(?![\w-]|\.\d)")
_CPF_WORDS = re.compile(r"(?i)\bcpf\b")
_AADHAAR = re.compile(r"(?<![\w.-])[2-9]\d{3}(?P<s>[ -]?)\d{4}(?P=s)\d{4}(?![\w-]|\.\d)")
_AADHAAR_WORDS = re.compile(r"(?i)\b(?:aadhaar|aadhar|uidai)")


# (detector, candidate regex, fewest digits in its token, check, keyword needed near)
_Rule = tuple[str, re.Pattern[str], int, Callable[[str], bool], re.Pattern[str] | None]


@cache
def _numeric() -> tuple[_Rule, ...]:
    # python-stdnum is imported by the first scan, not by every gateway worker (~8 MB of
    # memory, issue 15): detectors run only under a PII policy.
    from stdnum.br import cpf
    from stdnum.es import dni, nie
    from stdnum.in_ import aadhaar
    from stdnum.nl import bsn
    from stdnum.us import ssn

    def ssn_ok(value: str) -> bool:
        return bool(ssn.is_valid(value.replace(" ", "-")))

    return (
        ("us_ssn", _SSN_GROUPED, 9, ssn_ok, None),
        ("us_ssn", _NINE_DIGITS, 9, ssn.is_valid, _SSN_WORDS),
        ("nl_bsn", _NINE_DIGITS, 9, bsn.is_valid, _BSN_WORDS),
        ("es_dni", _DNI, 8, dni.is_valid, None),
        ("es_nie", _NIE, 7, nie.is_valid, None),
        ("br_cpf", _CPF_FORMATTED, 11, cpf.is_valid, None),
        ("br_cpf", _ELEVEN_DIGITS, 11, cpf.is_valid, _CPF_WORDS),
        ("in_aadhaar", _AADHAAR, 12, aadhaar.is_valid, _AADHAAR_WORDS),
    )


# The words the keyword rules look for, as lowercase ASCII: a rule whose words the text
# never mentions is skipped without looking at a single token.
_WORDS: dict[re.Pattern[str], tuple[bytes, ...]] = {
    _SSN_WORDS: (b"ssn", b"social security"),
    _BSN_WORDS: (b"bsn", b"burgerservicenummer", b"sofinummer"),
    _CPF_WORDS: (b"cpf",),
    _AADHAAR_WORDS: (b"aadhaar", b"aadhar", b"uidai"),
}


def detect_national_id(text: str, tokens: Sequence[Token]) -> Iterator[Span]:
    ascii_lower = text.encode("ascii", "ignore").lower()
    for detector, candidates, min_digits, valid, keywords in _numeric():
        if keywords is not None and not any(w in ascii_lower for w in _WORDS[keywords]):
            continue
        for m in in_windows(candidates, text, tokens, min_digits):
            if keywords is not None and not _near(text, m.start(), m.end(), keywords):
                continue
            if valid(m.group()):
                yield m.start(), m.end(), detector
    # The NINO's digits are too few for a token; its letters lead the pattern.
    for m in _NINO.finditer(text):
        yield m.start(), m.end(), "uk_nino"
