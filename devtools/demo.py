"""``python -m devtools demo``: the pipeline on sample traffic, where it went, the report.

Starts a throw-away Kafka broker, the emulator and one worker; publishes mixed requests
(and a few malformed ones); waits until every request has ended; prints the routing
summary and the analytics report from the store. Stops everything it started.
"""

from __future__ import annotations

import asyncio
import shutil
import statistics
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import yaml

from devtools.kafka import DevKafka
from devtools.sample_traffic import sample_texts
from devtools.stack import (
    Emulator,
    Worker,
    collect,
    derive_config,
    publish,
    request_event,
    wait_committed,
)
from routeyard.analytics_client import fetch_json
from routeyard.report import render_report
from schemas.config import GatewayConfig
from schemas.config_loader import load_config

WORKDIR = Path(".routeyard/demo")
EMULATOR_PROFILE = Path("config/emulator.example.yaml")
MALFORMED: list[tuple[str | None, bytes]] = [
    (None, b"<xml>not json</xml>"),
    ("demo-bad-schema", orjson.dumps({"request_id": "demo-bad-schema", "tenant": "acme"})),
    ("demo-bad-route", orjson.dumps(request_event("demo-bad-route", "hi", route="gold"))),
]


def _percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


def _summary(
    ids: list[str], got: dict[str, list[dict[str, Any]]], topics: dict[str, str], seconds: float
) -> str:
    responses, letters = got[topics["responses"]], got[topics["dlq"]]
    answered = {r["request_id"] for r in responses}
    lines = [
        f"published {len(ids)} requests + {len(MALFORMED)} malformed events;"
        f" all ended in {seconds:.1f}s ({len(ids) / seconds:.0f} req/s)",
        f"responses: {len(answered)} (duplicates {len(responses) - len(answered)}),"
        f" dead letters: {len(letters)}",
    ]
    lines.append("by route -> model:")
    for (route, model), n in sorted(Counter((r["route"], r["model"]) for r in responses).items()):
        lines.append(f"  {route:<10} -> {model:<22} {n:>5}")
    retried = Counter(r["attempts"] for r in responses)
    lines.append(
        "attempts per response: " + ", ".join(f"{k}: {v}" for k, v in sorted(retried.items()))
    )
    lines.append("dead letters by reason:")
    for reason, n in sorted(Counter(d["reason"] for d in letters).items()):
        lines.append(f"  {reason:<20} {n:>5}")
    latencies = [float(r["latency_ms"]) for r in responses]
    if latencies:
        lines.append(
            f"end-to-end latency (triage to answer): p50 {_percentile(latencies, 50):.0f} ms,"
            f" p95 {_percentile(latencies, 95):.0f} ms, p99 {_percentile(latencies, 99):.0f} ms"
        )
    return "\n".join(lines)


def _named(i: int) -> dict[str, str]:
    # A few requests ask for the example config's named routes.
    return {5: {"route": "search"}, 15: {"route": "budget"}}.get(i % 20, {})


async def _drive(
    bootstrap: str, topics: dict[str, str], group: str, n: int
) -> tuple[list[str], dict[str, list[dict[str, Any]]], float]:
    ids = [f"demo-{i}" for i in range(n)]
    events: list[tuple[str | None, bytes]] = [
        (rid, orjson.dumps(request_event(rid, text, tenant=f"tenant-{i % 3}", **_named(i))))
        for i, (rid, text) in enumerate(zip(ids, sample_texts(n), strict=True))
    ]
    started = time.monotonic()
    await publish(bootstrap, topics["requests"], events[: n // 2] + MALFORMED + events[n // 2 :])

    def ended(got: dict[str, list[dict[str, Any]]]) -> bool:
        done = {e["request_id"] for e in got[topics["responses"]] + got[topics["dlq"]]}
        return done >= set(ids)

    got = await collect(bootstrap, [topics["responses"], topics["dlq"]], ended, deadline_s=300)
    seconds = time.monotonic() - started
    await wait_committed(bootstrap, group, topics["usage"], 4, deadline_s=60)
    return ids, got, seconds


def _report(config: GatewayConfig) -> str:
    window = {"since": "1h"}
    summary = fetch_json(config, "/api/summary", {**window, "by": "model"})
    return render_report(summary, fetch_json(config, "/api/router", window), "table")


def run_demo(requests: int, config_path: str) -> int:
    shutil.rmtree(WORKDIR, ignore_errors=True)
    WORKDIR.mkdir(parents=True)
    print("starting Kafka (KRaft, single node), the emulator and a worker ...", flush=True)
    with DevKafka() as kafka:
        emulator = Emulator(WORKDIR, yaml.safe_load(EMULATOR_PROFILE.read_text()))
        name = f"demo{int(time.time())}"
        config = derive_config(Path(config_path), WORKDIR, emulator.url, name)
        topics: dict[str, str] = yaml.safe_load(config.read_text())["topics"]
        try:
            worker = Worker(WORKDIR, config, kafka.bootstrap)
            try:
                ids, got, seconds = asyncio.run(
                    _drive(kafka.bootstrap, topics, f"routeyard-{name}", requests)
                )
                # Asked while the worker runs: it owns the store and answers over HTTP.
                report = _report(load_config(config))
            finally:
                worker.stop()
        finally:
            emulator.stop()
    print(_summary(ids, got, topics, seconds))
    print(f"\nusage report (routeyard report --config {config} --since 1h):")
    print(report)
    print(f"\nlogs and data: {WORKDIR}/")
    return 0
