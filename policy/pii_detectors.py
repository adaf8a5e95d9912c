"""Detectors for structured personal data: emails, phones, payment cards, IBANs, IPs.

Each detector yields ``(start, end, detector)`` spans. A cheap regex finds candidates; a
validator that knows the format decides: Luhn and the issuer ranges for cards, mod-97 and
the country's length for IBANs (python-stdnum), Google's libphonenumber port for phones,
the ipaddress module for IPs.

Speed: a prompt may be 900 KB of logs where one character in five is a digit. Python's
regex engine only skips quickly to where a match can start when the pattern begins with a
literal or a character class, and every digit-led pattern costs a pass over all digits.
So the text is cut once into :func:`number_tokens` (runs of 7+ digits with the separators
people write, and dotted quads), and the digit detectors run their own regex only in a
small window around each token; emails are found from their ``@``, IPv6 addresses from a
``::`` or three colon-separated groups; letter-led patterns start with their class.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator, Sequence
from functools import lru_cache

import phonenumbers

Span = tuple[int, int, str]
# (start, end, number of digits) of a run of digits and separators.
Token = tuple[int, int, int]

# A run of 7+ characters of digits and separators, from a digit to a digit: every phone,
# card, id and dotted quad lies in one. A "+" or "(" before it is inside the margin.
_NUMBER = re.compile(r"\d(?<!\d\d)[\d ().\-/]{5,}\d")
_NOT_DIGITS = str.maketrans("", "", "0123456789")
# Detector regexes look at most this far around a token (their lookarounds and prefixes).
_MARGIN = 3


def number_tokens(text: str) -> list[Token]:
    tokens = []
    for m in _NUMBER.finditer(text):
        raw = m.group()
        tokens.append((m.start(), m.end(), len(raw) - len(raw.translate(_NOT_DIGITS))))
    return tokens


def in_windows(
    pattern: re.Pattern[str], text: str, tokens: Sequence[Token], min_digits: int
) -> Iterator[re.Match[str]]:
    """Matches of ``pattern`` overlapping a token of at least ``min_digits`` digits."""
    n = len(text)
    for start, end, digits in tokens:
        if digits < min_digits:
            continue
        for m in pattern.finditer(text, max(0, start - _MARGIN), min(n, end + _MARGIN)):
            if m.start() < end and m.end() > start:
                yield m


# --- email -----------------------------------------------------------------------------

_LOCAL_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._%+-")
_DOMAIN = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.){1,8}[A-Za-z]{2,24}(?![\w-])"
)
# ``icon@2x.png`` is an asset name, not an address: these "TLDs" are file extensions.
_FILE_SUFFIXES = frozenset({"png", "jpg", "jpeg", "gif", "svg", "webp", "ico", "bmp", "avif"})


def detect_email(text: str) -> Iterator[Span]:
    at = text.find("@")
    while at != -1:
        start = at
        while start > 0 and at - start < 64 and text[start - 1] in _LOCAL_CHARS:
            start -= 1
        # The local part must not start with a dot nor be cut out of a longer run.
        while start < at and text[start] == ".":
            start += 1
        glued = start > 0 and text[start - 1] in _LOCAL_CHARS
        domain = _DOMAIN.match(text, at + 1) if start < at and not glued else None
        if domain is not None and domain.group().rsplit(".", 1)[1].lower() not in _FILE_SUFFIXES:
            yield start, domain.end(), "email"
        at = text.find("@", at + 1)


# --- IBAN ------------------------------------------------------------------------------

_IBAN = re.compile(r"[A-Z](?<![\w-][A-Z])[A-Z]\d{2}(?: ?[A-Z0-9]){11,30}(?![\w-])")
_BBAN_PART = re.compile(r"(\d+)!?[nac]")


@lru_cache(maxsize=512)
def iban_length(country: str) -> int | None:
    """The IBAN length the registry fixes for ``country``, None when it has none."""
    # python-stdnum is imported by the first scan, not by every gateway worker (~8 MB of
    # memory, issue 15): detectors run only under a PII policy.
    from stdnum import numdb

    # The registry splits a known country code off as its own part; an unknown one is not.
    part, properties = numdb.get("iban").info(country + "00")[0]
    bban = properties.get("bban") if part == country else None
    if not bban:
        return None
    return 4 + sum(int(n) for n in _BBAN_PART.findall(bban))


def detect_iban(text: str) -> Iterator[Span]:
    from stdnum import iban as stdnum_iban

    for m in _IBAN.finditer(text):
        raw = m.group()
        expected = iban_length(raw[:2])
        if expected is None:
            continue
        # The regex may run on into capitalised words ("... 00 BY FRIDAY"): the country's
        # length says where the IBAN ends, which must be the end of a group.
        seen = 0
        for i, ch in enumerate(raw):
            if ch != " ":
                seen += 1
            if seen == expected:
                end = i + 1
                break
        else:
            continue
        if end < len(raw) and raw[end] != " ":
            continue
        if stdnum_iban.is_valid(raw[:end]):
            yield m.start(), m.start() + end, "iban"


# Digits that continue an IBAN-shaped code ("AT30 6503 7130 ...") belong to that code even
# when its checksum fails: they are not a card or a phone of their own.
_IBAN_HEAD = re.compile(r"(?<![\w-])[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){0,7} ?\Z")


def continues_iban(text: str, start: int) -> bool:
    return _IBAN_HEAD.search(text, max(0, start - 44), start) is not None


# --- payment cards ---------------------------------------------------------------------

# A plain run of 13-19 digits, or 4-digit groups split by one consistent space or dash
# (4-4-4-4, 4-6-5 for Amex, 4-6-4 for Diners, 4-4-4-4-3 for 19 digits).
_CARD = re.compile(
    r"(?<![\w./-])(?:\d{13,19}|\d{4}(?P<sep>[ -])\d{4,6}(?:(?P=sep)\d{3,5}){1,3})"
    r"(?![\w-]|[./]\d)"
)
# (brand, issuer prefix ranges as (low, high) on the leading digits, allowed lengths)
_BRANDS: tuple[tuple[str, tuple[tuple[int, int], ...], frozenset[int]], ...] = (
    ("visa", ((4, 4),), frozenset({13, 16, 19})),
    ("mastercard", ((51, 55), (2221, 2720)), frozenset({16})),
    ("amex", ((34, 34), (37, 37)), frozenset({15})),
    ("discover", ((6011, 6011), (644, 649), (65, 65)), frozenset(range(16, 20))),
    ("jcb", ((3528, 3589),), frozenset(range(16, 20))),
    ("diners", ((300, 305), (36, 36), (38, 39)), frozenset(range(14, 20))),
    ("unionpay", ((62, 62),), frozenset(range(16, 20))),
    ("maestro", ((50, 50), (56, 58), (6304, 6304), (6759, 6759)), frozenset(range(13, 20))),
)


def card_brand(digits: str) -> str | None:
    """The brand whose issuer range and length fit ``digits``, or None."""
    for brand, ranges, lengths in _BRANDS:
        if len(digits) not in lengths:
            continue
        for low, high in ranges:
            if low <= int(digits[: len(str(low))]) <= high:
                return brand
    return None


def detect_payment_card(text: str, tokens: Sequence[Token]) -> Iterator[Span]:
    from stdnum import luhn

    for m in in_windows(_CARD, text, tokens, 13):
        digits = m.group().replace(" ", "").replace("-", "")
        if (
            13 <= len(digits) <= 19
            and card_brand(digits)
            and luhn.is_valid(digits)
            and not continues_iban(text, m.start())
        ):
            yield m.start(), m.end(), "payment_card"


# --- phone numbers ---------------------------------------------------------------------

# Digits with the separators people write between them; libphonenumber decides. The
# lookbehind keeps ids, decimals, paths and key=value numbers out of the candidates.
_PHONE = re.compile(
    r"(?<![\w+./#:=$€£-])(?:\+ ?)?\(?\d(?:[ ().\-/]{0,3}\d){6,29}\)?(?![\w]|[./:-]?\d)"
)
_PHONE_MAX_DIGITS = 15  # E.164
# The matcher costs ~0.5 ms a call: a prompt of digit groups ("1234 5678 9012 ...") would
# make it run for seconds. Past this many splits per text, run-together numbers are skipped.
_MAX_SPLITS = 64
# Dates and times that dial: "2023-11-08 13" from "2023-11-08 13:36:59", "13/10/2024".
_DATE_START = re.compile(
    r"(?:19|20)\d\d[-/.]\d\d?[-/.]\d\d?|\d\d?[-/.]\d\d?[-/.](?:19|20)\d\d(?!\d)"
)
# Dots alone between digits: a French "06.12.34.56.78" has 2+ digit groups; an IPv4 address
# (four groups of 1-3) or an OID ("1.3.6.1.4.1") does not dial.
_DOTTED = re.compile(r"\d+(?:\.\d+)+")
_IPV4_SHAPE = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")
# A number right after one of these words is an identifier that happens to dial.
_NOT_A_PHONE = re.compile(
    r"(?i)\b(?:serial|s/n|sn|order|invoice|inv|ref|reference|tracking|sku|part|model|item"
    r"|account|acct|ticket|case|id|build|po)(?:\s+(?:number|num|no))?\b[\s.:#-]*$"
)
_PHONE_WORDS = re.compile(r"(?i)\b(?:phone|tel|telephone|mobile|cell|call|fax|whatsapp)\b")
# A bare run of digits is a count, an id or a timestamp far more often than a phone: it
# needs a word that says phone (or number, contact) close before it.
_BARE_DIGITS = re.compile(r"\d+")
_BARE_PHONE_WORDS = re.compile(
    r"(?i)\b(?:phone|tel|telephone|mobile|cell|call|fax|whatsapp|sms|text|number|contact|reach)\b"
)


def _phone_ok(text: str, start: int, raw: str) -> bool:
    if _DATE_START.match(raw) or continues_iban(text, start):
        return False
    if _DOTTED.fullmatch(raw) and (
        _IPV4_SHAPE.fullmatch(raw) or min(len(g) for g in raw.split(".")) < 2
    ):
        return False
    before = text[max(0, start - 32) : start]
    if _BARE_DIGITS.fullmatch(raw) and _BARE_PHONE_WORDS.search(before) is None:
        return False
    return _NOT_A_PHONE.search(before) is None or _PHONE_WORDS.search(before) is not None


def _unbracket(raw: str) -> tuple[int, int]:
    """How many characters to drop at each end: brackets that belong to the prose around
    the number ("see (203.0.113.7)") rather than to an area code."""
    opens, closes = raw.count("("), raw.count(")")
    if raw.startswith("(") and raw.endswith(")") and opens == closes == 1:
        return 1, 1
    if raw.endswith(")") and closes > opens:
        return 0, 1
    if raw.startswith("(") and opens > closes:
        return 1, 0
    return 0, 0


def detect_phone(text: str, tokens: Sequence[Token], region: str) -> Iterator[Span]:
    splits_left = _MAX_SPLITS
    for m in in_windows(_PHONE, text, tokens, 7):
        lead, trail = _unbracket(m.group())
        start, end = m.start() + lead, m.end() - trail
        raw = text[start:end]
        digits = sum(ch.isdigit() for ch in raw)
        if digits > _PHONE_MAX_DIGITS:
            if digits > 2 * _PHONE_MAX_DIGITS or splits_left == 0:
                continue
            splits_left -= 1
            # Two numbers run together ("020 7946 0958 / 020 7946 0959"): let the matcher
            # split them; it is slow on a whole prompt but fine on one candidate.
            for sub in phonenumbers.PhoneNumberMatcher(raw, region, phonenumbers.Leniency.VALID):
                if _phone_ok(text, start + sub.start, sub.raw_string):
                    yield start + sub.start, start + sub.end, "phone"
            continue
        if not _phone_ok(text, start, raw):
            continue
        try:
            number = phonenumbers.parse(raw, region)
        except phonenumbers.NumberParseException:
            continue
        # "+" and a country code are a strong sign on their own: a number in a range the
        # metadata does not list yet still has the right length for its country.
        if raw.startswith("+"):
            ok = phonenumbers.is_possible_number(number)
        else:
            ok = phonenumbers.is_valid_number(number)
        if ok:
            yield start, end, "phone"


# --- IP addresses ----------------------------------------------------------------------

_IPV4 = re.compile(r"(?<![\w.-])(?:\d{1,3}\.){3}\d{1,3}(?![\w]|\.\d|-[A-Za-z]|\+\w)")
# "version 1.2.3.4", "v 10.0.0.1", "build: 4.1.0.2" are releases, not hosts.
_VERSION_BEFORE = re.compile(
    r"(?i)\b(?:version|ver|v|release|rel|build|firmware|fw|revision|rev|update|patch)\.?"
    r"\s*[:=]?\s*$"
)
# Every IPv6 address has a "::" or, written in full, runs of colon-separated groups.
_IPV6_HINT = re.compile(r"::|:[0-9A-Fa-f]{1,4}:[0-9A-Fa-f]{1,4}:")
_IPV6 = re.compile(
    r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9A-Fa-f]{0,4})"
    r"(?![\w:]|\.\w)"
)
_IPV6_MAX = 46


def _names_a_host(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    # Loopback and "any" addresses name no host: they fill config snippets and code.
    return not (address.is_loopback or address.is_unspecified)


def _ipv6_ok(raw: str) -> bool:
    # Slices ("xs[1::2]") and C++ scopes ("a::b") parse as addresses: a real one has two
    # groups and four hex digits at least, or ends in a dotted quad (::ffff:192.0.2.1).
    groups = [g for g in raw.split(":") if g]
    if len(groups) < 2 or not any(ch.isdigit() for ch in raw):
        return False
    if "." not in raw and sum(len(g) for g in groups) < 4:
        return False
    try:
        return _names_a_host(ipaddress.IPv6Address(raw))
    except ValueError:
        return False


def detect_ip_address(text: str, tokens: Sequence[Token]) -> Iterator[Span]:
    for m in in_windows(_IPV4, text, tokens, 4):
        if _VERSION_BEFORE.search(text, max(0, m.start() - 16), m.start()):
            continue
        try:
            v4 = ipaddress.IPv4Address(m.group())
        except ValueError:
            continue
        if _names_a_host(v4):
            yield m.start(), m.end(), "ipv4"
    seen: set[int] = set()
    for hint in _IPV6_HINT.finditer(text):
        lo, hi = max(0, hint.start() - _IPV6_MAX), min(len(text), hint.end() + _IPV6_MAX)
        for m in _IPV6.finditer(text, lo, hi):
            raw = m.group()
            # "fe80::1: no route" ends the address before the colon of the prose.
            if raw.endswith(":") and not raw.endswith("::"):
                raw = raw[:-1]
            if m.start() not in seen and _ipv6_ok(raw):
                seen.add(m.start())
                yield m.start(), m.start() + len(raw), "ipv6"
