"""Progressive escalation through the real broker, a worker process and the emulator
(docs/design/quality.md): cheap models whose answers are bad (empty, or broken JSON in
JSON mode) are escalated to a stronger model, which answers; where every model asked is
bad, max_attempts stops the chain and on_exhausted decides. Each request ends once, every
call is a billed usage row in the store, a response's cost is the sum of its rows, and
a budgeted tenant's rejected calls are each spent."""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from store import UsageStore, open_backend
from tests.integration.budget_helpers import read_all
from tests.integration.harness import (
    Emulator,
    Worker,
    collect,
    gateway_config,
    publish,
    request_event,
    wait_committed,
)

pytestmark = pytest.mark.integration

N = 40  # requests per route
FAST = {"latency": {"dist": "uniform", "min_ms": 5, "max_ms": 20}}
PROFILES = {
    "seed": 12,
    "default": FAST,
    "models": {
        # Upstream names (models: ...upstream in the example config).
        "gpt-4o-mini": {**FAST, "empty_rate": 1.0},
        "meta-llama/llama-3.1-8b-instruct": {**FAST, "invalid_json_rate": 1.0},
        "deepseek-chat": {**FAST, "empty_rate": 1.0},
        "grok-3-mini": {**FAST, "refusal_rate": 1.0},
        "gpt-4o": FAST,
    },
}
ROUTES = [
    {"name": "default", "primary": "gpt-4o"},
    # The cheap model answers nothing; escalation's default: the route's next candidate.
    {
        "name": "empty",
        "by_name_only": True,
        "primary": "gpt-4o-mini",
        "fallbacks": ["gpt-4o"],
        "escalation": {},
    },
    # JSON mode, the cheap model's document is never closed.
    {
        "name": "json",
        "by_name_only": True,
        "primary": "llama-3.1-8b-openrouter",
        "fallbacks": ["gpt-4o"],
        "escalation": {"checks": ["empty", "json"]},
    },
    # Both models asked are bad; the good one is never reached: max_attempts stops first.
    {
        "name": "respond",
        "by_name_only": True,
        "primary": "deepseek-chat",
        "fallbacks": ["grok-3-mini", "gpt-4o"],
        "escalation": {"max_attempts": 2},
    },
    {
        "name": "dead",
        "by_name_only": True,
        "primary": "deepseek-chat",
        "fallbacks": ["grok-3-mini", "gpt-4o"],
        "escalation": {"max_attempts": 2, "on_exhausted": "dead_letter"},
    },
]
# A hard budget far above the test's spend: admission reserves, dispatch spends.
ADMISSION = {"tenants": {"acme": {"budgets": [{"period": "day", "limit_usd": "100"}]}}}
# (cheap model, its check, model answering, verdict) per route.
EXPECTED = {
    "empty": ("gpt-4o-mini", "empty", "gpt-4o", "passed"),
    "json": ("llama-3.1-8b-openrouter", "json", "gpt-4o", "passed"),
    "respond": ("deepseek-chat", "empty", "grok-3-mini", "failed"),
    "dead": ("deepseek-chat", "empty", "grok-3-mini", "failed"),
}


def _requests() -> dict[str, tuple[str, dict[str, Any]]]:
    made: dict[str, tuple[str, dict[str, Any]]] = {}
    for route in EXPECTED:
        for i in range(N):
            rid = f"{route}-{i}"
            extra: dict[str, Any] = {"route": route, "params": {"max_tokens": 400}}
            if route == "json":
                extra["response_format"] = {"type": "json_object"}
            made[rid] = (route, request_event(rid, f"Name a city in France ({rid})", **extra))
    return made


