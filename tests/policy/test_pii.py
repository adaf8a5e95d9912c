"""The redaction API: overlaps, mask, placeholders and their restoration, block, custom
patterns, the config's errors, and that nothing loggable carries a value."""

from __future__ import annotations

import itertools
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from policy.pii import (
    Finding,
    Placeholders,
    count_kinds,
    find,
    kinds_of,
    mask,
    redact,
    resolve_overlaps,
)
from schemas.pii import PiiConfig, PiiMode

EMAIL = "jane.doe@example.com"
CARD = "4111 1111 1111 1111"
PHONE = "+44 20 7946 0958"
TEXT = f"I'm {EMAIL}, card {CARD}, call {PHONE}; again: {EMAIL}."


def test_mask_replaces_every_value_for_good() -> None:
    masked = mask(TEXT, find(TEXT, PiiConfig()))
    assert masked == "I'm [EMAIL], card [PAYMENT_CARD], call [PHONE]; again: [EMAIL]."


def test_finding_repr_and_placeholders_repr_hold_no_value() -> None:
    findings = find(TEXT, PiiConfig())
    placeholders = Placeholders()
    placeholders.apply(TEXT, findings)
    loggable = [repr(findings), str(findings), repr(placeholders), repr(placeholders.restorer)]
    for text in loggable:
        for value in (EMAIL, CARD, PHONE, "jane", "1111"):
            assert value not in text
    assert repr(placeholders) == "Placeholders(3 tokens)"


def test_placeholders_are_stable_within_a_request_and_restore() -> None:
    config = PiiConfig(mode=PiiMode.PLACEHOLDER)
    placeholders = Placeholders()
    first = redact(TEXT, config, placeholders)
    second = redact(f"forward to {EMAIL} and jd@example.org", config, placeholders)
    assert first.text == (
        "I'm <<EMAIL_1>>, card <<PAYMENT_CARD_1>>, call <<PHONE_1>>; again: <<EMAIL_1>>."
    )
    assert second.text == "forward to <<EMAIL_1>> and <<EMAIL_2>>"
    assert first.kinds == ("email", "payment_card", "phone")
    # The provider answers in tokens; the caller reads its own data back.
    restorer = placeholders.restorer
    answer = "Sent to <<EMAIL_1>> (cc <<EMAIL_2>>); charged <<PAYMENT_CARD_1>>."
    assert restorer.restore(answer) == f"Sent to {EMAIL} (cc jd@example.org); charged {CARD}."
    assert restorer.restore(first.text or "") == TEXT


def test_restore_tolerates_padding_and_case_and_leaves_unknown_tokens() -> None:
    placeholders = Placeholders()
    placeholders.apply(TEXT, find(TEXT, PiiConfig()))
    restorer = placeholders.restorer
    assert restorer.restore("<< email_1 >> / <<Email_1>>") == f"{EMAIL} / {EMAIL}"
    assert restorer.restore("<<EMAIL_9>> <<NOPE_1>> <EMAIL_1>") == (
        "<<EMAIL_9>> <<NOPE_1>> <EMAIL_1>"
    )


def test_stream_restore_handles_a_token_split_at_any_point() -> None:
    placeholders = Placeholders()
    placeholders.apply(TEXT, find(TEXT, PiiConfig()))
    answer = "Write to <<EMAIL_1>>, not <<PHONE_1>>; a < b and <<x>> stay."
    expected = placeholders.restorer.restore(answer)
    rnd = random.Random(5)
    for _ in range(200):
        cuts = sorted(rnd.sample(range(1, len(answer)), rnd.randint(1, 12)))
        chunks = [answer[a:b] for a, b in zip([0, *cuts], [*cuts, len(answer)], strict=True)]
        stream = placeholders.restorer.stream()
        out = "".join(stream.feed(chunk) for chunk in chunks) + stream.flush()
        assert out == expected
        assert EMAIL in out


def test_stream_restore_releases_text_that_cannot_be_a_token() -> None:
    stream = Placeholders().restorer.stream()
    assert stream.feed("a < b") == "a < b"
    assert stream.feed(" and <<") == " and "
    assert stream.feed("not a token") == "<<not a token"
    assert stream.flush() == ""


def test_block_names_the_kinds_and_no_value() -> None:
    outcome = redact(TEXT, PiiConfig(mode=PiiMode.BLOCK))
    assert outcome.blocked
    assert outcome.text is None
    assert outcome.kinds == ("email", "payment_card", "phone")
    assert EMAIL not in repr(outcome)
    counts = count_kinds(find(TEXT, PiiConfig()))
    assert counts == {"email": 2, "payment_card": 1, "phone": 1}
    clean = redact("nothing to see here", PiiConfig(mode=PiiMode.BLOCK))
    assert not clean.blocked
    assert clean.text == "nothing to see here"


