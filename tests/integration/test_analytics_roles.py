"""Two gateway workers and one analytics process from one config, queried while traffic flows.

The analytics process owns the embedded store; `routeyard report` and the query API reach
it over HTTP while the sink inserts. The rollup must equal the raw rows, and both must
agree with the outcomes the pipeline published.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import yaml

from devtools.sample_traffic import sample_texts
from devtools.stack import fake_credentials
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

FAST = {"latency": {"dist": "lognormal", "median_ms": 30, "sigma": 0.5, "max_ms": 300}}
TOTAL = 2000


def _report(config: Path, *args: str) -> dict[str, Any]:
    """`routeyard report --format json`, as an analyst would run it."""
    done = subprocess.run(
        [sys.executable, "-m", "routeyard.cli", "report", "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=fake_credentials(config),
    )
    assert done.returncode == 0, done.stderr
    parsed: dict[str, Any] = orjson.loads(done.stdout)
    return parsed


def _api(url: str, endpoint: str, **params: str) -> dict[str, Any]:
    response = httpx.get(url + endpoint, params=params, timeout=30)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _consistent(rows: list[dict[str, Any]]) -> None:
    for row in rows:
        assert row["calls"] == row["successes"] + row["errors"], row
        assert row["fallbacks"] <= row["calls"], row


async def test_two_gateways_and_an_analytics_process(
    kafka_bootstrap: str, test_name: str, tmp_path: Path
) -> None:
    emulator = Emulator(tmp_path, {"seed": 3, "default": FAST})
    rule = {"name": "model-errors", "metric": "error_rate", "by": "model", "window_s": 60}
    config = gateway_config(
        tmp_path,
        emulator.url,
        test_name,
        usage_sink={"batch_size": 200, "flush_interval_s": 0.2},
        alerts={"rules": [{**rule, "threshold": 0.5, "min_calls": 5}]},
    )
    topics = yaml.safe_load(config.read_text())["topics"]
    analytics = Worker(tmp_path, config, kafka_bootstrap, "analytics", role="analytics")
    gateways = [
        Worker(tmp_path, config, kafka_bootstrap, f"gateway-{i}", role="gateway") for i in (1, 2)
    ]
    url = analytics.analytics_url
    assert url is not None
    texts = sample_texts(TOTAL)
    events = [
        (f"a-{i}", orjson.dumps(request_event(f"a-{i}", texts[i], tenant=f"t{i % 3}")))
        for i in range(TOTAL)
    ]
    try:
        await publish(kafka_bootstrap, topics["requests"], events[: TOTAL // 2])
        # The default route's primary fails for a while: errors, fallbacks, breaker skips.
        emulator.fault("gpt-4o-mini", 500, 4)
        await publish(kafka_bootstrap, topics["requests"], events[TOTAL // 2 :])

        during = await asyncio.to_thread(
            _report, config, "--format", "json", "--by", "model,tenant", "--since", "1h"
        )
        rows = during["summary"]["rows"]
        _consistent(rows)
        assert sum(r["requests"] for r in rows) <= TOTAL

        got = await collect(
            kafka_bootstrap,
            [topics["responses"], topics["dlq"]],
            lambda g: len(g[topics["responses"]]) + len(g[topics["dlq"]]) >= TOTAL,
            deadline_s=240,
        )
        await wait_committed(
            kafka_bootstrap, f"routeyard-{test_name}-analytics", topics["usage"], 4, 60
        )

        # Asked while every process still runs.
        report = await asyncio.to_thread(
            _report, config, "--format", "json", "--by", "model", "--since", "1h"
        )
        raw = await asyncio.to_thread(
            _api, url, "/api/summary", by="model", since="1h", source="raw"
        )
        total = await asyncio.to_thread(_api, url, "/api/summary", by="", since="1h")
        status = await asyncio.to_thread(_api, url, "/api/status")
        alerts = await asyncio.to_thread(_api, url, "/api/alerts")
    finally:
        for worker in [*gateways, analytics]:
            assert worker.stop() == 0, worker.process.log_text()[-3000:]
        emulator.stop()

    responses, dead = got[topics["responses"]], got[topics["dlq"]]
    assert len({r["request_id"] for r in responses + dead}) == TOTAL

    rollup_rows = report["summary"]["rows"]
    assert report["summary"]["source"] == "rollup"
    assert rollup_rows == raw["rows"]  # counts, sums and quantiles alike
    _consistent(rollup_rows)
    by_model = {r["model"]: r for r in rollup_rows}
    assert by_model["gpt-4o-mini"]["errors"] > 0  # the fault shows
    assert by_model["claude-haiku"]["fallbacks"] > 0  # and the fallbacks it caused

    [whole] = total["rows"]
    assert whole["requests"] == TOTAL
    assert whole["successes"] == len(responses)
    assert Decimal(whole["cost_usd"]) == sum(Decimal(r["cost_usd"]) for r in responses)
    assert whole["interrupted"] == 0
    assert status["rows"] > 0 and len(status["migrations"]) >= 7
    # The analytics process's alert monitor counted every completed call once.
    assert [r["name"] for r in alerts["rules"]] == ["model-errors"]
    assert alerts["stats"]["observed"] == whole["calls"]