async def test_bad_cheap_answers_are_escalated_once_and_billed(
    kafka_bootstrap: str, test_name: str, tmp_path: Path
) -> None:
    emulator = Emulator(tmp_path, PROFILES)
    config = gateway_config(tmp_path, emulator.url, test_name, routes=ROUTES, admission=ADMISSION)
    topics: dict[str, str] = yaml.safe_load(config.read_text())["topics"]
    worker = Worker(tmp_path, config, kafka_bootstrap)
    requests = _requests()
    try:
        t0 = time.monotonic()
        await publish(
            kafka_bootstrap,
            topics["requests"],
            [(rid, orjson.dumps(event)) for rid, (_, event) in requests.items()],
        )

        def finished(got: dict[str, list[dict[str, Any]]]) -> bool:
            return len(got[topics["responses"]]) + len(got[topics["dlq"]]) >= len(requests)

        got = await collect(
            kafka_bootstrap, [topics["responses"], topics["dlq"]], finished, deadline_s=120
        )
        elapsed = time.monotonic() - t0
        await wait_committed(
            kafka_bootstrap, f"routeyard-{test_name}", topics["usage"], 4, deadline_s=30
        )
        admission = await read_all(kafka_bootstrap, topics["admission"], 4)
        stats = emulator.stats()
    finally:
        assert worker.stop() == 0, worker.process.log_text()[-3000:]
        emulator.stop()

    # Exactly one outcome per request: a response, or for route `dead` a dead letter.
    responses = {r["request_id"]: r for r in got[topics["responses"]]}
    letters = {d["request_id"]: d for d in got[topics["dlq"]]}
    outcomes = Counter(e["request_id"] for e in got[topics["responses"]] + got[topics["dlq"]])
    assert outcomes == dict.fromkeys(requests, 1), "lost or answered twice"
    assert set(letters) == {rid for rid, (route, _) in requests.items() if route == "dead"}

    store = UsageStore(open_backend(tmp_path / "chdb"), "routeyard")
    try:
        rows = store.query(
            "SELECT request_id, call_id, attempt, model, outcome, cost_usd, escalated,"
            " escalation_reason, quality_failure FROM routeyard.usage_dedup"
            " ORDER BY request_id, attempt"
        )
    finally:
        store.backend.close()
    by_request: defaultdict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_request[row["request_id"]].append(row)

    for rid, (route, _) in requests.items():
        cheap, check, answering, verdict = EXPECTED[route]
        calls = by_request[rid]
        # Two calls, both billed successes: the rejected answer and the one after it.
        assert [(c["model"], c["outcome"]) for c in calls] == [
            (cheap, "success"),
            (answering, "success"),
        ], calls
        first, second = calls
        assert (first["escalated"], first["quality_failure"]) == (False, check)
        assert (second["escalated"], second["escalation_reason"]) == (True, check)
        assert second["quality_failure"] == ("" if verdict == "passed" else "refusal")
        costs = [Decimal(c["cost_usd"]) for c in calls]
        assert all(c > 0 for c in costs)
        if route == "dead":
            letter = letters[rid]
            assert letter["reason"] == "quality_failed"
            assert "deepseek-chat empty, grok-3-mini refusal" in letter["detail"]
            assert "max_attempts=2" in letter["detail"]
            continue
        response = responses[rid]
        assert response["model"] == answering and response["escalated"]
        assert response["attempts"] == 2
        assert response["quality"]["outcome"] == verdict
        [step] = response["escalations"]
        assert (step["model"], step["check"], step["call_id"]) == (cheap, check, first["call_id"])
        assert Decimal(step["cost_usd"]) == costs[0]
        assert Decimal(response["cost_usd"]) == sum(costs)
        if route == "json":
            orjson.loads(response["content"])  # the strong model's document parses

    # max_attempts bounds the chain: the good model behind the two bad ones is never asked.
    made = {model: counts["requests"] for model, counts in stats["models"].items()}
    assert made == {
        "gpt-4o-mini": N,
        "meta-llama/llama-3.1-8b-instruct": N,
        "gpt-4o": 2 * N,
        "deepseek-chat": 2 * N,
        "grok-3-mini": 2 * N,
    }, made
    assert stats["models"]["meta-llama/llama-3.1-8b-instruct"]["outcomes"] == {"invalid_json": N}

    # Budgeted tenant: one spend per call, final only for the call the outcome follows.
    spends = [r.value for r in admission if r.value.get("kind") == "spend"]
    finals = Counter(s["final"] for s in spends)
    assert finals == {False: len(requests), True: len(requests)}, finals
    billed = {row["call_id"]: Decimal(row["cost_usd"]) for row in rows}
    assert {s["call_id"]: Decimal(s["cost_usd"]) for s in spends} == billed
    print(
        f"\nescalation: {len(requests)} requests over 4 routes in {elapsed:.1f}s,"
        f" {len(rows)} billed calls, {len(letters)} quality_failed dead letters;"
        f" emulator calls {made}"
    )
