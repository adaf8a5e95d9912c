"""Values for the PII corpus, each valid by its format's own rules.

The check digits are computed here from the specifications (Luhn, ISO 7064 mod-97 for
IBANs, the 11-check, mod-11 for CPF, Verhoeff), not by the libraries the detectors use,
so a validator that refuses a real value shows up as lost recall; test_pii_detectors
checks that stdnum agrees with every generated value.
"""

from __future__ import annotations

import base64
import json
import random
import string
from collections.abc import Callable

Gen = Callable[[random.Random], tuple[str, str]]


# --- checksums, written from the specifications --------------------------------------


def luhn_digit(body: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def iban_check(country: str, bban: str) -> str:
    moved = bban + country + "00"
    number = int("".join(str(int(ch, 36)) for ch in moved))
    return f"{98 - number % 97:02d}"


_VERHOEFF_D = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    [1, 2, 3, 4, 0, 6, 7, 8, 9, 5],
    [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
    [3, 4, 0, 1, 2, 8, 9, 5, 6, 7],
    [4, 0, 1, 2, 3, 9, 5, 6, 7, 8],
    [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
    [6, 5, 9, 8, 7, 1, 0, 4, 3, 2],
    [7, 6, 5, 9, 8, 2, 1, 0, 4, 3],
    [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
    [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
]
_VERHOEFF_P = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    [1, 5, 7, 6, 2, 8, 3, 0, 9, 4],
    [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
    [8, 9, 1, 6, 0, 4, 3, 5, 2, 7],
    [9, 4, 5, 3, 1, 2, 6, 8, 7, 0],
    [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
    [2, 7, 9, 3, 8, 0, 6, 4, 1, 5],
    [7, 0, 4, 6, 9, 1, 3, 2, 5, 8],
]
_VERHOEFF_INV = [0, 4, 3, 2, 1, 5, 6, 7, 8, 9]


def verhoeff_digit(body: str) -> str:
    c = 0
    for i, ch in enumerate(reversed(body)):
        c = _VERHOEFF_D[c][_VERHOEFF_P[(i + 1) % 8][int(ch)]]
    return str(_VERHOEFF_INV[c])


def digits(rnd: random.Random, n: int) -> str:
    return "".join(rnd.choice(string.digits) for _ in range(n))


def alnum(rnd: random.Random, n: int, alphabet: str = string.ascii_letters + string.digits) -> str:
    return "".join(rnd.choice(alphabet) for _ in range(n))


def group(value: str, size: int = 4, sep: str = " ") -> str:
    return sep.join(value[i : i + size] for i in range(0, len(value), size))


# --- planted values ------------------------------------------------------------------

_FIRST = ["jane", "li", "omar", "priya", "lukas", "ana", "kofi", "mei", "noah", "sara"]
_LAST = ["doe", "wang", "haddad", "sharma", "muller", "silva", "mensah", "chen", "berg"]
_DOMAINS = ["example.com", "mail.example.org", "corp.example.co.uk", "uni-example.edu", "ex.io"]


def gen_email(rnd: random.Random) -> tuple[str, str]:
    local = rnd.choice(
        [
            f"{rnd.choice(_FIRST)}.{rnd.choice(_LAST)}",
            f"{rnd.choice(_FIRST)}{rnd.randint(1, 99)}",
            f"{rnd.choice(_FIRST)}+{rnd.choice(['news', 'gw', 'x1'])}",
            f"{rnd.choice(_FIRST).upper()}_{rnd.choice(_LAST)}",
        ]
    )
    return "email", f"{local}@{rnd.choice(_DOMAINS)}"


US_AREAS = ["212", "312", "415", "617", "206", "303", "404", "512", "702", "919"]


def gen_phone(rnd: random.Random) -> tuple[str, str]:
    area, exchange = (
        rnd.choice(US_AREAS),
        f"{rnd.randint(2, 9)}{rnd.randint(2, 9)}{rnd.randint(0, 9)}",
    )
    line = digits(rnd, 4)
    forms = [
        ("us", f"({area}) {exchange}-{line}"),
        ("us", f"{area}-{exchange}-{line}"),
        ("us", f"{area}.{exchange}.{line}"),
        ("us", f"+1 {area} {exchange} {line}"),
        ("us", f"+1{area}{exchange}{line}"),
        ("us", f"{area} {exchange} {line}"),
        ("us", f"{area}{exchange}{line}"),
        ("gb", f"+44 (0)20 7{digits(rnd, 3)} {digits(rnd, 4)}"),
        ("gb", f"+44 20 7{digits(rnd, 3)} {digits(rnd, 4)}"),
        ("gb", f"+44 7{rnd.randint(400, 999)} {digits(rnd, 6)}"),
        ("de", f"+49 30 {rnd.randint(2, 9)}{digits(rnd, 7)}"),
        ("de", f"+49 151 {digits(rnd, 8)}"),
        ("fr", f"+33 6 {digits(rnd, 2)} {digits(rnd, 2)} {digits(rnd, 2)} {digits(rnd, 2)}"),
        ("in", f"+91 9{digits(rnd, 4)} {digits(rnd, 5)}"),
    ]
    return "phone", rnd.choice(forms)[1]


# (issuer prefix choices, length, grouping)
_CARD_BRANDS: list[tuple[list[str], int]] = [
    (["4"], 16),
    (["51", "52", "53", "54", "55", "2221", "2720"], 16),
    (["34", "37"], 15),
    (["6011", "65", "644"], 16),
    (["3528", "3589"], 16),
    (["36"], 14),
    (["62"], 16),
    (["4"], 19),
]


def make_card(rnd: random.Random, prefix: str, length: int) -> str:
    body = prefix + digits(rnd, length - len(prefix) - 1)
    return body + luhn_digit(body)


def _format_card(rnd: random.Random, digits: str) -> str:
    if len(digits) in (14, 15):
        parts = [digits[:4], digits[4:10], digits[10:]]
    else:
        parts = [digits[i : i + 4] for i in range(0, len(digits), 4)]
    return rnd.choice(["", " ", "-"]).join(parts)


def gen_card(rnd: random.Random) -> tuple[str, str]:
    prefixes, length = rnd.choice(_CARD_BRANDS)
    return "payment_card", _format_card(rnd, make_card(rnd, rnd.choice(prefixes), length))


# BBAN layouts: n digits, a capital letters, c capital letters or digits.
IBAN_LAYOUTS = {
    "DE": [("n", 8), ("n", 10)],
    "GB": [("a", 4), ("n", 6), ("n", 8)],
    "FR": [("n", 5), ("n", 5), ("c", 11), ("n", 2)],
    "NL": [("a", 4), ("n", 10)],
    "IT": [("a", 1), ("n", 5), ("n", 5), ("c", 12)],
    "CH": [("n", 5), ("c", 12)],
    "AT": [("n", 5), ("n", 11)],
    "PL": [("n", 8), ("n", 16)],
    "IE": [("a", 4), ("n", 6), ("n", 8)],
}
_ALPHABETS = {
    "n": string.digits,
    "a": string.ascii_uppercase,
    "c": string.ascii_uppercase + string.digits,
}


def make_iban(rnd: random.Random, country: str) -> str:
    bban = "".join(
        "".join(rnd.choice(_ALPHABETS[k]) for _ in range(n)) for k, n in IBAN_LAYOUTS[country]
    )
    return country + iban_check(country, bban) + bban


def gen_iban(rnd: random.Random) -> tuple[str, str]:
    value = make_iban(rnd, rnd.choice(sorted(IBAN_LAYOUTS)))
    return "iban", rnd.choice([value, group(value)])


_DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"


def make_ssn(rnd: random.Random) -> str:
    area = rnd.choice([a for a in range(1, 900) if a != 666])
    return f"{area:03d}-{rnd.randint(1, 99):02d}-{rnd.randint(1, 9999):04d}"


def make_bsn(rnd: random.Random) -> str:
    while True:
        body = digits(rnd, 8)
        total = sum(int(d) * w for d, w in zip(body, range(9, 1, -1), strict=True))
        last = total % 11
        if last < 10 and body[0] != "0":
            return body + str(last)


def make_cpf(rnd: random.Random) -> str:
    body = digits(rnd, 9)
    d1 = (sum(int(d) * w for d, w in zip(body, range(10, 1, -1), strict=True)) * 10) % 11 % 10
    d2 = (
        (sum(int(d) * w for d, w in zip(body + str(d1), range(11, 1, -1), strict=True)) * 10)
        % 11
        % 10
    )
    return f"{body}{d1}{d2}"


def make_aadhaar(rnd: random.Random) -> str:
    body = str(rnd.randint(2, 9)) + digits(rnd, 10)
    return body + verhoeff_digit(body)


def gen_national_id(rnd: random.Random) -> tuple[str, str]:
    which = rnd.randrange(10)
    if which == 0:
        return "national_id", make_ssn(rnd)
    if which == 1:
        return "national_id", make_ssn(rnd).replace("-", " ")
    if which == 2:
        prefix = rnd.choice(["AB", "CE", "JG", "PR", "SW", "YZ"])
        nino = f"{prefix}{digits(rnd, 6)}{rnd.choice('ABCD')}"
        spaced = f"{nino[:2]} {nino[2:4]} {nino[4:6]} {nino[6:8]} {nino[8]}"
        return "national_id", rnd.choice([nino, spaced])
    if which == 3:
        number = rnd.randint(10_000_000, 99_999_999)
        return "national_id", f"{number}{_DNI_LETTERS[number % 23]}"
    if which == 4:
        lead = rnd.randrange(3)
        number = rnd.randint(0, 9_999_999)
        letter = _DNI_LETTERS[(lead * 10_000_000 + number) % 23]
        return "national_id", f"{'XYZ'[lead]}{number:07d}{letter}"
    if which == 5:
        c = make_cpf(rnd)
        return "national_id", f"{c[:3]}.{c[3:6]}.{c[6:9]}-{c[9:]}"
    # Bare digits: the sentence template plants the word that names them.
    if which == 6:
        return "national_id", make_bsn(rnd)
    if which == 7:
        return "national_id", make_cpf(rnd)
    if which == 8:
        return "national_id", make_aadhaar(rnd)
    return "national_id", make_ssn(rnd).replace("-", "")


def gen_ip(rnd: random.Random) -> tuple[str, str]:
    if rnd.random() < 0.6:
        first = rnd.choice([8, 23, 45, 81, 100, 151, 172, 192, 203, 10])
        return (
            "ip_address",
            f"{first}.{rnd.randint(0, 255)}.{rnd.randint(0, 255)}.{rnd.randint(1, 254)}",
        )
    groups = [f"{rnd.randint(0, 0xFFFF):x}" for _ in range(8)]
    groups[0] = rnd.choice(["2001", "2a02", "fe80", "2606"])
    full = ":".join(groups)
    compressed = f"{groups[0]}:db8::{groups[6]}:{groups[7]}"
    return "ip_address", rnd.choice([full, compressed, f"{groups[0]}:{groups[1]}::1"])


_B64URL = string.ascii_letters + string.digits + "-_"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


_LABELLED_AWS = "\x00aws:"
_LABELLED_BEARER = "\x00bearer:"
LABELLED = {
    _LABELLED_AWS: ["aws_secret_access_key = {}", 'AWS_SECRET_ACCESS_KEY="{}"'],
    _LABELLED_BEARER: ["Authorization: Bearer {}", "curl -H 'authorization: bearer {}' $URL"],
}


def gen_secret(rnd: random.Random) -> tuple[str, str]:
    which = rnd.randrange(13)
    if which == 0:
        return "secret", "sk-ant-api03-" + alnum(rnd, 93, _B64URL) + "AA"
    if which == 1:
        return "secret", "sk-proj-" + alnum(rnd, 156, _B64URL)
    if which == 2:
        return "secret", "sk-" + alnum(rnd, 48)
    if which == 3:
        return "secret", rnd.choice(["AKIA", "ASIA"]) + alnum(
            rnd, 16, string.ascii_uppercase + string.digits
        )
    if which == 4:
        return "secret", rnd.choice(["ghp_", "gho_", "ghs_"]) + alnum(rnd, 36)
    if which == 5:
        return "secret", f"xoxb-{digits(rnd, 12)}-{digits(rnd, 13)}-{alnum(rnd, 24)}"
    if which == 6:
        header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        claims = {"sub": digits(rnd, 8), "name": rnd.choice(_FIRST), "iat": rnd.randint(1, 2**31)}
        payload = _b64url(json.dumps(claims).encode())
        return "secret", f"{header}.{payload}.{alnum(rnd, 43, _B64URL)}"
    if which == 7:
        body = "\n".join(
            alnum(rnd, 64, string.ascii_letters + string.digits + "+/") for _ in range(6)
        )
        kind = rnd.choice(["RSA ", "EC ", "OPENSSH ", ""])
        return (
            "secret",
            f"-----BEGIN {kind}PRIVATE KEY-----\n{body}\n-----END {kind}PRIVATE KEY-----",
        )
    if which == 8:
        return "secret", "github_pat_" + alnum(rnd, 22) + "_" + alnum(rnd, 59)
    if which == 9:
        return "secret", "sk_live_" + alnum(rnd, 24)
    if which == 10:
        return "secret", "AIza" + alnum(rnd, 35, _B64URL)
    # Values only their label identifies: the template plants the label (see LABELLED).
    if which == 11:
        return "secret", _LABELLED_AWS + alnum(rnd, 40, string.ascii_letters + string.digits + "/+")
    return "secret", _LABELLED_BEARER + alnum(rnd, 32, _B64URL) + "." + alnum(rnd, 12)


POSITIVE_GENERATORS: dict[str, Gen] = {
    "email": gen_email,
    "phone": gen_phone,
    "payment_card": gen_card,
    "iban": gen_iban,
    "national_id": gen_national_id,
    "ip_address": gen_ip,
    "secret": gen_secret,
}
