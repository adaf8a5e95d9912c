"""``routeyard router calibrate``: the command end to end, its config edit and the store's
score sample."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from devtools.stack import free_port
from routeyard.score import BadLine, score_lines, scorer_for
from routeyard.thresholds_yaml import ThresholdsEditError, edited, number
from routeyard.web.api import answer
from schemas.base import utcnow
from schemas.config_loader import load_config, parse_config
from schemas.events import UsageEvent
from schemas.router import TierThresholds
from store import UsageStore, open_backend
from store.queries import QueryError, TimeRange, score_sample
from tests.paths import EXAMPLE_CONFIG

NEW = TierThresholds(moderate=0.42, complex=0.7)

# --- the config edit: only router.thresholds changes ------------------------------------


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (
            "app_id: x  # mine\n",
            "app_id: x  # mine\nrouter:\n  thresholds: {moderate: 0.42, complex: 0.7}\n",
        ),
        ("app_id: x", "app_id: x\nrouter:\n  thresholds: {moderate: 0.42, complex: 0.7}\n"),
        (
            "router:   # the scorer\n  # learned is the default\n  scorer: heuristic\nz: 1\n",
            "router:   # the scorer\n  # learned is the default\n"
            "  thresholds: {moderate: 0.42, complex: 0.7}\n  scorer: heuristic\nz: 1\n",
        ),
        (
            "router: {scorer: heuristic}  # c\n",
            "router: {scorer: heuristic, thresholds: {moderate: 0.42, complex: 0.7}}  # c\n",
        ),
        ("router: {}\n", "router: {thresholds: {moderate: 0.42, complex: 0.7}}\n"),
        ("router:\nz: 1\n", "router: {thresholds: {moderate: 0.42, complex: 0.7}}\nz: 1\n"),
        ("router: ~\n", "router: {thresholds: {moderate: 0.42, complex: 0.7}}\n"),
        (
            "router:\n  thresholds:  # tuned\n    moderate: 0.35   # low\n"
            "    complex: '0.65'\n# end\n",
            "router:\n  thresholds:  # tuned\n    moderate: 0.42   # low\n"
            "    complex: 0.7\n# end\n",
        ),
        (
            "router:\n  thresholds: {complex: 0.6, moderate: 0.3}\n",
            "router:\n  thresholds: {complex: 0.7, moderate: 0.42}\n",
        ),
        (
            "router:\n  thresholds:\n  scorer: heuristic\n",
            "router:\n  thresholds: {moderate: 0.42, complex: 0.7}\n  scorer: heuristic\n",
        ),
        (
            "a: 1\r\nrouter:\r\n  scorer: heuristic\r\n",
            "a: 1\r\nrouter:\r\n  thresholds: {moderate: 0.42, complex: 0.7}\r\n"
            "  scorer: heuristic\r\n",
        ),
    ],
)
def test_only_the_thresholds_change(before: str, after: str) -> None:
    assert edited(before, NEW) == after


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("base: &r {scorer: heuristic}\nrouter: *r\n", "more than router.thresholds"),
        ("router: heuristic\n", "neither a mapping nor empty"),
        ("router:\n  thresholds: [0.3, 0.6]\n", "neither a mapping nor empty"),
        ("router:\n  thresholds: {moderate: 0.3}\n", "complex is not a number"),
        ("- a\n- b\n", "not a YAML mapping"),
        ("a: [\n", "not readable YAML"),
    ],
)
def test_a_layout_that_cannot_be_edited_safely_is_refused(text: str, reason: str) -> None:
    with pytest.raises(ThresholdsEditError, match=reason):
        edited(text, NEW)


def test_numbers_are_yaml_floats() -> None:
    assert [number(v) for v in (0.0, 1.0, 0.00001, 0.1234)] == ["0.0", "1.0", "0.00001", "0.1234"]
    for value in (0.0, 0.00001, 0.1234, 1.0):
        assert yaml.safe_load(number(value)) == value


# --- the command on a prompt file -------------------------------------------------------

_PIECES = [
    "hello there",
    "what is the capital of France?",
    "explain why the sky is blue, step by step",
    "compare these two designs and justify the trade-offs",
    "fix this python:\n```\ndef f(x):\n    return x +\n```",
    "prove that the integral of 1/x is log x",
    "summarize the key points of this memo",
    "extract the names as json",
    "write a poem about the sea",
    "analyze the pros and cons of a plan to move to Rust",
    "first, list the steps. then, evaluate each one. finally, pick one.",
    "solve for x: 3x + 2 = 11",
]


def _prompts(path: Path, n: int = 240) -> list[str]:
    rng = random.Random(12)
    lines = []
    for i in range(n):
        text = " ".join(rng.choice(_PIECES) for _ in range(rng.randint(1, 5)))
        text += " filler" * rng.choice([0, 0, 5, 50, 400])
        if i % 7 == 0:
            messages = [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": text},
            ]
            lines.append(json.dumps({"id": i, "messages": messages}))
        else:
            lines.append(json.dumps({"id": f"p{i}", "prompt": text}))
    path.write_text("\n".join(lines) + "\n")
    return lines


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "routeyard.cli", "router", "calibrate", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _config_file(tmp_path: Path, router: str = "router:\n  scorer: heuristic\n") -> Path:
    path = tmp_path / "gw.yaml"
    path.write_text(EXAMPLE_CONFIG.read_text() + router)
    return path


def _tiers_now(config_path: Path, prompts: Path) -> tuple[Counter[str], list[float]]:
    """Each prompt's tier and score from the scorer the worker would build from the file."""
    scorer = scorer_for(load_config(config_path))
    tiers: Counter[str] = Counter()
    scores = []
    for result in score_lines(prompts.read_bytes().splitlines(), scorer):
        assert not isinstance(result, BadLine), result
        doc = json.loads(result)
        tiers[doc["tier"]] += 1
        scores.append(doc["score"])
    return tiers, scores


