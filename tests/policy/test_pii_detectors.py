"""Each detector on values valid by their format's rules, and on the near misses it must
refuse: a wrong check digit, an issuer range no card has, a version string, a slice."""

from __future__ import annotations

import random

import pytest
from stdnum import iban, luhn
from stdnum.br import cpf
from stdnum.in_ import aadhaar
from stdnum.nl import bsn
from stdnum.us import ssn

from policy.pii import find
from schemas.pii import PiiConfig, PiiKind
from tests.policy.pii_values import (
    iban_check,
    luhn_digit,
    make_aadhaar,
    make_bsn,
    make_card,
    make_cpf,
    make_iban,
    make_ssn,
)


def spans(text: str, kind: PiiKind) -> list[str]:
    """The values of ``kind`` found in ``text`` (only that kind's detector runs)."""
    return [text[f.start : f.end] for f in find(text, PiiConfig(kinds=frozenset({kind})))]


def test_email_found_with_its_exact_span() -> None:
    text = "write to <Jane.Doe+gw@mail.example.co.uk>, or jd@ex.io."
    assert spans(text, PiiKind.EMAIL) == ["Jane.Doe+gw@mail.example.co.uk", "jd@ex.io"]


@pytest.mark.parametrize(
    "text", ["icon@2x.png", "npm i lodash@4.17.21", "user@localhost", "@property", "a@b"]
)
def test_email_look_alikes_are_refused(text: str) -> None:
    assert spans(text, PiiKind.EMAIL) == []


def _card(prefix: str, length: int) -> str:
    body = prefix + "0" * (length - len(prefix) - 1)
    return body + luhn_digit(body)


@pytest.mark.parametrize(
    ("prefix", "length"),
    [
        ("4", 16),
        ("4", 13),
        ("51", 16),
        ("2720", 16),
        ("37", 15),
        ("6011", 16),
        ("3530", 16),
        ("36", 14),
        ("62", 17),
    ],
)
def test_payment_card_per_issuer(prefix: str, length: int) -> None:
    card = _card(prefix, length)
    # How cards are printed: 4-4-4-4(-3), Amex 4-6-5, Diners 4-6-4; 13 and 17 ungrouped.
    if length in (14, 15):
        grouped = f"{card[:4]} {card[4:10]} {card[10:]}"
    elif length in (16, 19):
        grouped = " ".join(card[i : i + 4] for i in range(0, len(card), 4))
    else:
        grouped = card
    assert spans(f"card {card} ok", PiiKind.PAYMENT_CARD) == [card]
    assert spans(f"card {grouped} ok", PiiKind.PAYMENT_CARD) == [grouped]


def test_payment_card_refuses_a_failed_luhn_and_unknown_issuers() -> None:
    good = _card("4", 16)
    bad = good[:-1] + str((int(good[-1]) + 1) % 10)
    no_issuer = _card("9", 16)  # Luhn-valid, but no brand starts with 9
    wrong_length = _card("37", 16)  # Amex numbers have 15 digits
    text = f"{bad} {no_issuer} {wrong_length} 0.{good} v{good}"
    assert spans(text, PiiKind.PAYMENT_CARD) == []


def _iban(country: str, bban: str) -> str:
    return country + iban_check(country, bban) + bban


def test_iban_found_compact_and_grouped_and_stops_at_its_length() -> None:
    de = _iban("DE", "370400440532013000")
    gb = _iban("GB", "NWBK60161331926819")
    grouped = " ".join(gb[i : i + 4] for i in range(0, len(gb), 4))
    text = f"pay {de} or {grouped} BY FRIDAY"
    assert spans(text, PiiKind.IBAN) == [de, grouped]


def test_iban_refuses_a_failed_mod_97_and_an_unknown_country() -> None:
    de = _iban("DE", "370400440532013000")
    wrong = de[:2] + f"{(int(de[2:4]) + 1) % 97:02d}" + de[4:]
    unknown = _iban("QQ", "370400440532013000")
    assert spans(f"{wrong} {unknown}", PiiKind.IBAN) == []


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("SSN 123-45-6789 on file", "123-45-6789"),
        ("ssn: 123 45 6789", "123 45 6789"),
        ("Social Security number 123456789", "123456789"),
        ("NINO AB123456C", "AB123456C"),
        ("NI number JG 12 34 56 A", "JG 12 34 56 A"),
        ("BSN 111222333", "111222333"),
        ("DNI 12345678Z", "12345678Z"),
        ("NIE X1234567L", "X1234567L"),
        ("CPF 529.982.247-25", "529.982.247-25"),
        ("cpf: 52998224725", "52998224725"),
        ("Aadhaar 2345 6789 0124", "2345 6789 0124"),
    ],
)
def test_national_ids(text: str, value: str) -> None:
    assert spans(text, PiiKind.NATIONAL_ID) == [value]


@pytest.mark.parametrize(
    "text",
    [
        "000-12-3456 666-12-3456 912-34-5678 123-00-4567",  # areas and groups never issued
        "SSN 078-05-1120",  # the Woolworth wallet card, refused by stdnum
        "order 123456789 shipped",  # nine digits, no word naming an id
        "BSN 111222334",  # fails the 11-check
        "QQ123456C and AB123456E",  # prefix never issued; suffix past D
        "DNI 12345678A",  # wrong control letter
        "CPF 529.982.247-26",  # wrong check digits
        "ref 2345 6789 0124",  # a valid Verhoeff number, but no Aadhaar word
    ],
)
def test_national_id_near_misses(text: str) -> None:
    assert spans(text, PiiKind.NATIONAL_ID) == []


