"""Throughput and added latency of the whole pipeline on one worker.

Method: a throw-away Kafka broker, the emulator answering every call after a fixed
latency (no faults), one worker process with the example config; all on this machine.
Two runs on fresh topics:
- burst: N requests published at once; throughput = N / (first publish -> last response);
- paced: requests published at RATE req/s for 10 s, below capacity, so that the gateway's
  added latency is not queueing: each response's end-to-end latency (first seen at triage
  to answer) minus the emulator's fixed latency.
CPU per request: user+system CPU time (from /proc/<pid>/stat) the worker and the broker
spent during the burst, divided by N; the steadiest figure on a noisy shared machine.
Admission: each run is made twice, interleaved, on the same broker: with the example
config as it is (tenant acme has no policy, so triage feeds dispatch directly) and with a
budget and a rate limit for acme far above what the run uses (every request takes the
admission hop, its state and the spend settlement). The difference is the hop's cost.
Run: `python benchmarks/pipeline_throughput.py [N] [LATENCY_MS] [RATE] [MAX_IN_FLIGHT]`.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
import yaml

from devtools.kafka import DevKafka
from devtools.stack import Emulator, Worker, collect, derive_config, publish, request_event

ROOT = Path(__file__).resolve().parents[1]


async def _drive(
    bootstrap: str, topics: dict[str, str], n: int, rate: float | None
) -> tuple[float, list[float]]:
    ids = [f"bench-{i}" for i in range(n)]
    events: list[tuple[str | None, bytes]] = [
        (rid, orjson.dumps(request_event(rid, "hello, a short question"))) for rid in ids
    ]
    started = time.monotonic()
    if rate is None:
        await publish(bootstrap, topics["requests"], events)
    else:
        tick = 0.1  # publish a slice every 100 ms
        per_tick = max(1, int(rate * tick))
        for i in range(0, n, per_tick):
            await publish(bootstrap, topics["requests"], events[i : i + per_tick])
            await asyncio.sleep(max(0.0, started + (i // per_tick + 1) * tick - time.monotonic()))

    def done(got: dict[str, list[dict[str, Any]]]) -> bool:
        return len({r["request_id"] for r in got[topics["responses"]]}) >= n

    got = await collect(bootstrap, [topics["responses"]], done, deadline_s=600)
    elapsed = time.monotonic() - started
    first: dict[str, float] = {}
    for r in got[topics["responses"]]:
        first.setdefault(r["request_id"], float(r["latency_ms"]))
    return elapsed, list(first.values())


def cpu_s(pid: int) -> float:
    """User + system CPU seconds a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# Limits no run reaches: the requests pay the admission hop without being held or refused.
UNREACHED_LIMITS = {
    "tenants": {
        "acme": {
            "budgets": [{"period": "day", "limit_usd": "1000000"}],
            "rate_limit": {"requests_per_minute": 100_000_000},
        }
    }
}


def _run(
    kafka: DevKafka,
    emulator: Emulator,
    tmp: Path,
    n: int,
    rate: float | None,
    in_flight: int,
    admission: bool,
    cpu: dict[str, float] | None = None,
) -> tuple[float, list[float]]:
    name = f"bench{time.time_ns()}"
    work = tmp / name
    work.mkdir()
    base = ROOT / "config" / "routeyard.example.yaml"
    extra = {"admission": UNREACHED_LIMITS} if admission else {}
    config = derive_config(
        base, work, emulator.url, name, dispatch={"max_in_flight": in_flight}, **extra
    )
    topics: dict[str, str] = yaml.safe_load(config.read_text())["topics"]
    worker = Worker(work, config, kafka.bootstrap)
    pids = {"worker": worker.process.proc.pid, "broker": kafka.pid}
    before = {name: cpu_s(pid) for name, pid in pids.items()}
    try:
        return asyncio.run(_drive(kafka.bootstrap, topics, n, rate))
    finally:
        if cpu is not None:
            cpu.update({name: cpu_s(pid) - before[name] for name, pid in pids.items()})
        worker.stop()


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    latency_ms = float(sys.argv[2]) if len(sys.argv) > 2 else 500.0
    rate = float(sys.argv[3]) if len(sys.argv) > 3 else 200.0
    in_flight = int(sys.argv[4]) if len(sys.argv) > 4 else 512
    tmp = Path(tempfile.mkdtemp(prefix="routeyard-bench-"))
    modes = {"no admission hop": False, "through admission": True}
    cpu: dict[str, dict[str, float]] = {mode: {} for mode in modes}
    burst_s: dict[str, float] = {}
    latencies: dict[str, list[float]] = {}
    try:
        with DevKafka() as kafka:
            profile = {"default": {"latency": {"dist": "fixed", "ms": latency_ms}}}
            emulator = Emulator(tmp, profile)
            try:
                for mode, on in modes.items():
                    burst_s[mode], _ = _run(kafka, emulator, tmp, n, None, in_flight, on, cpu[mode])
                for mode, on in modes.items():
                    _, latencies[mode] = _run(
                        kafka, emulator, tmp, int(rate * 10), rate, in_flight, on
                    )
            finally:
                emulator.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(
        f"provider latency {latency_ms:.0f} ms fixed; one worker;"
        f" dispatch.max_in_flight={in_flight}; 2 cores shared by Kafka, emulator, worker, client"
    )
    for mode in modes:
        q = statistics.quantiles(sorted(lat - latency_ms for lat in latencies[mode]), n=100)
        print(f"-- {mode}")
        print(
            f"burst of {n}: {n / burst_s[mode]:.0f} req/s"
            f" ({burst_s[mode]:.1f} s first publish to last answer)"
        )
        print(
            f"CPU per request during the burst: worker {cpu[mode]['worker'] * 1000 / n:.2f} ms,"
            f" broker {cpu[mode]['broker'] * 1000 / n:.2f} ms"
        )
        print(
            f"paced at {rate:.0f} req/s for 10 s, added latency (end-to-end minus provider):"
            f" p50 {q[49]:.0f} ms, p95 {q[94]:.0f} ms, p99 {q[98]:.0f} ms"
        )


if __name__ == "__main__":
    main()
