"""Dead letters that carry a raw event, masked under the config's PII policies.

Letters are built by the stages' own code (triage, the dead-letter builders) from events
holding planted values, and encoded by the real :class:`Publisher`, the one way a worker
writes an event: with any policy configured, the payload and detail hold none of the
values; without one they are as before.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from schemas.chat import ChatMessage
from schemas.config import GatewayConfig
from schemas.config_loader import load_config
from schemas.events import DeadLetter
from streams.dead_letters import (
    CUT_MARK,
    CUT_TAIL,
    PAYLOAD_LIMIT,
    internal_error,
    letter_mask,
    masked,
    unreadable,
)
from streams.publisher import Publisher
from streams.triage import RecentIds, Rejected, Routed, triage
from streams.window import Source
from tests.paths import EXAMPLE_CONFIG

EMAIL = "jane.doe@example.com"
CARD = "4111 1111 1111 1111"
API_KEY = "sk-proj-Q7vX2mN9pL4kR8sT1wY6zB3cD5fG0hJaKeMu"
PLANTED = (EMAIL, CARD, API_KEY)


def _config(
    pii: dict[str, Any] | None = None, route_pii: dict[str, Any] | None = None
) -> GatewayConfig:
    data = load_config(EXAMPLE_CONFIG).model_dump(mode="json")
    if pii is not None:
        data["pii"] = pii
    if route_pii is not None:
        data["routes"][0]["pii"] = route_pii
    return GatewayConfig.model_validate(data)


# One tenant's policy: every other request, and any event no tenant can be read from, is
# still masked with it.
POLICY = {"tenants": {"acme": {"mode": "placeholder"}}}


def _published(config: GatewayConfig, letter: DeadLetter) -> DeadLetter:
    """``letter`` as the worker's publisher writes it, read back from the wire."""
    return DeadLetter.from_bytes(Publisher({}, letter_mask(config)).encode(letter))


def _schema_invalid_raw() -> bytes:
    # The values sit in a message and in a key the schema does not know, which the
    # schema error's detail names.
    return orjson.dumps(
        {
            "request_id": "r-1",
            "tenant": "other",
            "messages": [{"role": "user", "content": f"card {CARD}, key {API_KEY}"}],
            EMAIL: True,
        }
    )


def _rejected(config: GatewayConfig, raw: bytes) -> DeadLetter:
    out = triage(raw, config, RecentIds(10))
    assert isinstance(out, Rejected)
    return out.dead_letter


def _assert_none_in(text: str) -> None:
    for value in PLANTED:
        assert value not in text
        assert value.replace(" ", "") not in text


def test_a_schema_invalid_request_is_masked_when_a_policy_is_configured() -> None:
    config = _config(POLICY)
    letter = _published(config, _rejected(config, _schema_invalid_raw()))
    assert (letter.reason, letter.request_id, letter.payload_masked) == (
        "schema_invalid",
        "r-1",
        True,
    )
    assert letter.payload is not None
    _assert_none_in(letter.payload)
    _assert_none_in(letter.detail)
    assert "[PAYMENT_CARD]" in letter.payload and "[SECRET]" in letter.payload
    # What was wrong is still said: the unknown key, masked.
    assert "[EMAIL]: Extra inputs are not permitted" in letter.detail
    # Still the event's text around the masks, for diagnosis.
    assert letter.payload.startswith('{"request_id":"r-1","tenant":"other"')


def test_without_a_policy_the_letter_is_as_before() -> None:
    config = _config()
    raw = _schema_invalid_raw()
    built = _rejected(config, raw)
    letter = _published(config, built)
    assert letter == built and not letter.payload_masked
    assert letter.payload == raw.decode()
    assert f"{EMAIL}: Extra inputs are not permitted" in letter.detail


@pytest.mark.parametrize("reason", ["invalid_json", "request_too_large"])
def test_other_unreadable_requests_are_masked(reason: str) -> None:
    config = _config(POLICY)
    text = f'{{"messages": "{"pad " * 300}write to {EMAIL} with {CARD} using {API_KEY}"'
    raw = (text + "}" if reason == "request_too_large" else text).encode()
    if reason == "request_too_large":
        data = config.model_dump(mode="json")
        data["limits"]["max_request_bytes"] = 1024
        config = GatewayConfig.model_validate(data)
    built = _rejected(config, raw)
    assert built.reason == reason
    letter = _published(config, built)
    assert letter.payload_masked and letter.payload is not None
    _assert_none_in(letter.payload)
    assert "write to [EMAIL] with [PAYMENT_CARD] using [SECRET]" in letter.payload


def _dispatch_raw(config: GatewayConfig) -> bytes:
    request = {
        "request_id": "r-2",
        "tenant": "acme",
        "messages": [{"role": "user", "content": f"{EMAIL} paid with {CARD}; key {API_KEY}"}],
    }
    out = triage(orjson.dumps(request), config, RecentIds(10))
    assert isinstance(out, Routed)
    # llm.dispatch holds the request as the caller sent it.
    raw = out.dispatch.to_bytes()
    assert all(value.encode() in raw for value in PLANTED)
    return raw


