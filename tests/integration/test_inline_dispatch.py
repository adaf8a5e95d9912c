"""Inline first attempts (docs/design/inline_dispatch.md) with real worker processes, the
real broker and the emulator: a first attempt never passes through the dispatch topic
(unless the option is off), a fallback still does, and a worker SIGKILLed while its
inline calls run leaves exactly one outcome per request."""

from __future__ import annotations

import signal
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

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
from tests.integration.routing_helpers import publish_to

pytestmark = pytest.mark.integration

Got = dict[str, list[dict[str, Any]]]
FAST = {"latency": {"dist": "uniform", "min_ms": 5, "max_ms": 30}}
FALLING_BACK = [
    {
        "name": "default",
        "primary": "gpt-4o-mini",
        "fallbacks": ["claude-haiku"],
        # A failed first call falls back at once: through the dispatch topic.
        "retry": {"max_attempts": 2, "same_model_retries": 0},
    }
]
PARTITIONS = 4  # the example config's
NO_BREAKER = {"min_calls": 1_000_000, "failure_rate": 1.0, "consecutive_failures": 1_000_000}


def _topics(config: Path) -> dict[str, str]:
    topics: dict[str, str] = yaml.safe_load(config.read_text())["topics"]
    return topics


async def _outcomes(bootstrap: str, topics: dict[str, str], ids: set[str]) -> Got:
    names = [topics["responses"], topics["dlq"]]

    def done(got: Got) -> bool:
        return {e["request_id"] for name in names for e in got[name]} >= ids

    return await collect(bootstrap, names, done, 180)


async def _everything_on(bootstrap: str, topic: str) -> list[dict[str, Any]]:
    """Every event on ``topic`` now (read up to the end offsets taken first)."""
    return [record.value for record in await read_all(bootstrap, topic, PARTITIONS)]


async def _handled(bootstrap: str, test_name: str, topics: dict[str, str]) -> None:
    """Until the group committed every request and dispatch event: each handler is done,
    so every usage row it wrote is on the broker."""
    for name in ("requests", "dispatch"):
        await wait_committed(bootstrap, f"routeyard-{test_name}", topics[name], PARTITIONS, 60)


def _calls(emulator: Emulator) -> int:
    return sum(m["requests"] for m in emulator.stats()["models"].values())


@pytest.mark.parametrize("inline", [True, False], ids=["inline", "through-the-topic"])
async def test_only_later_attempts_pass_through_the_dispatch_topic(
    kafka_bootstrap: str, test_name: str, tmp_path: Path, inline: bool
) -> None:
    flaky = {**FAST, "error_rates": {500: 0.3}}
    emulator = Emulator(tmp_path, {"seed": 5, "default": FAST, "models": {"gpt-4o-mini": flaky}})
    config = gateway_config(
        tmp_path,
        emulator.url,
        test_name,
        routes=FALLING_BACK,
        breaker=NO_BREAKER,
        dispatch={"inline_first_attempts": inline},
    )
    topics = _topics(config)
    ids = {f"inline-{i}" for i in range(200)}
    worker = Worker(tmp_path, config, kafka_bootstrap, role="gateway")
    try:
        events = [(rid, orjson.dumps(request_event(rid, "hello there"))) for rid in sorted(ids)]
        await publish(kafka_bootstrap, topics["requests"], events)
        got = await _outcomes(kafka_bootstrap, topics, ids)
        await _handled(kafka_bootstrap, test_name, topics)
        dispatched = await _everything_on(kafka_bootstrap, topics["dispatch"])
        usage = await _everything_on(kafka_bootstrap, topics["usage"])
    finally:
        assert worker.stop() == 0, worker.process.log_text()[-3000:]
    calls = _calls(emulator)
    emulator.stop()

    outcomes = Counter(e["request_id"] for e in got[topics["responses"]] + got[topics["dlq"]])
    assert set(outcomes) == ids and set(outcomes.values()) == {1}
    fell_back = {r["request_id"] for r in got[topics["responses"]] if r["attempts"] == 2}
    assert fell_back, "with 30% failures some first attempts must fail over"
    by_attempt = Counter(d["attempt"] for d in dispatched)
    if inline:
        assert by_attempt[1] == 0, "a first attempt went through the dispatch topic"
    else:
        assert by_attempt[1] == len(ids)
    # Each fallback passed through the dispatch topic once.
    assert {d["request_id"] for d in dispatched if d["attempt"] == 2} >= fell_back
    # A call is never made without its `started` row, and each one completed (no kill).
    started = [u for u in usage if u["outcome"] == "started"]
    finished = {u["call_id"] for u in usage if u["outcome"] in ("success", "error")}
    assert len(started) == calls
    assert {u["call_id"] for u in started} == finished


