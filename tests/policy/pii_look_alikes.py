"""Look-alikes for the PII corpus: numbers and strings that must not be found.

Order numbers, timestamps, ISO dates, version strings, UUIDs, git SHAs, tracking numbers,
cards failing Luhn, IBANs failing mod-97, prices, phone-like serials, invalid SSNs,
check-digit-valid numbers with no word naming an id, IMEIs, Luhn-valid numbers no issuer
uses, and shapes close to IPs, secrets and emails.
"""

from __future__ import annotations

import random
import string
import uuid
from collections.abc import Callable

from tests.policy.pii_values import (
    IBAN_LAYOUTS,
    US_AREAS,
    alnum,
    digits,
    group,
    luhn_digit,
    make_aadhaar,
    make_bsn,
    make_card,
    make_iban,
)

# --- look-alikes ----------------------------------------------------------------------


def _bad_luhn(rnd: random.Random) -> str:
    good = make_card(rnd, "4", 16)
    return good[:-1] + str((int(good[-1]) + rnd.randint(1, 9)) % 10)


def _bad_iban(rnd: random.Random) -> str:
    good = make_iban(rnd, rnd.choice(sorted(IBAN_LAYOUTS)))
    wrong = (int(good[2:4]) - 2 + rnd.randint(1, 94)) % 95 + 2  # another value in 2..96
    return f"{good[:2]}{wrong:02d}{good[4:]}"


def _sha(rnd: random.Random, n: int = 40) -> str:
    return alnum(rnd, n, "0123456789abcdef")


def _hms(r: random.Random) -> str:
    return f"{r.randint(10, 23)}:{r.randint(10, 59)}:{r.randint(10, 59)}"


def _dotted(r: random.Random, parts: int, high: int = 9) -> str:
    return ".".join(str(r.randint(0, high)) for _ in range(parts))


def _pick(r: random.Random, *makers: Callable[[], str]) -> str:
    """One of several look-alike shapes; only the chosen one draws random numbers."""
    return makers[r.randrange(len(makers))]()


def _order_number(r: random.Random) -> str:
    return r.choice(["Order #{}", "order no. {} shipped", "PO-2024-{}"]).format(digits(r, 9))


def _timestamp(r: random.Random) -> str:
    return _pick(
        r,
        lambda: f"2024-0{r.randint(1, 9)}-1{r.randint(0, 9)}T{_hms(r)}Z",
        lambda: f"at 2023-11-0{r.randint(1, 9)} {_hms(r)}.{digits(r, 3)}",
        lambda: f"ts={r.randint(1_600_000_000, 1_750_000_000)}",
        lambda: f"epoch ms {r.randint(1_600_000_000_000, 1_750_000_000_000)}",
    )


def _iso_date(r: random.Random) -> str:
    day, month = r.randint(1, 28), r.randint(1, 12)
    return f"due 20{r.randint(10, 30)}-{month:02d}-{day:02d} or {day:02d}/{month:02d}/2024"


def _version(r: random.Random) -> str:
    return _pick(
        r,
        lambda: f"upgrade to v{_dotted(r, 3, 20)}",
        lambda: f"version {_dotted(r, 4)}",
        lambda: f"{_dotted(r, 4)}-beta",
        lambda: f"OID 1.3.6.1.4.1.{r.randint(1, 60000)}",
        lambda: f"Python 3.{r.randint(8, 13)}.{r.randint(0, 12)}",
        lambda: f"release {_dotted(r, 4)}",
    )


def _tracking_number(r: random.Random) -> str:
    return _pick(
        r,
        lambda: f"UPS 1Z{alnum(r, 6, string.ascii_uppercase + string.digits)}{digits(r, 10)}",
        lambda: f"USPS {group('9400' + digits(r, 18))}",
        lambda: f"FedEx {digits(r, 12)}",
    )


def _price(r: random.Random) -> str:
    return _pick(
        r,
        lambda: f"${r.randint(1, 999)},{digits(r, 3)}.{digits(r, 2)}",
        lambda: f"€{r.randint(1, 99)}.{digits(r, 3)},{digits(r, 2)}",
        lambda: f"USD {digits(r, 7)}.00",
    )