def _handler_bug() -> ValidationError:
    # A handler that fails validating what it built from the request: the error's text
    # quotes the input value.
    try:
        ChatMessage.model_validate({"role": "user", "content": 5, "name": EMAIL})
    except ValidationError as exc:
        return exc
    raise AssertionError("expected a validation error")


def test_an_internal_error_in_dispatch_is_masked() -> None:
    config = _config(POLICY)
    exc = _handler_bug()
    assert EMAIL in str(exc)
    built = internal_error("dispatch", _dispatch_raw(config), Source("llm.dispatch", 3, 17), exc)
    assert EMAIL in built.detail
    letter = _published(config, built)
    assert (letter.reason, letter.stage, letter.request_id, letter.tenant) == (
        "internal_error",
        "dispatch",
        "r-2",
        "acme",
    )
    assert letter.payload_masked and letter.payload is not None
    _assert_none_in(letter.payload)
    _assert_none_in(letter.detail)
    assert "dispatch failed on llm.dispatch[3]@17: ValidationError:" in letter.detail
    assert letter.source == built.source


def test_an_internal_error_without_a_policy_keeps_the_values() -> None:
    config = _config()
    raw = _dispatch_raw(config)
    built = internal_error("dispatch", raw, Source("llm.dispatch", 0, 1), _handler_bug())
    letter = _published(config, built)
    assert letter == built and letter.payload == raw[:PAYLOAD_LIMIT].decode()


def test_the_union_of_every_policy_is_masked_whatever_its_modes() -> None:
    # A blocking tenant, a route that masks emails and a custom pattern, a tenant reading
    # phones in Great Britain: a letter gets all of it, nothing the policies leave out.
    config = _config(
        {
            "tenants": {
                "bank": {"mode": "block", "kinds": ["payment_card"]},
                "uk": {"mode": "placeholder", "kinds": ["phone"], "phone_region": "GB"},
            }
        },
        route_pii={
            "kinds": ["email", "phone"],
            "custom_patterns": [{"name": "employee_id", "regex": r"EMP-\d{6}"}],
        },
    )
    text = f"{EMAIL} {CARD} EMP-123456 020 7946 0958 (415) 555-0132 {API_KEY}"
    letter = _published(config, unreadable("triage", text.encode(), "invalid_json", "bad"))
    assert letter.payload == f"[EMAIL] [PAYMENT_CARD] [EMPLOYEE_ID] [PHONE] [PHONE] {API_KEY}"


def test_values_written_with_json_escapes_are_found() -> None:
    config = _config(POLICY)
    pem = "-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7"
    text = '{"a": "jane.doe\\u0040example.com", "b": "' + pem
    letter = _published(config, unreadable("triage", text.encode(), "invalid_json", "bad"))
    assert letter.payload == '{"a": "[EMAIL]", "b": "[SECRET]'


def test_a_value_cut_at_the_limit_leaves_no_fragment() -> None:
    config = _config(POLICY)
    # The card starts 12 characters before the limit: the payload ends 4111 1111 11.
    head = f'{{"messages": "{EMAIL} '
    filler = "x" * (PAYLOAD_LIMIT - 12 - len(head) - 301) + " " + "words " * 50
    raw = (head + filler + CARD + ' and more"}').encode()
    assert raw.find(CARD.encode()) == PAYLOAD_LIMIT - 12
    built = unreadable("triage", raw, "invalid_json", "bad")
    assert built.payload is not None and built.payload.endswith("4111 1111 11")
    letter = _published(config, built)
    assert letter.payload is not None
    assert letter.payload.startswith('{"messages": "[EMAIL] xxx')
    assert letter.payload.endswith(f"words wo{CUT_MARK}") and "4111" not in letter.payload
    assert len(letter.payload) <= PAYLOAD_LIMIT


def test_a_value_across_the_tail_cut_is_masked_whole() -> None:
    config = _config(POLICY)
    # An email that ends just past where the tail is cut: masked, not split.
    raw = ("y " * 1915 + EMAIL + " " + "z" * 500).encode()
    start = raw.find(EMAIL.encode())
    assert start < PAYLOAD_LIMIT - CUT_TAIL < start + len(EMAIL)
    letter = _published(config, unreadable("triage", raw, "invalid_json", "bad"))
    assert letter.payload == "y " * 1915 + "[EMAIL]" + CUT_MARK


def test_letters_without_a_payload_are_left_alone() -> None:
    config = _config({"tenants": {"acme": {"mode": "block", "kinds": ["email"]}}})
    request = {
        "request_id": "r-3",
        "tenant": "acme",
        "messages": [{"role": "user", "content": f"mail {EMAIL}"}],
    }
    built = _rejected(config, orjson.dumps(request))
    assert built.reason == "pii_blocked" and built.payload is None
    assert _published(config, built) == built
    # Masking twice changes nothing: a letter says it was masked.
    letters = letter_mask(config)
    assert letters is not None
    once = masked(unreadable("triage", EMAIL.encode(), "invalid_json", EMAIL), letters)
    assert (once.payload, once.detail, once.payload_masked) == ("[EMAIL]", "[EMAIL]", True)
    assert masked(once, letters) is once