def _tolerance(doc: dict[str, Any], tier: str) -> float:
    """Half a block of equal scores straddling the target (at least half a request)."""
    blocks = [int(t["requests"]) for t in doc["ties"] if t["tier"] == tier]
    return max([1, *blocks]) / 2 / int(doc["sample"]["requests"]) + 1e-9


def test_written_thresholds_give_the_target_share_under_the_workers_scorer(
    tmp_path: Path,
) -> None:
    prompts = tmp_path / "prompts.jsonl"
    _prompts(prompts)
    config = _config_file(tmp_path)
    original = config.read_text()
    result = _run(
        "--config", str(config), "--prompts", str(prompts), "--strong-share", "0.3",
        "--moderate-share", "0.3", "--write", str(config), "--format", "json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    written = doc["thresholds"]
    # The file changed by one line: the thresholds, first under router.
    line = f"  thresholds: {{moderate: {number(written['moderate'])},"
    line += f" complex: {number(written['complex'])}}}\n"
    assert config.read_text() == original.replace("\nrouter:\n", "\nrouter:\n" + line)
    assert load_config(config).router.thresholds == TierThresholds(**written)

    tiers, scores = _tiers_now(config, prompts)
    n = len(scores)
    assert doc["sample"]["requests"] == n == 240
    for tier, target in (("complex", 0.3), ("moderate", 0.3)):
        assert tiers[tier] == doc["tiers"][tier]["requests"], tier
        assert abs(tiers[tier] / n - target) <= _tolerance(doc, tier), (tier, doc["ties"])
    # The sample has ties (the heuristic rounds and its features are coarse), so the command
    # could not pretend it met the target exactly when it did not.
    assert len(set(scores)) < n


def test_a_cost_ceiling_uses_the_routes_prices_and_holds_on_the_sample(tmp_path: Path) -> None:
    prompts = tmp_path / "prompts.jsonl"
    _prompts(prompts)
    config = _config_file(tmp_path)
    result = _run("--config", str(config), "--prompts", str(prompts), "--cost-ceiling", "0.5")
    assert result.returncode == 0, result.stderr
    text = result.stdout
    # The example routes a complex chat request to gpt-4o and a simple one to gpt-4o-mini:
    # (3 x 0.15 + 0.60) / (3 x 2.50 + 10.00) = 0.06.
    assert "price ratio 0.060: gpt-4o-mini against gpt-4o" in text
    cost = float(text.split("estimated cost: ")[1].split("%")[0])
    assert cost <= 50.0
    # The example routes by tier, so no route's cut ignores the thresholds.
    assert "match on min/max_complexity" not in text
    assert "rolling restart" in text
    assert "router:\n  thresholds: {moderate: " in text  # a snippet, as nothing was written
    json_run = _run(
        "--config", str(config), "--prompts", str(prompts), "--cost-ceiling", "0.5",
        "--format", "json",
    )  # fmt: skip
    doc = json.loads(json_run.stdout)
    assert doc["cost_fraction"] <= 0.5
    assert doc["cost_fraction"] == pytest.approx(
        doc["tiers"]["complex"]["share"] + (1 - doc["tiers"]["complex"]["share"]) * 0.06
    )


def test_bad_use_exits_2_with_a_message(tmp_path: Path) -> None:
    prompts = tmp_path / "prompts.jsonl"
    lines = _prompts(prompts)
    config = _config_file(tmp_path)
    few = tmp_path / "few.jsonl"
    few.write_text("\n".join(lines[:30]) + "\n")
    cases = [
        (["--prompts", str(few), "--strong-share", "0.3"], "30 scores is too few"),
        (["--prompts", str(prompts), "--cost-ceiling", "0.05"], "below the weak/strong price"),
        (["--prompts", str(prompts), "--strong-share", "2"], "--strong-share: 2 is not in"),
        (["--prompts", str(prompts), "--strong-share", "0.3", "--since", "1d"], "--from-store"),
    ]
    for args, message in cases:
        result = _run("--config", str(config), *args)
        assert result.returncode == 2, args
        assert message in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join([*lines[:60], "{", '{"id": 1}']) + "\n")
    result = _run("--config", str(config), "--prompts", str(bad), "--strong-share", "0.3")
    assert result.returncode == 2
    assert f"{bad}:61: not JSON" in result.stderr
    assert f"{bad}:62: neither prompt nor messages given" in result.stderr