def test_the_corpus_check_digits_agree_with_stdnum() -> None:
    # The corpus computes its own check digits; stdnum must agree with every one, or the
    # measured recall would say more about the generator than about the detectors.
    rnd = random.Random(3)
    for _ in range(200):
        assert luhn.is_valid(make_card(rnd, rnd.choice(["4", "51", "37", "6011"]), 16))
        assert iban.is_valid(make_iban(rnd, rnd.choice(["DE", "GB", "FR", "IT", "PL"])))
        assert ssn.is_valid(make_ssn(rnd))
        assert bsn.is_valid(make_bsn(rnd))
        assert cpf.is_valid(make_cpf(rnd))
        assert aadhaar.is_valid(make_aadhaar(rnd))


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("call (415) 555-0132 now", "(415) 555-0132"),
        ("Phone: +44 20 7946 0958", "+44 20 7946 0958"),
        ("tel 415.555.0132", "415.555.0132"),
        ("my number is 4155550132", "4155550132"),
        ("whatsapp +33 6 12 34 56 78", "+33 6 12 34 56 78"),
        ("see (+49 30 901820)", "+49 30 901820"),
    ],
)
def test_phone_numbers(text: str, value: str) -> None:
    assert spans(text, PiiKind.PHONE) == [value]


@pytest.mark.parametrize(
    "text",
    [
        "4155550132 bytes",  # bare digits with no word saying phone
        "Serial: 415-555-0132",
        "order no. 415 555 0132",
        "2023-11-08 13:36:59",
        "13/10/2024",
        "host 203.0.113.7",
        "OID 1.3.6.1.4.1.38784",
        "$1,415,555.01",
    ],
)
def test_phone_look_alikes(text: str) -> None:
    assert spans(text, PiiKind.PHONE) == []


def test_two_numbers_run_together_are_split() -> None:
    text = "Tel: 020 7946 0958 / 020 7946 0959"
    found = find(text, PiiConfig(kinds=frozenset({PiiKind.PHONE}), phone_region="GB"))
    assert [text[f.start : f.end] for f in found] == ["020 7946 0958", "020 7946 0959"]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("src=203.0.113.7 port 443", "203.0.113.7"),
        ("host 10.1.2.3.", "10.1.2.3"),
        ("[2001:db8::8a2e:370:7334]:443", "2001:db8::8a2e:370:7334"),
        ("fe80::1: no route", "fe80::1"),
        ("mapped ::ffff:192.0.2.1 here", "::ffff:192.0.2.1"),
        ("at 2001:0db8:85a3:0000:0000:8a2e:0370:7334", "2001:0db8:85a3:0000:0000:8a2e:0370:7334"),
    ],
)
def test_ip_addresses(text: str, value: str) -> None:
    assert spans(text, PiiKind.IP_ADDRESS) == [value]


@pytest.mark.parametrize(
    "text",
    [
        "version 1.2.3.4",  # a release, by the word before it
        "v1.2.3.4",
        "1.2.3.4-beta",
        "1.2.3",
        "1.2.3.4.5",
        "999.1.1.1",
        "127.0.0.1 and 0.0.0.0 and ::1",  # loopback and any: no host named
        "12:30:45 and 00:1A:2B:3C:4D:5E",
        "std::vector and xs[1::2]",
    ],
)
def test_ip_look_alikes(text: str) -> None:
    assert spans(text, PiiKind.IP_ADDRESS) == []


_KEY_BODY = "Ab3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dF3hJ5kL7nP9"


@pytest.mark.parametrize(
    ("text", "value"),
    [
        (f"key sk-ant-api03-{_KEY_BODY}AA", f"sk-ant-api03-{_KEY_BODY}AA"),
        (f"OPENAI_API_KEY=sk-proj-{_KEY_BODY}", f"sk-proj-{_KEY_BODY}"),
        ("id AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE"),
        (
            "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        ),
        ("ghp_" + "a1B2" * 9, "ghp_" + "a1B2" * 9),
        (
            "xoxb-123456789012-1234567890123-abcdefGHIJKL",
            "xoxb-123456789012-1234567890123-abcdefGHIJKL",
        ),
        ("Authorization: Bearer abc123DEF456ghi789.", "abc123DEF456ghi789"),
        (
            "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.sig-_123",
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.sig-_123",
        ),
        (f"stripe sk_live_{_KEY_BODY[:24]}", f"sk_live_{_KEY_BODY[:24]}"),
    ],
)
def test_secrets(text: str, value: str) -> None:
    assert spans(text, PiiKind.SECRET) == [value]


def test_a_private_key_is_taken_whole_even_when_cut_off() -> None:
    whole = "-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAK\n-----END RSA PRIVATE KEY-----"
    cut = "-----BEGIN PRIVATE KEY-----\nMIIBOgIBAAJBAKj34\nMIIB"
    assert spans(f"key:\n{whole}\nthanks", PiiKind.SECRET) == [whole]
    assert spans(f"key:\n{cut}", PiiKind.SECRET) == [cut]


@pytest.mark.parametrize(
    "text",
    [
        "the sk-learn-compatible-estimator-wrapper-for-pipelines class",
        "she was the bearer of the good news",
        "Authorization: Bearer <token>",
        "AKIAEXAMPLE is short",
        "task-" + _KEY_BODY,
        "commit 3f786850e387550fdab836ed7e6dc881de23001b",
    ],
)
def test_secret_look_alikes(text: str) -> None:
    assert spans(text, PiiKind.SECRET) == []
