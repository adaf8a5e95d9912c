"""The count's ceiling (policy.context_count.ceiling): never under the count a decision is
taken on, for any text and family, and a decision taken on it is the decision the exact
count gives; requests it does not cover go to the tokenizers."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from policy import context_fit
from policy.context_count import EXACT_CHARS, ceiling, count_request, preload
from policy.context_fit import decide, window_misfits
from policy.tokens import Family
from schemas.config import GatewayConfig
from schemas.config_loader import parse_config
from schemas.context import ContextPolicy
from schemas.events import LLMRequest

# Pieces of every token class the weights tell apart, mixed at random below: the ceiling
# must hold for text that is all digits, all Hangul or all emoji as much as for English.
PIECES = [
    "the quick brown fox",
    " ",
    "\n\n",
    "1234567890",
    "3.14159",
    "!?;:,.-()[]{}",
    "日本語のテキスト",
    "汉字",
    "한국어 문장입니다",
    "Übermäßig straße café",
    "Привет мир",
    "😀🎉👍🏽",
    "مرحبا بالعالم",
    "\t    \t",
    "def f(x):\n    return x ** 2\n",
]
texts = st.lists(st.sampled_from(PIECES), min_size=1, max_size=80).map("".join)
ROLES = ["user", "assistant"]


def _request(contents: list[str], max_tokens: int = 500) -> LLMRequest:
    messages: list[dict[str, Any]] = [{"role": "system", "content": "Be brief."}]
    messages += [{"role": ROLES[i % 2], "content": c} for i, c in enumerate(contents)]
    data = {"request_id": "r1", "tenant": "acme", "messages": messages}
    return LLMRequest.model_validate(data | {"params": {"max_tokens": max_tokens}})


@pytest.fixture(scope="module", autouse=True)
def _encodings() -> None:
    preload(list(Family))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(texts, min_size=1, max_size=6))
def test_the_ceiling_is_never_under_the_count_for_any_family(contents: list[str]) -> None:
    request = _request(contents)
    families = list(Family)
    bound = ceiling(request, families)
    assert bound is not None
    counts = count_request(request, families)
    assert not counts.extrapolated
    for family in families:
        assert bound[family] >= counts.padded(family), family


CONFIG = """
providers:
  oa: {format: openai, base_url: "http://127.0.0.1:1/v1"}
  an: {format: anthropic, base_url: "http://127.0.0.1:3"}
  ms: {format: openai, base_url: "http://127.0.0.1:4/v1"}
models:
  small: {provider: oa, upstream: gpt-4o-mini, input_per_mtok: "0.15", output_per_mtok: "0.6",
          context_window: 900}
  medium: {provider: an, upstream: claude-3-5-haiku-latest, input_per_mtok: "0.8",
           output_per_mtok: "4", context_window: 1500}
  tiny: {provider: ms, upstream: mistral-small-latest, input_per_mtok: "0.1",
         output_per_mtok: "0.3", context_window: 700}
routes:
  - {name: default, primary: small, fallbacks: [medium, tiny]}
"""
CHAIN = ["small", "medium", "tiny"]
POLICIES = [
    ContextPolicy(),
    ContextPolicy.model_validate({"on_overflow": "fit"}),
    ContextPolicy.model_validate({"on_overflow": "reject"}),
]


@pytest.fixture(scope="module")
def config() -> GatewayConfig:
    return parse_config(CONFIG)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    contents=st.lists(texts, min_size=1, max_size=4),
    max_tokens=st.integers(1, 600),
    policy=st.sampled_from(POLICIES),
)
def test_a_decision_on_the_ceiling_is_the_decision_on_the_count(
    config: GatewayConfig,
    contents: list[str],
    max_tokens: int,
    policy: ContextPolicy,
) -> None:
    # Windows of 700-1,500 tokens put these requests on both sides of the ceiling's cut.
    request = _request(contents, max_tokens)
    seats = context_fit.seats(CHAIN, config, policy)
    # Both sides are drawn: about 45 % settled by the ceiling, 40 % counted.
    event(f"settled by the ceiling: {context_fit._surely_held(request, seats, max_tokens)}")
    fast = decide(request, CHAIN, policy, config), window_misfits(CHAIN, request, config)
    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(context_fit, "ceiling", lambda *args: None)
        exact = decide(request, CHAIN, policy, config), window_misfits(CHAIN, request, config)
    assert fast == exact


def test_a_short_request_is_decided_without_counting(
    config: GatewayConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object) -> None:
        raise AssertionError("counted a request the ceiling settles")

    monkeypatch.setattr(context_fit, "count_request", refuse)
    request = _request(["What is the capital of France?"])
    assert decide(request, CHAIN, ContextPolicy(), config) == context_fit.Fitted(CHAIN, request)
    assert window_misfits(CHAIN, request, config) == {}


@pytest.mark.parametrize(
    "over",
    [
        {"tools": [{"name": "lookup", "parameters": {"type": "object"}}]},
        {"response_format": {"type": "json_schema", "json_schema": {"type": "object"}}},
        {
            "messages": [
                {"role": "user", "content": "look it up"},
                {"role": "assistant", "tool_calls": [{"id": "c1", "name": "lookup"}]},
                {"role": "tool", "tool_call_id": "c1", "content": "found"},
            ]
        },
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "what is this?"},
                        {
                            "type": "image",
                            "media_type": "image/png",
                            "url": "https://example.com/c.png",
                        },
                    ],
                }
            ]
        },
        {"messages": [{"role": "user", "content": "x " * (EXACT_CHARS // 2 + 1)}]},
    ],
    ids=["tools", "schema", "tool-calls", "image", "over-the-exact-allowance"],
)
def test_what_the_ceiling_does_not_cover_goes_to_the_tokenizers(over: dict[str, Any]) -> None:
    data = {"request_id": "r1", "tenant": "acme", "messages": [{"role": "user", "content": "hi"}]}
    request = LLMRequest.model_validate(data | over)
    assert ceiling(request, list(Family)) is None