def test_a_config_it_cannot_edit_safely_is_left_alone(tmp_path: Path) -> None:
    prompts = tmp_path / "prompts.jsonl"
    _prompts(prompts)
    config = _config_file(tmp_path)
    shared = tmp_path / "shared.yaml"
    text = config.read_text().replace("router:\n", "router: &r\n") + "x-router: *r\n"
    shared.write_text(text)
    result = _run(
        "--config", str(config), "--prompts", str(prompts), "--strong-share", "0.3",
        "--write", str(shared),
    )  # fmt: skip
    assert result.returncode == 2
    assert "not edited" in result.stderr and "router:\n  thresholds: {" in result.stderr
    assert shared.read_text() == text


# --- the store's scores ---------------------------------------------------------------


def _usage(
    i: int, *, score: float, attempt: int = 1, outcome: str = "success", **over: Any
) -> UsageEvent:
    fields: dict[str, Any] = {
        "request_id": f"r{i}",
        "attempt": attempt,
        "call_id": f"c{i}-{attempt}",
        "tenant": "acme",
        "route": "default",
        "model": "gpt-4o-mini",
        "provider": "openai",
        "upstream_model": "gpt-4o-mini",
        "outcome": outcome,
        "complexity": score,
        "tier": "simple" if score < 0.35 else "moderate" if score < 0.65 else "complex",
    }
    fields.update(over)
    return UsageEvent(**fields)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[UsageStore]:
    s = UsageStore(open_backend(tmp_path / "chdb"), "routeyard")
    s.ensure_schema()
    yield s
    s.backend.close()


def test_the_sample_is_one_score_per_request_most_recent_first(store: UsageStore) -> None:
    now = utcnow()
    events = []
    for i in range(10):
        at = now - timedelta(minutes=10 - i)  # r9 is the most recent
        score = i / 10
        events += [
            _usage(i, score=score, outcome="started", started_at=at),
            _usage(i, score=score, started_at=at),
        ]
    # A retry and a rejection carry a score too, but only the first call counts.
    events.append(_usage(3, score=0.3, attempt=2, started_at=now - timedelta(minutes=5)))
    events.append(_usage(20, score=0.9, attempt=0, outcome="rejected", started_at=now))
    store.insert(events)
    window = TimeRange.of(now - timedelta(hours=1), now + timedelta(minutes=1))
    rows = score_sample(store, window, 100)
    assert sum(r["requests"] for r in rows) == 10
    assert sorted(r["score"] for r in rows) == pytest.approx([i / 10 for i in range(10)])
    recent = score_sample(store, window, 3)
    assert sorted(r["score"] for r in recent) == pytest.approx([0.7, 0.8, 0.9])
    assert {r["tier"] for r in recent} == {"complex"}
    config = load_config(EXAMPLE_CONFIG)
    with pytest.raises(QueryError) as caught:
        answer("/api/scores", {"limit": "many"}, store, config)
    assert caught.value.param == "limit"
    with pytest.raises(QueryError, match="limit: 0 is not between"):
        answer("/api/scores", {"limit": "0"}, store, config)
    doc = answer("/api/scores", {"since": "1h", "until": "now"}, store, config)
    assert (doc["limit"], doc["requests"]) == (100_000, 10)


def test_the_command_calibrates_on_the_stored_scores(tmp_path: Path) -> None:
    data = yaml.safe_load(EXAMPLE_CONFIG.read_text())
    data["store"]["path"] = str(tmp_path / "chdb")
    # Nothing listens there: the command opens the embedded folder itself, as report does.
    data["analytics"] = {"listen": f"127.0.0.1:{free_port()}"}
    config = tmp_path / "gw.yaml"
    config.write_text(yaml.safe_dump(data))
    parse_config(config.read_text())
    s = UsageStore(open_backend(tmp_path / "chdb"), "routeyard")
    s.ensure_schema()
    now = utcnow()
    rng = random.Random(3)
    events = [
        _usage(
            i, score=round(rng.random(), 3), started_at=now - timedelta(hours=rng.uniform(1, 47))
        )
        for i in range(200)
    ]
    # Requests on a named route or a pinned model do not follow the tiers.
    events += [_usage(300 + i, score=0.99, route="search", started_at=now) for i in range(20)]
    events += [_usage(400 + i, score=0.99, route="model:gpt-4o", started_at=now) for i in range(5)]
    events.append(_usage(500, score=0.1, started_at=now - timedelta(days=3)))  # before --since
    s.insert(events)
    s.backend.close()
    result = _run(
        "--config", str(config), "--from-store", "--since", "2d", "--strong-share", "0.25",
        "--format", "json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["sample"]["requests"] == 200
    assert doc["tiers"]["complex"]["requests"] == 50
    notes = " ".join(doc["notes"])
    assert "scorer that was live" in notes
    assert "25 requests on named routes or pinned models left out" in notes
    scores = sorted((e.complexity for e in events[:200]), reverse=True)
    assert scores[49] >= doc["thresholds"]["complex"] > scores[50]
