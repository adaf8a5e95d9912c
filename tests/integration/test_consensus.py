"""Consensus routes through the real broker, a worker process and the emulator, where each
model gives a fixed answer: majority over three models of which one disagrees, a judge
overruling the majority, first_valid passing over an empty answer and cancelling a slow
call, and a streamed request skipping consensus. Every call is a usage row in the store."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from store import UsageStore, open_backend
from store.queries import TimeRange, summary
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

N = 10  # requests per route
VOTERS = ["gpt-4o-mini", "claude-haiku", "gemini-flash"]
FIXED = {"dist": "fixed", "ms": 5}
PROFILES = {
    "default": {"latency": FIXED},
    "models": {
        # Upstream names (models: ...upstream in the example config).
        "gpt-4o-mini": {"latency": FIXED, "answer": "42"},
        "claude-3-5-haiku-latest": {"latency": FIXED, "answer": "The answer is 42."},
        "gemini-2.5-flash": {"latency": FIXED, "answer": "41"},
        "gpt-4o": {"latency": FIXED, "answer": "The best is #3"},
        "command-r-08-2024": {"latency": {"dist": "fixed", "ms": 0}, "answer": ""},
        "deepseek-chat": {"latency": {"dist": "fixed", "ms": 300}, "answer": "42"},
        "mistral-small-latest": {"latency": {"dist": "fixed", "ms": 4000}, "answer": "43"},
    },
}
ROUTES = [
    {"name": "default", "primary": "gpt-4o-mini"},
    {
        "name": "vote",
        "by_name_only": True,
        "primary": "gpt-4o-mini",
        "consensus": {"models": VOTERS},
    },
    {
        "name": "judged",
        "by_name_only": True,
        "primary": "gpt-4o-mini",
        "consensus": {"models": VOTERS, "strategy": "judge", "judge_model": "gpt-4o"},
    },
    {
        "name": "first",
        "by_name_only": True,
        "primary": "deepseek-chat",
        "consensus": {
            "models": ["command-r", "deepseek-chat", "mistral-small"],
            "strategy": "first_valid",
        },
    },
]
# Completion rows each request leaves: voters (+ the judge); first_valid's slow call is
# cancelled, which is a completion too. A streamed request makes one ordinary call.
ROWS = {"vote": 3, "judged": 4, "first": 3, "stream": 1}


def _requests() -> dict[str, tuple[str, dict[str, Any]]]:
    made: dict[str, tuple[str, dict[str, Any]]] = {}
    for route in ("vote", "judged", "first"):
        for i in range(N):
            rid = f"{route}-{i}"
            made[rid] = (route, request_event(rid, f"What is 6 x 7? ({rid})", route=route))
    for i in range(2):
        rid = f"stream-{i}"
        made[rid] = ("stream", request_event(rid, "What is 6 x 7?", route="vote", stream=True))
    return made


async def test_consensus_routes_answer_once_and_bill_every_call(
    kafka_bootstrap: str, test_name: str, tmp_path: Path
) -> None:
    emulator = Emulator(tmp_path, PROFILES)
    config = gateway_config(tmp_path, emulator.url, test_name, routes=ROUTES)
    topics: dict[str, str] = yaml.safe_load(config.read_text())["topics"]
    worker = Worker(tmp_path, config, kafka_bootstrap)
    requests = _requests()
    expected_rows = sum(ROWS[kind] for kind, _ in requests.values())
    try:
        await publish(
            kafka_bootstrap,
            topics["requests"],
            [(rid, orjson.dumps(event)) for rid, (_, event) in requests.items()],
        )

        def finished(got: dict[str, list[dict[str, Any]]]) -> bool:
            done = [u for u in got[topics["usage"]] if u["outcome"] != "started"]
            return len(got[topics["responses"]]) >= len(requests) and len(done) >= expected_rows

        got = await collect(
            kafka_bootstrap,
            [topics["responses"], topics["dlq"], topics["usage"]],
            finished,
            deadline_s=90,
        )
        await wait_committed(
            kafka_bootstrap, f"routeyard-{test_name}", topics["usage"], 4, deadline_s=30
        )
    finally:
        assert worker.stop() == 0, worker.process.log_text()[-3000:]
        emulator.stop()

    # Exactly one outcome per request.
    responses = {r["request_id"]: r for r in got[topics["responses"]]}
    assert sorted(r["request_id"] for r in got[topics["responses"]]) == sorted(requests)
    assert got[topics["dlq"]] == []

    usage = got[topics["usage"]]
    by_request: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in usage:
        by_request[row["request_id"]].append(row)
    for rid, (kind, _) in requests.items():
        rows = by_request[rid]
        done = [u for u in rows if u["outcome"] != "started"]
        assert len(done) == ROWS[kind], [(u["model"], u["outcome"], u["error_kind"]) for u in rows]
        # One started row per call, with the same call id.
        assert sorted(u["call_id"] for u in rows if u["outcome"] == "started") == sorted(
            u["call_id"] for u in done
        )
        billed = sum((Decimal(u["cost_usd"]) for u in done), Decimal(0))
        assert Decimal(responses[rid]["cost_usd"]) == billed > 0

    for i in range(N):
        vote = responses[f"vote-{i}"]
        assert (vote["content"], vote["model"]) == ("42", "gpt-4o-mini")
        assert vote["consensus"]["agreed"] == ["gpt-4o-mini", "claude-haiku"]
        assert vote["consensus"]["answered"] == VOTERS and vote["consensus"]["decided"]
        assert Counter(
            (u["purpose"], u["outcome"])
            for u in by_request[f"vote-{i}"]
            if u["outcome"] != "started"
        ) == {("consensus_lead", "success"): 1, ("consensus", "success"): 2}

        judged = responses[f"judged-{i}"]
        # The judge picks answer 3, the one that disagreed.
        assert (judged["content"], judged["model"]) == ("41", "gemini-flash")
        assert judged["consensus"]["agreed"] == ["gemini-flash"]
        assert judged["consensus"]["judge"] == "gpt-4o" and judged["consensus"]["decided"]
        assert Counter(
            (u["purpose"], u["model"])
            for u in by_request[f"judged-{i}"]
            if u["outcome"] == "success"
        ) == {("consensus_lead", VOTERS[0]): 1} | {("consensus", m): 1 for m in VOTERS[1:]} | {
            ("judge", "gpt-4o"): 1
        }

        first = responses[f"first-{i}"]
        assert (first["content"], first["model"]) == ("42", "deepseek-chat")
        assert first["consensus"]["rejected"] == [{"model": "command-r", "reason": "empty"}]
        assert first["consensus"]["cancelled"] == ["mistral-small"]
        ends = {u["model"]: u for u in by_request[f"first-{i}"] if u["outcome"] != "started"}
        assert (ends["command-r"]["outcome"], ends["command-r"]["quality_failure"]) == (
            "success",
            "empty",
        )
        assert (ends["mistral-small"]["outcome"], ends["mistral-small"]["error_kind"]) == (
            "error",
            "cancelled",
        )

    for i in range(2):
        streamed = responses[f"stream-{i}"]
        assert streamed["consensus"]["skipped"] == "streamed"
        assert (streamed["model"], streamed["streamed"]["chunks"] > 0) == ("gpt-4o-mini", True)

    store = UsageStore(open_backend(tmp_path / "chdb"), "routeyard")
    try:
        rows = store.query(
            "SELECT route, purpose, outcome, error_kind, count() AS n, sum(cost_usd) AS usd"
            " FROM routeyard.usage_dedup GROUP BY route, purpose, outcome, error_kind"
        )
        now = datetime.now(UTC)
        window = TimeRange.of(now - timedelta(hours=1), now + timedelta(minutes=1))
        figures = {
            source: {r["route"]: r for r in summary(store, window, ["route"], source)}
            for source in ("rollup", "raw")
        }
    finally:
        store.backend.close()
    counts = {(r["route"], r["purpose"], r["outcome"], r["error_kind"]): int(r["n"]) for r in rows}
    assert counts == {
        ("vote", "consensus_lead", "success", ""): N,
        ("vote", "consensus", "success", ""): 2 * N,
        ("vote", "", "success", ""): 2,
        ("judged", "consensus_lead", "success", ""): N,
        ("judged", "consensus", "success", ""): 2 * N,
        ("judged", "judge", "success", ""): N,
        ("first", "consensus_lead", "success", ""): N,  # command-r, empty but first
        ("first", "consensus", "success", ""): N,
        ("first", "consensus", "error", "cancelled"): N,
    }
    # Analytics counts each request once, its voters' and judge's calls each as a call.
    assert figures["rollup"] == figures["raw"]
    assert {route: (r["requests"], r["calls"]) for route, r in figures["rollup"].items()} == {
        "vote": (N + 2, 3 * N + 2),
        "judged": (N, 4 * N),
        "first": (N, 3 * N),
    }
    stored = sum(Decimal(r["usd"]) for r in rows)
    assert stored == sum(Decimal(r["cost_usd"]) for r in responses.values())
