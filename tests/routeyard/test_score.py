"""``routeyard score``: the worker's classification of JSON-lines prompts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from routeyard.score import BadLine, score_line, score_lines, scorer_for
from schemas.chat import ChatMessage
from schemas.config_loader import load_config
from schemas.events import LLMRequest
from streams.triage import RecentIds, Routed, triage
from tests.paths import EXAMPLE_CONFIG

CODE_PROMPT = "Fix this python:\n```\ndef f(x):\n    return x +\n```"


def _scored(result: str | BadLine) -> dict[str, object]:
    assert isinstance(result, str), result
    doc = json.loads(result)
    assert isinstance(doc, dict)
    return doc


def _line(**fields: object) -> str:
    return json.dumps(fields)


def test_a_prompt_is_scored_as_one_user_message() -> None:
    doc = _scored(score_line(1, _line(id="a", prompt=CODE_PROMPT)))
    assert set(doc) == {"id", "score", "tier", "task_type"}
    assert doc["id"] == "a"
    assert doc["task_type"] == "code"
    chat = _scored(score_line(1, _line(id="b", prompt="hi there, how are you")))
    assert (chat["task_type"], chat["tier"]) == ("chat", "simple")
    assert isinstance(doc["score"], float) and isinstance(chat["score"], float)
    assert doc["score"] > chat["score"]
    # The same text as a messages list is the same request.
    messages = [{"role": "user", "content": CODE_PROMPT}]
    assert _scored(score_line(1, _line(id="a", messages=messages))) == doc


def test_messages_count_every_turn() -> None:
    one = [{"role": "user", "content": "Compare these designs and justify the trade-offs"}]
    more = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "hello"},
        {"role": "assistant", "content": "hi"},
        *one,
    ]
    short = _scored(score_line(1, _line(id=1, messages=one)))
    long = _scored(score_line(1, _line(id=1, messages=more)))
    assert short["task_type"] == long["task_type"] == "reasoning"
    assert isinstance(long["score"], float) and isinstance(short["score"], float)
    assert long["score"] > short["score"]  # more text and more turns


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("{nope", "not JSON"),
        ("[1, 2]", "not a JSON object but an array"),
        ('"just text"', "not a JSON object but a string"),
        ('{"id": 1, "prompt": "x", "score": NaN}', "NaN is not a JSON number"),
        (_line(prompt="x"), "id: missing"),
        (_line(id=[1], prompt="x"), "id: must be a string, number, boolean or null"),
        (_line(id=1), "neither prompt nor messages given"),
        (_line(id=1, prompt="x", messages=[]), "give prompt or messages, not both"),
        (_line(id=1, prompt=""), "prompt: must be a non-empty string"),
        (_line(id=1, prompt=["x"]), "prompt: must be a non-empty string"),
        (_line(id=1, messages="hello"), "messages: Input should be a valid list"),
        (_line(id=1, messages=[]), "messages: List should have at least 1 item"),
        (_line(id=1, messages=[{"role": "bot", "content": "x"}]), "messages.0.role: "),
        (_line(id=1, messages=[{"role": "user", "content": "x", "name": "n"}]), "messages.0.name"),
        (_line(id=1, messages=[{"role": "user", "content": ""}]), "content is empty"),
    ],
)
def test_a_bad_line_says_why(line: str, reason: str) -> None:
    result = score_line(7, line)
    assert isinstance(result, BadLine), result
    assert result.line == 7
    assert reason in result.reason


def test_invalid_utf8_is_a_bad_line() -> None:
    result = score_line(3, b'{"id": 1, "prompt": "\xff"}')
    assert isinstance(result, BadLine) and result.reason.startswith("not UTF-8")


def test_lines_keep_order_and_numbers_and_bad_lines_take_their_place() -> None:
    lines = [
        _line(id=3, prompt="third? no, first"),
        "",
        "not json",
        _line(id=1, prompt=CODE_PROMPT),
        "   ",
        _line(id=2),
        _line(id=0, messages=[{"role": "user", "content": "x"}]),
    ]
    results = list(score_lines(lines))
    assert [r.line if isinstance(r, BadLine) else _scored(r)["id"] for r in results] == [
        3,
        3,  # line 3: blank lines are skipped but still counted
        1,
        6,
        0,
    ]
    assert [isinstance(r, BadLine) for r in results] == [False, True, False, True, False]


@pytest.mark.parametrize(
    "ident",
    ["r-1", "", 42, -7, 123456789012345678901234567890, 1.5, 0.1, True, False, None],
)
def test_the_id_is_echoed_as_given(ident: object) -> None:
    raw = json.dumps({"id": ident, "prompt": "hello"})
    out = score_line(1, raw)
    assert isinstance(out, str)
    echoed = json.loads(out)["id"]
    assert echoed == ident and type(echoed) is type(ident)
    # As text too: a big integer is not turned into a float on the way.
    assert out.startswith('{"id":' + json.dumps(ident) + ",")


def test_the_score_is_what_triage_puts_on_the_dispatch_event() -> None:
    config = load_config(EXAMPLE_CONFIG)
    messages = [
        {"role": "system", "content": "Answer as a mathematician."},
        {
            "role": "user",
            "content": "Prove that the integral of 1/x from 1 to e is 1, step by step.",
        },
        {"role": "assistant", "content": "First, recall the derivative of ln x."},
        {"role": "user", "content": "Then evaluate and compare with a numeric estimate?"},
    ]
    request = LLMRequest(
        request_id="r1",
        tenant="tenant-1",
        messages=[ChatMessage.model_validate(m) for m in messages],
    )
    outcome = triage(request.to_bytes(), config, RecentIds(10))
    assert isinstance(outcome, Routed)
    expected = outcome.dispatch.classification
    doc = _scored(score_line(1, _line(id="r1", messages=messages), scorer_for(config)))
    assert doc == {
        "id": "r1",
        "score": expected.score,
        "tier": expected.tier,
        "task_type": expected.task_type,
    }
    assert expected.task_type == "math" and expected.features["math"] > 0  # has features


def test_the_command_reads_stdin_and_writes_stdout() -> None:
    lines = [
        _line(id="a", prompt=CODE_PROMPT),
        _line(id="b", prompt="x", messages=[]),
        "{",
        _line(id=2, messages=[{"role": "user", "content": "hi"}]),
    ]
    result = subprocess.run(
        [sys.executable, "-m", "routeyard.cli", "score", "--config", str(EXAMPLE_CONFIG)],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert [d["id"] for d in out] == ["a", 2]
    assert out[0] == _scored(score_line(1, lines[0], scorer_for(load_config(EXAMPLE_CONFIG))))
    errors = result.stderr.splitlines()
    assert errors[0] == "<stdin>:2: give prompt or messages, not both"
    assert errors[1].startswith("<stdin>:3: not JSON")
    assert "Traceback" not in result.stderr


def test_the_command_exits_0_on_clean_input_and_writes_the_output_file(tmp_path: Path) -> None:
    source, sink = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_text(_line(id=1, prompt="hello") + "\n")
    command = [sys.executable, "-m", "routeyard.cli", "score", "--config", str(EXAMPLE_CONFIG)]
    result = subprocess.run(
        [*command, "--input", str(source), "--output", str(sink)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert (result.stdout, result.stderr) == ("", "")
    [line] = sink.read_text().splitlines()
    assert json.loads(line)["tier"] == "simple"
    missing = subprocess.run(
        [*command, "--input", str(tmp_path / "absent.jsonl")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert missing.returncode == 2
    assert "absent.jsonl" in missing.stderr and "Traceback" not in missing.stderr


def test_a_model_dir_that_cannot_be_loaded_stops_the_command(tmp_path: Path) -> None:
    config = tmp_path / "routeyard.yaml"
    config.write_text(
        EXAMPLE_CONFIG.read_text() + f"\nrouter: {{model_dir: '{tmp_path / 'absent'}'}}\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "routeyard.cli", "score", "--config", str(config)],
        input=_line(id=1, prompt="hello") + "\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert f"router.model_dir: {tmp_path / 'absent'}: " in result.stderr
    assert "Traceback" not in result.stderr
