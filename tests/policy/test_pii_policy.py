"""Combining PII policies (default, tenant, route) kind by kind, the config's checks, and
redacting a whole request: every covered text, tokens shared across messages, blocked
kinds masked at the call boundary, and tool-call arguments restored."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from policy.pii_policy import (
    RequestRedactor,
    blocked,
    combine,
    count_found,
    policy_for,
    request_texts,
    restore_calls,
)
from schemas.chat import ChatMessage, ImagePart, TextPart, ToolCall
from schemas.config import GatewayConfig
from schemas.events import LLMRequest
from schemas.pii import CustomPattern, PiiConfig, PiiKind, PiiMode, PiiRedaction

EMAIL = "jane.doe@example.com"
CARD = "4111 1111 1111 1111"
PHONE_GB = "020 7946 0958"
EMPLOYEE = "EMP-123456"
EMPLOYEE_PATTERN = {"name": "employee_id", "regex": r"EMP-\d{6}"}


def _config(**pii: Any) -> GatewayConfig:
    routes = pii.pop("routes", {})
    model = {"provider": "emu", "upstream": "m", "input_per_mtok": "1", "output_per_mtok": "1"}
    return GatewayConfig.model_validate(
        {
            "providers": {"emu": {"format": "openai", "base_url": "http://127.0.0.1:9/v1"}},
            "models": {"m": {**model, "context_window": 1000}},
            "routes": [
                {"name": name, "primary": "m", **({"pii": routes[name]} if name in routes else {})}
                for name in ("default", "other")
            ],
            "pii": pii,
        }
    )


def _route(config: GatewayConfig) -> str:
    return config.routes[0].name


def _request(*messages: ChatMessage) -> LLMRequest:
    return LLMRequest(request_id="r-1", tenant="acme", messages=list(messages))


def test_no_policy_anywhere_is_none() -> None:
    config = _config()
    assert policy_for(config, _route(config), "acme") is None


def test_modes_combine_kind_by_kind_to_the_strictest() -> None:
    config = _config(
        default={"mode": "mask"},
        tenants={"bank": {"mode": "block", "kinds": ["payment_card", "iban"]}},
    )
    bank = policy_for(config, _route(config), "bank")
    assert bank is not None
    # The bank's block covers its two kinds; every other kind keeps the default's mask.
    assert bank.modes[PiiKind.PAYMENT_CARD] is PiiMode.BLOCK
    assert bank.modes[PiiKind.IBAN] is PiiMode.BLOCK
    assert bank.modes[PiiKind.EMAIL] is PiiMode.MASK
    assert bank.scan.kinds == frozenset(PiiKind)
    # Another tenant gets the default alone.
    other = policy_for(config, _route(config), "acme")
    assert other is not None and not other.blocks
    assert set(other.modes.values()) == {PiiMode.MASK}


def test_a_route_adds_kinds_and_patterns_and_never_relaxes() -> None:
    route_policy = {
        "mode": "placeholder",
        "kinds": ["email"],
        "custom_patterns": [EMPLOYEE_PATTERN],
    }
    config = _config(
        tenants={"acme": {"mode": "mask", "kinds": ["email", "phone"]}},
        routes={"default": route_policy},
    )
    combined = policy_for(config, "default", "acme")
    assert combined is not None
    assert combined.modes == {
        "email": PiiMode.PLACEHOLDER,
        "employee_id": PiiMode.PLACEHOLDER,
        "phone": PiiMode.MASK,
    }
    assert combined.scan.kinds == {PiiKind.EMAIL, PiiKind.PHONE}
    assert [p.name for p in combined.scan.custom_patterns] == ["employee_id"]


def test_phone_region_comes_from_the_most_specific_policy_that_looks_for_phones() -> None:
    default = PiiConfig(phone_region="DE")
    route = PiiConfig(phone_region="FR", kinds=frozenset({PiiKind.PHONE}))
    tenant_without_phones = PiiConfig(phone_region="GB", kinds=frozenset({PiiKind.EMAIL}))
    assert combine((default, route, tenant_without_phones)).scan.phone_region == "FR"
    tenant = PiiConfig(phone_region="GB")
    assert combine((default, route, tenant)).scan.phone_region == "GB"


@pytest.mark.parametrize(
    ("pii", "field"),
    [
        ({"tenants": {"": {"mode": "mask"}}}, "pii.tenants"),
        ({"tenants": {"x" * 65: {"mode": "mask"}}}, "pii.tenants"),
        ({"default": {"mode": "hide"}}, "pii.default.mode"),
        ({"default": {"kinds": ["passport"]}}, "pii.default.kinds"),
        ({"typo": {}}, "pii.typo"),
        ({"routes": {"default": {"mode": "erase"}}}, "routes.0.pii.mode"),
    ],
)
def test_bad_policies_are_refused_naming_the_field(pii: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        _config(**pii)
    assert field in str(caught.value).replace("\n", ".").replace(" ", "")


def test_one_pattern_name_with_two_regexes_is_refused_naming_both_places() -> None:
    other = {"name": "employee_id", "regex": r"E\d{6}"}
    with pytest.raises(ValidationError) as caught:
        _config(
            default={"custom_patterns": [EMPLOYEE_PATTERN]},
            tenants={"acme": {"custom_patterns": [other]}},
        )
    message = str(caught.value)
    assert "pii.tenants.acme.custom_patterns[0].regex" in message
    assert "pii.default" in message
    # The same definition in two policies is fine.
    _config(
        default={"custom_patterns": [EMPLOYEE_PATTERN]},
        tenants={"acme": {"custom_patterns": [EMPLOYEE_PATTERN]}},
    )


def _tool_turns() -> list[ChatMessage]:
    call = ToolCall(id="c1", name="lookup", arguments={"who": EMAIL, "n": 3, "all": [CARD]})
    return [
        ChatMessage(role="system", content=f"Escalate to {EMAIL}."),
        ChatMessage(
            role="user",
            content=[
                TextPart(text=f"My card is {CARD}."),
                ImagePart(media_type="image/png", data="aGVsbG8="),
            ],
        ),
        ChatMessage(role="assistant", tool_calls=[call]),
        ChatMessage(role="tool", tool_call_id="c1", content=f"{EMAIL} owns {EMPLOYEE}"),
    ]


def test_every_covered_text_is_scanned() -> None:
    texts = list(request_texts(_tool_turns()))
    assert texts == [f"Escalate to {EMAIL}.", f"My card is {CARD}.", EMAIL, CARD, texts[-1]]
    employee = CustomPattern.model_validate(EMPLOYEE_PATTERN)
    policy = combine((PiiConfig(custom_patterns=(employee,)),))
    counts = count_found(_request(*_tool_turns()), policy)
    assert counts == {"email": 3, "employee_id": 1, "payment_card": 2}


def test_placeholders_are_shared_by_every_message_and_tool_argument() -> None:
    policy = combine((PiiConfig(mode=PiiMode.PLACEHOLDER),))
    redactor = RequestRedactor(policy)
    counts: dict[str, int] = {}
    sent = redactor.request(_request(*_tool_turns()), counts)
    system, user, assistant, tool = sent.messages
    assert system.content == "Escalate to <<EMAIL_1>>."
    assert isinstance(user.content, list) and user.content[0] == TextPart(
        text="My card is <<PAYMENT_CARD_1>>."
    )
    assert user.content[1] == _tool_turns()[1].content[1]
    assert assistant.tool_calls[0].arguments == {
        "who": "<<EMAIL_1>>",
        "n": 3,
        "all": ["<<PAYMENT_CARD_1>>"],
    }
    assert tool.content == f"<<EMAIL_1>> owns {EMPLOYEE}"  # no custom pattern configured
    assert counts == {"email": 3, "payment_card": 2}
    assert EMAIL not in sent.model_dump_json() and "4111" not in sent.model_dump_json()
    # The answer's tool call comes back with the caller's values.
    back = restore_calls(assistant.tool_calls, redactor.placeholders.restorer)
    assert back == _tool_turns()[2].tool_calls


def test_a_request_without_finds_is_sent_as_it_is() -> None:
    redactor = RequestRedactor(combine((PiiConfig(),)))
    request = _request(ChatMessage(role="user", content="order 12345, version 1.4.2"))
    assert redactor.request(request, {}) is request


def test_blocked_kinds_are_masked_at_the_call_boundary_and_recorded_so() -> None:
    policy = combine(
        (
            PiiConfig(mode=PiiMode.PLACEHOLDER, kinds=frozenset({PiiKind.EMAIL})),
            PiiConfig(mode=PiiMode.BLOCK, kinds=frozenset({PiiKind.PAYMENT_CARD})),
        )
    )
    assert policy.blocks
    counts = count_found(_request(*_tool_turns()), policy)
    assert blocked(counts, policy) == {"payment_card": 2}
    redactor = RequestRedactor(policy)
    found: dict[str, int] = {}
    text = redactor.text(f"{EMAIL} paid with {CARD}", found)
    assert text == "<<EMAIL_1>> paid with [PAYMENT_CARD]"
    assert redactor.record(found) == PiiRedaction(
        counts={"email": 1, "payment_card": 1},
        modes={"email": PiiMode.PLACEHOLDER, "payment_card": PiiMode.MASK},
    )
    assert EMAIL not in repr(redactor) and "1 tokens" in repr(redactor)