async def test_sigkill_during_inline_calls_leaves_one_outcome_per_request(
    kafka_bootstrap: str, test_name: str, tmp_path: Path
) -> None:
    slow = {"latency": {"dist": "fixed", "ms": 1500}}
    emulator = Emulator(tmp_path, {"seed": 7, "default": slow})
    config = gateway_config(
        tmp_path, emulator.url, test_name, dispatch={"inline_first_attempts": True}
    )
    topics = _topics(config)
    ids = {f"cut-{i}" for i in range(300)}
    first = Worker(tmp_path, config, kafka_bootstrap, tag="gw1", role="gateway")
    second = None
    try:
        events = [(rid, orjson.dumps(request_event(rid, "hello there"))) for rid in sorted(ids)]
        await publish(kafka_bootstrap, topics["requests"], events)

        def calls_running(got: Got) -> bool:
            return sum(1 for u in got[topics["usage"]] if u["outcome"] == "started") >= 30

        # Calls take 1.5 s: once 30 have started, the kill cuts them mid-way.
        await collect(kafka_bootstrap, [topics["usage"]], calls_running, 60)
        first.stop(signal.SIGKILL)
        second = Worker(tmp_path, config, kafka_bootstrap, tag="gw2", role="gateway")
        got = await _outcomes(kafka_bootstrap, topics, ids)
        await _handled(kafka_bootstrap, test_name, topics)
        dispatched = await _everything_on(kafka_bootstrap, topics["dispatch"])
        usage = await _everything_on(kafka_bootstrap, topics["usage"])
    finally:
        first.stop(signal.SIGKILL)
        if second is not None:
            assert second.stop() == 0, second.process.log_text()[-3000:]
    calls = _calls(emulator)
    emulator.stop()

    assert got[topics["dlq"]] == []
    answered = Counter(r["request_id"] for r in got[topics["responses"]])
    assert set(answered) == ids and set(answered.values()) == {1}, "a request ended twice"
    assert dispatched == [], "every attempt was a first one: none passes the dispatch topic"
    started = {u["call_id"] for u in usage if u["outcome"] == "started"}
    finished = {u["call_id"] for u in usage if u["outcome"] == "success"}
    interrupted = started - finished
    assert interrupted, "the kill cut no call: the test did not test the crash"
    # The cut calls were made again by the new owner; nothing else was.
    assert len(ids) <= calls <= len(started)
    assert len(finished) >= len(ids)


async def test_copies_on_other_partitions_are_answered_once_by_two_workers(
    kafka_bootstrap: str, test_name: str, tmp_path: Path
) -> None:
    emulator = Emulator(tmp_path, {"seed": 9, "default": {"latency": {"dist": "fixed", "ms": 300}}})
    config = gateway_config(
        tmp_path, emulator.url, test_name, dispatch={"inline_first_attempts": True}
    )
    topics = _topics(config)
    ids = [f"copy-{i}" for i in range(200)]
    # Every 10th request also published once into each partition, right behind it: the
    # copies read by the other worker must meet the original's dispatcher.
    items: list[tuple[str, bytes, int | None]] = []
    for i, rid in enumerate(ids):
        raw = orjson.dumps(request_event(rid, "hello there"))
        items.append((rid, raw, None))
        if i % 10 == 0:
            items.extend((rid, raw, p) for p in range(PARTITIONS))
    workers = [
        Worker(tmp_path, config, kafka_bootstrap, tag=f"gw{i}", role="gateway") for i in (1, 2)
    ]
    try:
        await publish_to(kafka_bootstrap, topics["requests"], items)
        got = await _outcomes(kafka_bootstrap, topics, set(ids))
        await _handled(kafka_bootstrap, test_name, topics)
        got = await _outcomes(kafka_bootstrap, topics, set(ids))  # read again, all of it
        dispatched = await _everything_on(kafka_bootstrap, topics["dispatch"])
    finally:
        for worker in workers:
            assert worker.stop() == 0, worker.process.log_text()[-3000:]
        emulator.stop()

    assert got[topics["dlq"]] == []
    answered = Counter(r["request_id"] for r in got[topics["responses"]])
    assert set(answered) == set(ids) and set(answered.values()) == {1}, "answered twice"
    # Only copies (read away from their own partition) passed through the dispatch topic.
    assert {d["request_id"] for d in dispatched} <= set(ids[::10])