def _phone_like_serial(r: random.Random) -> str:
    dialable = r.choice(US_AREAS) + str(r.randint(2, 9)) + digits(r, 6)
    return r.choice(["Serial: {}", "S/N {}", "SKU {}", "order {}"]).format(dialable)


def _invalid_ssn(r: random.Random) -> str:
    area = r.choice(["000", "666", "9" + digits(r, 2)])
    return f"{area}-{digits(r, 2)}-{digits(r, 4)}"


def _not_an_ip(r: random.Random) -> str:
    return _pick(
        r,
        lambda: f"{r.randint(256, 999)}.{_dotted(r, 3, 255)}",
        lambda: _dotted(r, 5),
        lambda: "listening on 127.0.0.1:8080 and 0.0.0.0",
        lambda: f"MAC 00:1A:2B:{r.randint(10, 99)}:4D:5E at {_hms(r)}",
        lambda: "std::vector<int>::iterator",
        lambda: f"every other item: xs[::{r.randint(2, 9)}] or xs[1::2]",
    )


def _not_a_secret(r: random.Random) -> str:
    return _pick(
        r,
        lambda: "the sk-learn-compatible-estimator-wrapper-for-pipelines class",
        lambda: "she was the bearer of the good news",
        lambda: "Authorization: Bearer <token>",
        lambda: f"AKIA{alnum(r, 10, string.ascii_uppercase)} is too short",
        lambda: "eyJhbGciOi is only a header prefix",
        lambda: f"branch ghp_{alnum(r, 8)} name",
    )


def _not_an_email(r: random.Random) -> str:
    return r.choice(
        ["icon@2x.png", "npm i lodash@4.17.21", "ping @channel now", "user@localhost", "@property"]
    )


def _imei(r: random.Random) -> str:
    # IMEIs carry a Luhn digit too, but 15 digits from a TAC fit no card issuer.
    body = r.choice(["35", "86", "01"]) + digits(r, 12)
    return f"IMEI {body}{luhn_digit(body)}"


def _luhn_no_issuer(r: random.Random) -> str:
    body = r.choice("1789") + digits(r, 14)
    return f"ref {group(body + luhn_digit(body))}"


def _misc_numbers(r: random.Random) -> str:
    return _pick(
        r,
        lambda: f"{r.choice(US_AREAS)}{r.randint(2, 9)}{digits(r, 6)} bytes transferred",
        lambda: f"ISBN 978-{r.randint(0, 1)}-{digits(r, 3)}-{digits(r, 5)}-{r.randint(0, 9)}",
        lambda: f"at {r.randint(10, 60)}.{digits(r, 6)}, {r.randint(1, 30)}.{digits(r, 6)}",
        lambda: (
            f"color #{_sha(r, 6)} and 1.{r.randint(0, 9)}.{r.randint(0, 9)}+build.{digits(r, 8)}"
        ),
        lambda: f"image@sha256:{_sha(r, 64)}",
        lambda: f"ZIP {digits(r, 5)}-{digits(r, 4)}",
        lambda: f"pi is 3.{digits(r, 14)}",
    )


LOOK_ALIKES: dict[str, Callable[[random.Random], str]] = {
    "imei": _imei,
    "luhn_valid_no_issuer": _luhn_no_issuer,
    "misc_numbers": _misc_numbers,
    "order_number": _order_number,
    "timestamp": _timestamp,
    "iso_date": _iso_date,
    "version": _version,
    "uuid": lambda r: f"request {uuid.UUID(int=r.getrandbits(128), version=4)}",
    "git_sha": lambda r: f"commit {_sha(r)} (short {_sha(r, 7)})",
    "tracking_number": _tracking_number,
    "bad_luhn_card": lambda r: f"card {group(_bad_luhn(r))}",
    "bad_iban": lambda r: f"IBAN {group(_bad_iban(r))}",
    "price": _price,
    "phone_like_serial": _phone_like_serial,
    "invalid_ssn": _invalid_ssn,
    # Valid check digits with no word naming the scheme: an id would need one.
    "bare_id_digits": lambda r: f"ref {make_bsn(r)} and item {make_aadhaar(r)}",
    "not_an_ip": _not_an_ip,
    "not_a_secret": _not_a_secret,
    "not_an_email": _not_an_email,
}
