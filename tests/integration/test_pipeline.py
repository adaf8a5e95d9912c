"""The whole request path through a real broker, a worker process and the emulator."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from devtools.sample_traffic import sample_texts
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

FAST = {"latency": {"dist": "lognormal", "median_ms": 30, "sigma": 0.5, "max_ms": 500}}


def _topics(config: Path) -> dict[str, str]:
    topics: dict[str, str] = yaml.safe_load(config.read_text())["topics"]
    return topics


def _ids(events: list[dict[str, Any]]) -> list[str]:
    return [e["request_id"] for e in events]


def _store(tmp: Path) -> UsageStore:
    return UsageStore(open_backend(tmp / "chdb"), "routeyard")


async def test_500_mixed_requests_get_500_responses(
    kafka_bootstrap: str, test_name: str, tmp_path: Path
) -> None:
    emulator = Emulator(tmp_path, {"seed": 1, "default": FAST})
    # The sample texts are written to the heuristic's cues so they spread over the routes;
    # this test is about delivery, not about which scorer ranks them better.
    config = gateway_config(tmp_path, emulator.url, test_name, router={"scorer": "heuristic"})
    topics = _topics(config)
    worker = Worker(tmp_path, config, kafka_bootstrap)
    try:
        ids = [f"mix-{i}" for i in range(500)]
        events = [
            (rid, orjson.dumps(request_event(rid, text)))
            for rid, text in zip(ids, sample_texts(500), strict=True)
        ]
        await publish(kafka_bootstrap, topics["requests"], events)
        got = await collect(
            kafka_bootstrap,
            [topics["responses"], topics["dlq"], topics["usage"]],
            lambda g: len(g[topics["usage"]]) >= 500 and len(g[topics["responses"]]) >= 500,
            deadline_s=120,
        )
        await wait_committed(
            kafka_bootstrap, f"routeyard-{test_name}", topics["usage"], 4, deadline_s=30
        )
    finally:
        assert worker.stop() == 0, worker.process.log_text()[-3000:]
    stats = emulator.stats()
    emulator.stop()

    responses = got[topics["responses"]]
    assert sorted(_ids(responses)) == sorted(ids)  # each exactly once
    assert got[topics["dlq"]] == []
    routes = {r["route"] for r in responses}
    assert {"default", "code", "hard"} <= routes
    assert all(r["usage"]["output_tokens"] > 0 and float(r["cost_usd"]) > 0 for r in responses)

    store = _store(tmp_path)
    try:
        rows = store.query(
            "SELECT count() AS n, uniqExact(request_id) AS ids, sum(cost_usd) AS cost"
            " FROM routeyard.usage_dedup WHERE outcome = 'success'"
        )[0]
    finally:
        store.backend.close()
    assert int(rows["n"]) == stats["requests"] == 500
    assert int(rows["ids"]) == 500
    assert Decimal(rows["cost"]) == sum(Decimal(r["cost_usd"]) for r in responses)
