from collections.abc import Callable

from policy.classifier import classify
from schemas.events import LLMRequest

MakeRequest = Callable[..., LLMRequest]


def test_short_chat_is_simple(make_request: MakeRequest) -> None:
    c = classify(make_request("hi there, how are you"))
    assert c.task_type == "chat"
    assert c.tier == "simple"


def test_code_is_detected_and_scores_higher_than_chat(make_request: MakeRequest) -> None:
    chat = classify(make_request("tell me about the weather in spring in a few words"))
    code = classify(make_request("Fix this python:\n```\ndef f(x):\n    return x +\n```"))
    assert code.task_type == "code"
    assert code.features["code"] > 0
    assert code.score > chat.score


def test_math_and_reasoning_cues_raise_the_tier(make_request: MakeRequest) -> None:
    text = (
        "Prove the theorem step by step, then compare two approaches and explain why"
        " the integral of x^2 from 0 to 3 equals 9. Analyze the trade-offs. " * 3
    )
    c = classify(make_request(text))
    assert c.task_type == "math"
    assert c.tier in ("moderate", "complex")
    assert c.features["reasoning"] > 0.5


def test_task_type_hint_wins_over_inference(make_request: MakeRequest) -> None:
    c = classify(make_request("hello", task_type="summarize"))
    assert c.task_type == "summarize"


def test_longer_input_scores_higher(make_request: MakeRequest) -> None:
    short = classify(make_request("word " * 5))
    long = classify(make_request("word " * 3000))
    assert long.features["length"] > short.features["length"]
    assert long.score > short.score
    assert 0.0 <= long.score <= 1.0


def test_a_long_prompt_is_read_at_its_head_and_tail_only(make_request: MakeRequest) -> None:
    _req = make_request
    filler = "plain words " * 10_000
    middle = filler + "def f(x):\n    return x\n" * 5 + filler
    ends = "def f(x):\n    return x\n" * 5 + filler + filler
    read = classify(_req(middle)).features
    assert read["code"] == 0.0  # the middle of a 240 KB prompt is not scanned
    assert classify(_req(ends)).features["code"] > 0.0
    assert read["length"] == classify(_req(ends)).features["length"]  # length counts all
