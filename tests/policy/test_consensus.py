"""Consensus rules as pure functions: normalization, majority, first_valid, the judge."""

from __future__ import annotations

import pytest

from adapters.base import ProviderResult
from policy.consensus import (
    Answer,
    agreeing,
    answer_text,
    distinct_answers,
    first_valid,
    judge_messages,
    judged,
    majority,
    normalize_answer,
    parse_judge_pick,
)
from schemas.chat import ChatMessage, ToolCall


@pytest.mark.parametrize(
    "text",
    [
        "42",
        "42.0",
        "42.",
        "+42",
        "The answer is 42.",
        "the answer is: 42",
        "**Answer:** 42",
        "Final answer = 42",
        "  42  \n",
        "`42`",
        "4.2e1",
        "$42",
        "42%",
        "\uff14\uff12",  # full-width digits
    ],
)
def test_forms_of_one_number_normalize_alike(text: str) -> None:
    assert normalize_answer(text) == "42"


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("1,000.50", "1000.5"),
        ("-0", "0"),
        ("0.0", "0"),
        ("The Eiffel Tower!", "eiffel tower"),
        ("Paris.", "  PARIS "),
        ("Straße", "STRASSE"),
        ('"yes"', "Yes."),
        ("an apple", "Apple"),
    ],
)
def test_equal_answers_normalize_equal(a: str, b: str) -> None:
    assert normalize_answer(a) == normalize_answer(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("42", "41"),
        ("42", "forty-two"),
        ("-5", "5"),
        ("1,2,3", "123"),
        ("42nd", "42"),
        ("4.2", "42"),
        ("no", "yes"),
    ],
)
def test_different_answers_stay_different(a: str, b: str) -> None:
    assert normalize_answer(a) != normalize_answer(b)


def test_a_huge_exponent_stays_a_short_key() -> None:
    assert normalize_answer("1e999999") == "1e+999999"


def test_punctuation_only_normalizes_to_nothing() -> None:
    assert normalize_answer(" ...!? ") == ""


def _answers(*pairs: tuple[str, str]) -> list[Answer]:
    return [Answer(model, text) for model, text in pairs]


def test_majority_picks_the_largest_group_and_names_who_agreed() -> None:
    answers = _answers(("a", "41"), ("b", "The answer is 42."), ("c", "42.0"))
    pick = majority(answers, min_agree=2)
    assert (pick.index, pick.agreed, pick.decided, pick.note) == (1, ("b", "c"), True, "")


def test_a_tie_goes_to_the_group_whose_first_model_comes_first() -> None:
    answers = _answers(("a", "x"), ("b", "y"), ("c", "y"), ("d", "x"))
    assert majority(answers, min_agree=2).index == 0  # x: a, d against y: b, c
    swapped = _answers(("b", "y"), ("a", "x"), ("c", "y"), ("d", "x"))
    assert majority(swapped, min_agree=2).index == 0  # now y's first member comes first


def test_below_min_agree_the_plurality_is_flagged() -> None:
    pick = majority(_answers(("a", "1"), ("b", "2"), ("c", "3")), min_agree=2)
    assert (pick.index, pick.agreed, pick.decided) == (0, ("a",), False)
    assert "min_agree=2" in pick.note and "largest group has 1" in pick.note


def test_empty_answers_do_not_vote() -> None:
    pick = majority(_answers(("a", ""), ("b", "  "), ("c", "7")), min_agree=1)
    assert (pick.index, pick.agreed, pick.decided) == (2, ("c",), True)
    # Two empty answers are no agreement of two.
    assert majority(_answers(("a", ""), ("b", ""), ("c", "7")), min_agree=2).decided is False


def test_all_empty_answers_give_the_first_flagged() -> None:
    pick = majority(_answers(("a", ""), ("b", "!")), min_agree=1)
    assert (pick.index, pick.agreed, pick.decided) == (0, (), False)
    assert "empty" in pick.note


def test_majority_needs_an_answer() -> None:
    with pytest.raises(ValueError, match="no answers"):
        majority([], min_agree=1)


def test_first_valid_takes_the_first_passing_answer_in_completion_order() -> None:
    answers = _answers(("fast", ""), ("mid", "42"), ("slow", "42.0"))
    pick = first_valid(answers, ["empty", None, None])
    assert (pick.index, pick.agreed, pick.decided) == (1, ("mid", "slow"), True)


def test_first_valid_without_a_valid_answer_gives_the_first_flagged() -> None:
    answers = _answers(("a", ""), ("b", "I can't help with that."))
    pick = first_valid(answers, ["empty", "refusal"])
    assert (pick.index, pick.decided) == (0, False)
    assert pick.note == "no answer passed the checks (a: empty; b: refusal)"


