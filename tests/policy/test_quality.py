"""Each quality check: answers it must reject, and look-alikes it must let through."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.base import ProviderResult
from policy.quality import ORDER, QUOTE_CHARS, QualityCheck, first_failure
from schemas.chat import ToolCall
from schemas.events import LLMRequest

PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}},
    "required": ["name", "age"],
    "additionalProperties": False,
}
WEATHER = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "unit": {"enum": ["c", "f"]}},
    "required": ["city"],
}


def request(**over: Any) -> LLMRequest:
    data: dict[str, Any] = {
        "request_id": "r1",
        "tenant": "acme",
        "messages": [{"role": "user", "content": "hello"}],
    }
    data.update(over)
    return LLMRequest.model_validate(data)


def answer(content: str = "Paris.", **over: Any) -> ProviderResult:
    data: dict[str, Any] = {
        "content": content,
        "finish_reason": "stop",
        "input_tokens": 10,
        "output_tokens": 5,
        "provider_request_id": None,
        "upstream_model": "m",
    }
    data.update(over)
    return ProviderResult.model_validate(data)


def failed(req: LLMRequest, res: ProviderResult, check: QualityCheck) -> str | None:
    found = first_failure(req, res, [check])
    assert found is None or found.check == check
    return found.detail if found is not None else None


JSON_MODE = {"response_format": {"type": "json_object"}}
SCHEMA_MODE = {"response_format": {"type": "json_schema", "json_schema": PERSON}}
TOOLS = {"tools": [{"name": "get_weather", "parameters": WEATHER}]}


def call(name: str = "get_weather", **arguments: Any) -> list[ToolCall]:
    return [ToolCall(id="c1", name=name, arguments=arguments)]


# -- empty ---------------------------------------------------------------------------


@pytest.mark.parametrize("content", ["", "   ", "\n\t \n", "\u200b", " \ufeff "])
def test_empty_rejects_no_text(content: str) -> None:
    assert failed(request(), answer(content), "empty") is not None


@pytest.mark.parametrize("content", ["0", ".", "ok", "  no  "])
def test_empty_passes_any_visible_text(content: str) -> None:
    assert failed(request(), answer(content), "empty") is None


def test_empty_passes_a_tool_call_without_text() -> None:
    res = answer("", tool_calls=call(city="Oslo"), finish_reason="tool_calls")
    assert failed(request(**TOOLS), res, "empty") is None


# -- truncated -----------------------------------------------------------------------


def test_truncated_rejects_a_length_stop_the_caller_did_not_accept() -> None:
    req = request(params={"max_tokens": 16})
    detail = failed(req, answer("a long answer cut", finish_reason="length"), "truncated")
    assert detail is not None and "max_tokens=16" in detail


@pytest.mark.parametrize("flag", ["true", "TRUE", " True "])
def test_truncated_passes_when_the_caller_accepts_it(flag: str) -> None:
    req = request(params={"max_tokens": 16}, metadata={"accept_truncation": flag})
    assert failed(req, answer("cut", finish_reason="length"), "truncated") is None


@pytest.mark.parametrize("reason", ["stop", "tool_calls", "content_filter", "other"])
def test_truncated_passes_other_finish_reasons(reason: str) -> None:
    req = request(metadata={"accept_truncation": "false"})
    assert failed(req, answer("x", finish_reason=reason), "truncated") is None


# -- refusal -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        "I'm sorry, but I can't help with that.",
        "I\u2019m sorry, but I can\u2019t assist with that request.",  # curly apostrophes
        "Sorry, I can't help with that.",
        "I cannot comply with this request.",
        "I can't do that.",
        "I apologize, but I cannot provide that information.",
        "I'm unable to help with that request.",
        "As an AI language model, I cannot answer that.",
        "I'm sorry, but I can't help with that. Is there anything else I can help you with?",
        "  I won't help with that.  ",
    ],
)
def test_refusal_rejects_refusal_only_answers(content: str) -> None:
    detail = failed(request(), answer(content), "refusal")
    assert detail is not None and detail.startswith("refusal only")


@pytest.mark.parametrize(
    "content",
    [
        # apologies and "can't" that are not refusals
        "I'm sorry for the confusion earlier. The capital of France is Paris.",
        "I can't stress this enough: back up your data before upgrading.",
        "The parser can't handle nested quotes.",
        "Sorry to hear that! Restarting the router usually fixes it.",
        # a refusal that goes on to give something
        "I can't help with that directly, but here is a workaround: use rsync.",
        "I cannot provide medical advice; see a doctor about dosage.",
        "I cannot answer that with certainty, the survey found 42% growth.",
        # a long answer that only mentions it cannot do something
        "I can't help with breaking into accounts. " + "Securing your own account is "
        "a different matter, and there is a lot you can do about it yourself today. " * 3,
    ],
)
def test_refusal_passes_look_alikes(content: str) -> None:
    assert failed(request(), answer(content), "refusal") is None


def test_refusal_ignores_tool_calls() -> None:
    res = answer("I can't help with that.", tool_calls=call(city="Oslo"))
    assert failed(request(**TOOLS), res, "refusal") is None


# -- json ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content", ['{"answer": "Paris"', "Sure! Here is the JSON: {}", '```json\n{"a": 1}\n```', "NaN"]
)
def test_json_rejects_text_that_does_not_parse(content: str) -> None:
    detail = failed(request(**JSON_MODE), answer(content), "json")
    assert detail is not None and detail.startswith("not JSON")


@pytest.mark.parametrize("content", ["[1, 2]", '"Paris"', "42"])
def test_json_object_mode_rejects_json_that_is_not_an_object(content: str) -> None:
    detail = failed(request(**JSON_MODE), answer(content), "json")
    assert detail is not None and "object" in detail


@pytest.mark.parametrize("content", ['{"answer": "Paris"}', '\n  {"a": [1, {"b": null}]}  \n'])
def test_json_passes_an_object_with_surrounding_whitespace(content: str) -> None:
    assert failed(request(**JSON_MODE), answer(content), "json") is None


def test_json_does_not_apply_outside_json_mode() -> None:
    assert failed(request(), answer("{not json"), "json") is None
    text_mode = request(response_format={"type": "text"})
    assert failed(text_mode, answer("{not json"), "json") is None


def test_json_schema_mode_counts_as_json_mode_for_parsing_only() -> None:
    assert failed(request(**SCHEMA_MODE), answer("{"), "json") is not None
    # The schema's own rules are json_schema's business.
    assert failed(request(**SCHEMA_MODE), answer("[]"), "json") is None


# -- json_schema ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "where"),
    [
        ('{"name": "Ada"}', "'age' is a required property"),
        ('{"name": "Ada", "age": -1}', "$.age"),
        ('{"name": "Ada", "age": "36"}', "$.age"),
        ('{"name": "Ada", "age": 36, "extra": true}', "extra"),
        ("[]", "object"),
    ],
)
def test_json_schema_rejects_a_violation_and_says_where(content: str, where: str) -> None:
    detail = failed(request(**SCHEMA_MODE), answer(content), "json_schema")
    assert detail is not None and where in detail


def test_json_schema_rejects_text_that_is_not_json_even_alone() -> None:
    detail = failed(request(**SCHEMA_MODE), answer('{"name": "Ada"'), "json_schema")
    assert detail is not None and detail.startswith("not JSON")


@pytest.mark.parametrize("content", ['{"name": "Ada", "age": 36}', ' {"age": 0, "name": ""} '])
def test_json_schema_passes_a_valid_document(content: str) -> None:
    assert failed(request(**SCHEMA_MODE), answer(content), "json_schema") is None


def test_json_schema_does_not_apply_without_a_schema() -> None:
    assert failed(request(**JSON_MODE), answer('{"anything": 1}'), "json_schema") is None


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "no-such-type"},  # not a valid schema
        {"$ref": "https://example.com/remote.json"},  # a document it does not hold
        {"$ref": "#"},  # endless
    ],
)
def test_a_schema_that_cannot_judge_passes_the_answer(schema: dict[str, Any]) -> None:
    req = request(response_format={"type": "json_schema", "json_schema": schema})
    assert failed(req, answer('{"a": 1}'), "json_schema") is None


# -- tool_arguments ------------------------------------------------------------------


def test_tool_arguments_rejects_arguments_outside_the_schema() -> None:
    missing = failed(request(**TOOLS), answer("", tool_calls=call(unit="c")), "tool_arguments")
    assert missing is not None and "get_weather" in missing and "'city'" in missing
    wrong = failed(request(**TOOLS), answer("", tool_calls=call(city=7)), "tool_arguments")
    assert wrong is not None and "$.city" in wrong
    enum = failed(
        request(**TOOLS), answer("", tool_calls=call(city="Oslo", unit="k")), "tool_arguments"
    )
    assert enum is not None and "$.unit" in enum


def test_tool_arguments_rejects_a_tool_that_was_not_offered() -> None:
    res = answer("", tool_calls=call("delete_everything"))
    detail = failed(request(**TOOLS), res, "tool_arguments")
    assert detail is not None and "not offered" in detail and "get_weather" in detail


def test_tool_arguments_checks_every_call() -> None:
    calls = [
        ToolCall(id="a", name="get_weather", arguments={"city": "Oslo"}),
        ToolCall(id="b", name="get_weather", arguments={}),
    ]
    assert failed(request(**TOOLS), answer("", tool_calls=calls), "tool_arguments") is not None


def test_tool_arguments_passes_valid_calls_and_plain_answers() -> None:
    res = answer("", tool_calls=call(city="Oslo", unit="f", extra="allowed by the schema"))
    assert failed(request(**TOOLS), res, "tool_arguments") is None
    assert failed(request(**TOOLS), answer("It is sunny."), "tool_arguments") is None


# -- together ------------------------------------------------------------------------


def test_checks_run_in_a_fixed_order_whatever_order_they_are_given() -> None:
    req = request(params={"max_tokens": 4}, **JSON_MODE)
    res = answer('{"a":', finish_reason="length")
    reversed_order = list(reversed(ORDER))
    found = first_failure(req, res, reversed_order)
    assert found is not None and found.check == "truncated"
    assert first_failure(req, res, ["json"]) is not None
    assert first_failure(req, res, []) is None


def test_a_good_answer_passes_every_check() -> None:
    req = request(params={"max_tokens": 100}, **SCHEMA_MODE)
    assert first_failure(req, answer('{"name": "Ada", "age": 36}'), ORDER) is None


def test_details_quote_at_most_80_characters_of_the_answer() -> None:
    long_key = "k" * 500
    schema = {"type": "object", "additionalProperties": False}
    req = request(response_format={"type": "json_schema", "json_schema": schema})
    cases: list[tuple[ProviderResult, QualityCheck]] = [
        (answer("{" + "x" * 500), "json"),
        (answer(f'{{"{long_key}": 1}}'), "json_schema"),
        (answer("I can't help with that " + "x" * 150), "refusal"),
    ]
    for res, check in cases:
        found = first_failure(req, res, [check])
        assert found is not None, check
        assert "x" * QUOTE_CHARS not in found.detail
        assert "k" * QUOTE_CHARS not in found.detail


def test_json_takes_every_valid_number() -> None:
    # Integers past 64 bits stay integers; a huge exponent is still JSON.
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}}
    req = request(response_format={"type": "json_schema", "json_schema": schema})
    res = answer('{"n": 123456789012345678901234567890, "x": 1e400}')
    assert first_failure(req, res, ["json", "json_schema"]) is None
    assert failed(request(**JSON_MODE), answer('{"n": Infinity}'), "json") is not None
