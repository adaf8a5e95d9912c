"""A flaky primary provider: every request still ends exactly once, retries wait as told."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from store import UsageStore, open_backend
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

RETRY_AFTER_S = 1
FLAKY = {
    "latency": {"dist": "uniform", "min_ms": 5, "max_ms": 40},
    "error_rates": {500: 0.15, 429: 0.15},
    "retry_after_s": RETRY_AFTER_S,
}
ROUTES = [
    {
        "name": "default",
        "primary": "gpt-4o-mini",
        "fallbacks": ["claude-haiku"],
        "retry": {"max_attempts": 4, "same_model_retries": 1, "backoff_initial_s": 0.2},
    },
    {
        "name": "solo",  # asked for by name; no fallback, so it can dead-letter
        "primary": "gpt-4o-mini",
        "retry": {"max_attempts": 2, "same_model_retries": 1, "backoff_initial_s": 0.2},
    },
]


NO_BREAKER = {"min_calls": 1_000_000, "failure_rate": 1.0, "consecutive_failures": 1_000_000}


def _parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def test_flaky_primary_every_request_ends_once(
    kafka_bootstrap: str, test_name: str, tmp_path: Path
) -> None:
    emulator = Emulator(
        tmp_path,
        {
            "seed": 3,
            "default": {"latency": {"dist": "uniform", "min_ms": 5, "max_ms": 40}},
            "models": {"gpt-4o-mini": FLAKY},
        },
    )
    # This test is about retries and fallbacks of a flaky model; at 30% failures a run of
    # five would open its breaker and skip it (tests/integration/test_breakers.py covers
    # that), so the breaker is set out of reach here.
    config = gateway_config(tmp_path, emulator.url, test_name, routes=ROUTES, breaker=NO_BREAKER)
    topics: dict[str, str] = yaml.safe_load(config.read_text())["topics"]
    worker = Worker(tmp_path, config, kafka_bootstrap)
    ids = [f"flaky-{i}" for i in range(300)]
    try:
        events = [
            (
                rid,
                orjson.dumps(
                    request_event(rid, "hello there", **({"route": "solo"} if i % 3 == 0 else {}))
                ),
            )
            for i, rid in enumerate(ids)
        ]
        await publish(kafka_bootstrap, topics["requests"], events)

        def finished(got: dict[str, list[dict[str, Any]]]) -> bool:
            ended = {e["request_id"] for e in got[topics["responses"]] + got[topics["dlq"]]}
            return len(ended) >= len(ids)

        got = await collect(
            kafka_bootstrap, [topics["responses"], topics["dlq"]], finished, deadline_s=120
        )
        await wait_committed(
            kafka_bootstrap, f"routeyard-{test_name}", topics["usage"], 4, deadline_s=30
        )
    finally:
        assert worker.stop() == 0, worker.process.log_text()[-3000:]
    stats = emulator.stats()
    emulator.stop()

    responses, letters = got[topics["responses"]], got[topics["dlq"]]
    outcomes = Counter(e["request_id"] for e in responses + letters)
    assert set(outcomes) == set(ids)
    assert set(outcomes.values()) == {1}, "a request ended twice"
    assert letters, "with 30% failures and 2 attempts on 'solo', some must dead-letter"
    for letter in letters:
        assert letter["reason"] == "attempts_exhausted"
        assert letter["last_error"]["kind"] in ("rate_limited", "unavailable")
        assert letter["attempts"] == 2
    fallbacks = [r for r in responses if r["model"] == "claude-haiku"]
    assert fallbacks and all(r["attempts"] >= 2 for r in fallbacks)

    store = UsageStore(open_backend(tmp_path / "chdb"), "routeyard")
    try:
        rows = store.query(
            "SELECT request_id, attempt, model, outcome, error_kind, latency_ms,"
            " toString(started_at) AS started FROM routeyard.usage_dedup"
            " WHERE outcome NOT IN ('rejected', 'skipped') ORDER BY request_id, attempt"
        )
    finally:
        store.backend.close()
    assert len(rows) == stats["requests"]

    # Retries wait as told: after a 429, the next attempt on the same model starts no
    # sooner than Retry-After after the failed attempt ended.
    by_request: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_request.setdefault(row["request_id"], []).append(row)
    gaps = []
    for attempts in by_request.values():
        for prev, nxt in itertools.pairwise(attempts):
            if prev["error_kind"] == "rate_limited" and prev["model"] == nxt["model"]:
                ended = _parse_time(prev["started"]) + timedelta(milliseconds=prev["latency_ms"])
                gaps.append((_parse_time(nxt["started"]) - ended).total_seconds())
    assert gaps, "expected some 429s retried on the same model"
    # started_at is stored to the millisecond: allow that rounding, nothing more.
    assert min(gaps) >= RETRY_AFTER_S - 0.002, sorted(gaps)[:5]