def test_placeholder_mode_needs_the_request_placeholders() -> None:
    with pytest.raises(ValueError, match="Placeholders"):
        redact(TEXT, PiiConfig(mode=PiiMode.PLACEHOLDER))


def test_only_enabled_kinds_are_found() -> None:
    found = find(TEXT, PiiConfig(kinds=frozenset({"phone"})))
    assert kinds_of(found) == ("phone",)


def test_overlaps_keep_the_longest_then_the_higher_priority_kind() -> None:
    findings = [
        Finding("phone", 5, 15, "phone"),
        Finding("payment_card", 0, 19, "payment_card"),  # longest: wins
        Finding("email", 30, 40, "email"),
        Finding("ip_address", 30, 40, "ipv4"),  # same span: email ranks higher
        Finding("secret", 38, 45, "jwt"),  # overlaps the kept email, shorter
        Finding("employee_id", 50, 55, "employee_id"),
        Finding("custom_a", 50, 55, "custom_a"),  # customs tie by name
    ]
    expected = [
        Finding("payment_card", 0, 19, "payment_card"),
        Finding("email", 30, 40, "email"),
        Finding("custom_a", 50, 55, "custom_a"),
    ]
    rnd = random.Random(2)
    for _ in range(50):
        rnd.shuffle(findings)
        assert resolve_overlaps(findings) == expected


def test_a_phone_inside_an_iban_is_part_of_the_iban() -> None:
    text = "IBAN GB33BUKB20201555555555 please"
    assert [f.kind for f in find(text, PiiConfig())] == ["iban"]


def test_custom_patterns_are_found_masked_and_tokenised() -> None:
    config = PiiConfig(
        mode=PiiMode.PLACEHOLDER,
        custom_patterns=[{"name": "employee_id", "regex": r"\bEMP-\d{6}\b"}],
    )
    text = f"EMP-004217 wrote from {EMAIL}; EMP-004217 again"
    findings = find(text, config)
    assert kinds_of(findings) == ("email", "employee_id")
    assert mask(text, findings) == "[EMPLOYEE_ID] wrote from [EMAIL]; [EMPLOYEE_ID] again"
    placeholders = Placeholders()
    assert placeholders.apply(text, findings) == (
        "<<EMPLOYEE_ID_1>> wrote from <<EMAIL_1>>; <<EMPLOYEE_ID_1>> again"
    )


def _error_locations(data: dict[str, object]) -> list[tuple[str | int, ...]]:
    with pytest.raises(ValidationError) as info:
        PiiConfig.model_validate(data)
    return [e["loc"] for e in info.value.errors()]


def test_a_bad_custom_regex_names_the_field_and_the_reason() -> None:
    data = {"custom_patterns": [{"name": "ok", "regex": "a+"}, {"name": "bad", "regex": "(a"}]}
    with pytest.raises(ValidationError, match="missing \\), unterminated subpattern") as info:
        PiiConfig.model_validate(data)
    assert [e["loc"] for e in info.value.errors()] == [("custom_patterns", 1, "regex")]


@pytest.mark.parametrize(
    ("data", "where"),
    [
        ({"custom_patterns": [{"name": "x", "regex": "a*"}]}, ("custom_patterns", 0, "regex")),
        ({"custom_patterns": [{"name": "email", "regex": "a"}]}, ("custom_patterns", 0, "name")),
        ({"custom_patterns": [{"name": "Bad Name", "regex": "a"}]}, ("custom_patterns", 0, "name")),
        ({"kinds": ["email", "passport"]}, ("kinds", 1)),
        ({"mode": "redact"}, ("mode",)),
        ({"phone_region": "XX"}, ("phone_region",)),
        ({"mask": True}, ("mask",)),
    ],
)
def test_config_errors_name_the_field(
    data: dict[str, object], where: tuple[str | int, ...]
) -> None:
    assert _error_locations(data) == [where]


def test_duplicate_custom_names_are_refused() -> None:
    pattern = {"name": "ticket", "regex": r"T-\d+"}
    with pytest.raises(ValidationError, match=r"custom_patterns\[1\].name: duplicate"):
        PiiConfig.model_validate({"custom_patterns": [pattern, pattern]})


_ALPHABET = "0123456789 +-()./:@_abcdefxyzABCDEFGHIJKLMNOPQRSTUVWXYZ\n<>=éİ"


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=_ALPHABET, max_size=300))
def test_any_text_gives_ordered_disjoint_findings_and_a_lossless_round_trip(text: str) -> None:
    findings = find(text, PiiConfig())
    for f in findings:
        assert 0 <= f.start < f.end <= len(text)
    for a, b in itertools.pairwise(findings):
        assert a.end <= b.start
    placeholders = Placeholders()
    tokenised = placeholders.apply(text, findings)
    if "<<" not in text:
        assert placeholders.restorer.restore(tokenised) == text