def test_first_valid_wants_one_failure_per_answer() -> None:
    with pytest.raises(ValueError, match="one failure entry per answer"):
        first_valid(_answers(("a", "x")), [])


@pytest.mark.parametrize(
    ("reply", "pick"),
    [
        ("2", 1),
        ("2.", 1),
        ("**2**", 1),
        ("#2", 1),
        ("Answer 2", 1),
        ("answer #2 is the most accurate", 1),
        ("The best is #2", 1),
        ("The best answer is 3 because answer 1 misreads the question", 2),
        ("Answer 1 is wrong; the best is answer 2", 1),
        ("I would pick option 3.", 2),
        ("Candidate 1", 0),
        ("\uff12", 1),  # a full-width digit
    ],
)
def test_the_judges_pick_is_read_from_common_phrasings(reply: str, pick: int) -> None:
    assert parse_judge_pick(reply, 3) == pick


@pytest.mark.parametrize(
    "reply",
    [
        "",
        "They are all good.",
        "Answer 4",  # out of range
        "0",
        "Answer 1 and answer 3 are both fine",  # two different answers named
        "I like 1 and 3",
        "2.5",
        "12",
    ],
)
def test_a_reply_naming_no_single_answer_is_no_pick(reply: str) -> None:
    assert parse_judge_pick(reply, 3) is None


def test_the_judge_pick_counts_who_agreed_with_it() -> None:
    answers = _answers(("a", "42"), ("b", "41"), ("c", "42.0"))
    pick = judged(answers, "Answer 3", min_agree=2)
    assert (pick.index, pick.agreed, pick.decided, pick.note) == (2, ("a", "c"), True, "")
    # The judge may overrule the majority.
    minority = judged(answers, "2", min_agree=2)
    assert (minority.index, minority.agreed, minority.decided) == (1, ("b",), True)


def test_an_unreadable_judge_reply_falls_back_to_majority_and_says_so() -> None:
    answers = _answers(("a", "41"), ("b", "42"), ("c", "42"))
    pick = judged(answers, "Both b and c look right to me, hard to say", min_agree=2)
    assert (pick.index, pick.agreed, pick.decided) == (1, ("b", "c"), False)
    assert pick.note.startswith("the judge's reply names no single answer ('Both b and c")
    assert pick.note.endswith(": majority used")


def test_a_failed_judge_call_falls_back_to_majority_and_says_so() -> None:
    answers = _answers(("a", "1"), ("b", "2"))
    pick = judged(answers, None, min_agree=2, failure="unavailable")
    assert (pick.index, pick.decided) == (0, False)
    assert pick.note == (
        "the judge call failed (unavailable): majority used;"
        " no answer reached min_agree=2: the largest group has 1"
    )


def test_a_long_judge_reply_is_quoted_short_in_the_note() -> None:
    pick = judged(_answers(("a", "1"), ("b", "2")), "words " * 100, min_agree=1)
    quoted = pick.note.split("(", 1)[1].split(")", 1)[0]
    assert len(quoted) <= 82 and quoted.endswith("...'")


def test_the_judge_sees_the_request_and_numbered_answers_without_model_names() -> None:
    request = [
        ChatMessage(role="system", content="Be brief."),
        ChatMessage(role="user", content="What is 6 x 7?"),
    ]
    [message] = judge_messages(request, _answers(("gpt-secret", "42"), ("claude-secret", "41")))
    assert message.role == "user"
    text = message.text
    assert "[system] Be brief." in text and "[user] What is 6 x 7?" in text
    assert text.index("Answer 1:\n<<<\n42\n>>>") < text.index("Answer 2:\n<<<\n41\n>>>")
    assert "secret" not in text
    assert text.endswith("Reply with one number from 1 to 2.")


def test_answer_text_adds_tool_calls_in_a_stable_form() -> None:
    call = ToolCall(id="c1", name="lookup", arguments={"b": 2, "a": 1})
    result = ProviderResult(
        content="",
        tool_calls=[call],
        finish_reason="tool_calls",
        input_tokens=1,
        output_tokens=1,
        provider_request_id=None,
        upstream_model="m",
    )
    assert answer_text(result) == '\nlookup {"a":1,"b":2}'
    plain = result.model_copy(update={"content": "hi", "tool_calls": []})
    assert answer_text(plain) == "hi"


def test_agreeing_and_distinct_answers() -> None:
    answers = _answers(("a", "42"), ("b", "42.0"), ("c", ""), ("d", ""))
    assert agreeing(answers, 0) == ("a", "b")
    assert agreeing(answers, 2) == ()
    assert distinct_answers(answers) == 3  # 42, and each empty answer on its own
