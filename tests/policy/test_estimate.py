from collections.abc import Callable
from decimal import Decimal

import pytest

from policy.estimate import cost_estimate, input_tokens, output_tokens, request_tokens
from schemas.budgets import AdmissionConfig
from schemas.config import GatewayConfig
from schemas.events import LLMRequest

MakeRequest = Callable[..., LLMRequest]

DEFAULTS = AdmissionConfig()  # bytes_per_token 3, image_tokens 1500, default_max_tokens 1024
IMAGE = {"type": "image", "media_type": "image/png", "url": "https://example.com/a.png"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("abc", 1 + 4),  # 3 bytes fill one token exactly
        ("abcd", 2 + 4),  # a fourth byte starts a second token: rounded up
        ("é", 1 + 4),  # 2 UTF-8 bytes, not 1 character
        ("日本語", 3 + 4),  # 9 UTF-8 bytes
        ("x" * 3000, 1000 + 4),
    ],
)
def test_input_tokens_count_utf8_bytes_rounded_up_plus_four_per_message(
    make_request: MakeRequest, text: str, expected: int
) -> None:
    assert input_tokens(make_request(text), DEFAULTS) == expected


def test_bytes_of_all_messages_are_summed_before_rounding(make_request: MakeRequest) -> None:
    request = make_request(
        "",
        messages=[
            {"role": "system", "content": "ab"},
            {"role": "user", "content": "cd"},
        ],
    )
    # 4 bytes -> 2 tokens (not 1 + 1), plus 4 for each of the two messages.
    assert input_tokens(request, DEFAULTS) == 2 + 8


def test_bytes_per_token_is_the_divisor(make_request: MakeRequest) -> None:
    settings = AdmissionConfig(bytes_per_token=4)
    assert input_tokens(make_request("abcd"), settings) == 1 + 4
    assert input_tokens(make_request("abcde"), settings) == 2 + 4


def test_images_count_image_tokens_each_and_text_parts_are_joined(
    make_request: MakeRequest,
) -> None:
    content = [{"type": "text", "text": "ab"}, IMAGE, {"type": "text", "text": "c"}, IMAGE]
    request = make_request("", messages=[{"role": "user", "content": content}])
    assert input_tokens(request, DEFAULTS) == 1 + 4 + 2 * 1500
    assert input_tokens(request, AdmissionConfig(image_tokens=85)) == 1 + 4 + 2 * 85
    assert input_tokens(request, AdmissionConfig(image_tokens=0)) == 1 + 4


def test_tool_specs_count_as_their_json(make_request: MakeRequest) -> None:
    request = make_request("abc", tools=[{"name": "f"}])
    tools_json = '[{"name":"f","description":"","parameters":{"type":"object","properties":{}}}]'
    size = 3 + len(tools_json.encode())
    assert input_tokens(request, DEFAULTS) == -(-size // 3) + 4


def test_assistant_tool_calls_count_as_their_json(make_request: MakeRequest) -> None:
    call = {"id": "c1", "name": "f", "arguments": {"x": 1}}
    request = make_request(
        "",
        messages=[
            {"role": "user", "content": "abc"},
            {"role": "assistant", "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "c1", "content": "ok"},
        ],
    )
    calls_json = '[{"id":"c1","name":"f","arguments":{"x":1}}]'
    size = 3 + len(calls_json) + 2
    assert input_tokens(request, DEFAULTS) == -(-size // 3) + 3 * 4


def test_a_response_schema_counts_as_its_json(make_request: MakeRequest) -> None:
    schema = {"type": "object"}
    request = make_request(
        "abc", response_format={"type": "json_schema", "json_schema": schema, "name": "r"}
    )
    size = 3 + len('{"type":"object"}')
    assert input_tokens(request, DEFAULTS) == -(-size // 3) + 4


def test_output_tokens_are_max_tokens_or_the_default(make_request: MakeRequest) -> None:
    assert output_tokens(make_request("abc", params={"max_tokens": 95}), DEFAULTS) == 95
    assert output_tokens(make_request("abc"), DEFAULTS) == 1024
    assert output_tokens(make_request("abc"), AdmissionConfig(default_max_tokens=10)) == 10
    assert request_tokens(make_request("abc", params={"max_tokens": 95}), DEFAULTS) == 5 + 95


def test_cost_is_the_dearest_candidate_in_exact_decimals(
    config: GatewayConfig, make_request: MakeRequest
) -> None:
    request = make_request("abc")  # 5 input tokens, 1024 output tokens by default
    # big: 3 USD/Mtok in, 15 USD/Mtok out; small: 0.15 in, 0.60 out
    big = Decimal(5 * 3 + 1024 * 15) / 1_000_000
    small = (Decimal("0.15") * 5 + Decimal("0.60") * 1024) / 1_000_000
    assert big == Decimal("0.015375")
    assert cost_estimate(request, ["big", "small"], config) == big
    assert cost_estimate(request, ["small", "big"], config) == big
    assert cost_estimate(request, ["small"], config) == small == Decimal("0.00061515")


def test_unknown_candidates_are_ignored_and_none_known_costs_zero(
    config: GatewayConfig, make_request: MakeRequest
) -> None:
    request = make_request("abc")
    assert cost_estimate(request, ["gone", "small"], config) == cost_estimate(
        request, ["small"], config
    )
    assert cost_estimate(request, ["gone"], config) == Decimal(0)


def test_the_dearest_candidate_depends_on_the_request(make_request: MakeRequest) -> None:
    config = GatewayConfig.model_validate(
        {
            "providers": {"a": {"format": "openai", "base_url": "http://127.0.0.1:1/v1"}},
            "models": {
                "reader": {  # dear input, cheap output
                    "provider": "a",
                    "upstream": "r",
                    "input_per_mtok": "10",
                    "output_per_mtok": "1",
                    "context_window": 100_000,
                },
                "writer": {  # cheap input, dear output
                    "provider": "a",
                    "upstream": "w",
                    "input_per_mtok": "1",
                    "output_per_mtok": "10",
                    "context_window": 100_000,
                },
            },
            "routes": [{"name": "default", "primary": "reader", "fallbacks": ["writer"]}],
        }
    )
    candidates = ["reader", "writer"]
    # 2996 bytes -> 999 tokens + 4 = 1003 input tokens; 10 output tokens
    long_prompt = make_request("x" * 2996, params={"max_tokens": 10})
    assert cost_estimate(long_prompt, candidates, config) == Decimal(1003 * 10 + 10) / 10**6
    # 5 input tokens, 1000 output tokens
    long_answer = make_request("abc", params={"max_tokens": 1000})
    assert cost_estimate(long_answer, candidates, config) == Decimal(5 + 1000 * 10) / 10**6
