"""The analytics side under load: the usage store's insert rate with the rollup in place,
the dashboard's query times over a million rows, and the analytics process's memory.

Method (also printed with the results):
1. Insert, in this process: the embedded engine (chdb) in a temporary folder, migrated
   as the analytics process does (rollup view included). Synthetic usage events
   (benchmarks/synthetic_usage.py: 12 tenants, the example config's routes and prices,
   ~10% error rows, fallbacks, log-normal latencies and tokens, unique call ids, started
   rows folded as the sink does) in time order over the last ``--days`` (7) days go through
   ``UsageStore.insert`` in batches of 100, 1000 and 5000 rows, in rounds that take turns
   (15,000 rows per size per round) so that every size sees the store at every fill
   level, until it holds ``--rows`` rows. Each batch is timed whole, and in two parts: the
   insert-once lookup (``UsageStore._held``) and the INSERT itself (which feeds the
   rollup's materialized view); the rest is turning events into rows. Event generation is
   outside the timings. Finally one batch already held is inserted again (all hits).
2. Queries over that store: the dashboard's calls through ``routeyard.web.api.answer``,
   one warm-up then 5 timed runs each; median and max.
3. End to end (unless ``--skip-e2e``): a throw-away Kafka broker, one ``routeyard worker
   --role analytics`` process on a config derived from config/routeyard.example.yaml by
   devtools.stack.derive_config (usage_sink batch_size 1000 events, flush_interval_s
   0.2), its store part 1's folder (moved). One producer publishes ``--e2e-events``
   usage events (each call's ``started`` and completion events, as the gateway publishes
   them, keyed by request id) to its usage topic; the time runs from the first publish
   until the analytics group's committed offsets reach the end of every partition (the
   sink commits only after its insert). Batch sizes come from the worker's log lines
   "usage sink inserted N rows". RSS (VmRSS, peak VmHWM) from /proc/<pid>/status: at
   ready, once the store is open (it opens on first use: an /api/status call, made
   before the clock starts), after the events, after the same queries over HTTP, and
   after running them all once more (untimed: does the memory level off?).
Everything shares this machine's cores with the broker and whatever else runs on it:
figures are indicative, the load average is printed with them.
Run: ``PYTHONPATH=. python benchmarks/analytics_store.py [--rows N] [--e2e-events N]
[--skip-e2e] [--days N]`` (``make bench-analytics ARGS=...``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import yaml

from benchmarks.analytics_report import Batch, Results, print_all
from benchmarks.pipeline_throughput import cpu_s
from benchmarks.synthetic_usage import UsageFaker
from devtools.kafka import DevKafka
from devtools.stack import Worker, derive_config, publish, wait_committed
from routeyard.web.api import answer
from schemas.config import GatewayConfig
from schemas.config_loader import load_config
from schemas.events import UsageEvent
from store.backends import EmbeddedBackend
from store.migrations.m0007_usage_minute import DIMENSIONS as ROLLUP_DIMENSIONS
from store.usage import UsageStore
from streams.usage_sink import fold_started

ROOT = Path(__file__).resolve().parents[1]
BASE_CONFIG = ROOT / "config" / "routeyard.example.yaml"
DATABASE = "routeyard"
BATCH_SIZES = (100, 1000, 5000)
ROUND_ROWS = 15_000  # per batch size per round; a multiple of every size
RUNS = 5

# The dashboard's calls: endpoint and query string.
QUERIES = [
    "/api/timeseries?since=1h&step=minute&by=model",
    "/api/timeseries?since=24h&step=minute&by=model",
    "/api/timeseries?since=7d&step=hour&by=model",
    "/api/timeseries?since=7d&step=day&by=tenant",
    "/api/summary?since=7d&by=model&source=rollup",
    "/api/summary?since=7d&by=model&source=raw",
    "/api/summary?since=7d&by=tenant,day&source=rollup",
    "/api/summary?since=7d&by=tenant,day&source=raw",
    "/api/router?since=7d&source=rollup",
    "/api/router?since=7d&source=raw",
]


def split_query(query: str) -> tuple[str, dict[str, str]]:
    endpoint, _, text = query.partition("?")
    return endpoint, dict(parse_qsl(text))


class TimedBackend:
    """The embedded backend, timing each INSERT (the rollup's view runs inside it)."""

    def __init__(self, inner: EmbeddedBackend) -> None:
        self.inner = inner
        self.description = inner.description
        self.insert_s = 0.0

    def command(self, sql: str) -> None:
        self.inner.command(sql)

    def insert_json_rows(self, table: str, rows: Sequence[dict[str, Any]]) -> None:
        started = time.perf_counter()
        self.inner.insert_json_rows(table, rows)
        self.insert_s += time.perf_counter() - started

    def query(self, sql: str) -> list[dict[str, Any]]:
        return self.inner.query(sql)

    def close(self) -> None:
        self.inner.close()


class TimedStore(UsageStore):
    """The store, timing its insert-once lookup; its statements are the real ones."""

    def __init__(self, backend: TimedBackend, database: str) -> None:
        super().__init__(backend, database)
        self.timed = backend
        self.held_s = 0.0

    def _held(self, rows: list[dict[str, Any]]) -> set[tuple[str, str]]:
        started = time.perf_counter()
        try:
            return super()._held(rows)
        finally:
            self.held_s += time.perf_counter() - started


def _timed_insert(store: TimedStore, size: int, rows: list[UsageEvent], filled: int) -> Batch:
    held, insert = store.held_s, store.timed.insert_s
    started = time.perf_counter()
    written = store.insert(rows)
    total = time.perf_counter() - started
    if written != len(rows):
        raise RuntimeError(f"expected {len(rows)} new rows, the store took {written}")
    return Batch(size, written, filled, total, store.held_s - held, store.timed.insert_s - insert)


def fill(
    store: TimedStore, faker: UsageFaker, since: datetime, now: datetime, out: Results
) -> None:
    """Part 1: insert ``out.rows`` rows started between ``since`` and ``now``, the batch
    sizes taking turns."""
    total = out.rows
    stream = (
        row
        for events in faker.requests(since, now, out.rows, "bench")
        for row in fold_started(events)
    )
    filled = 0
    last: list[UsageEvent] = []
    while filled < total:
        for size in BATCH_SIZES:
            quota = min(ROUND_ROWS, total - filled)
            while quota > 0:
                rows = [row for _, row in zip(range(min(size, quota)), stream, strict=False)]
                if not rows:
                    raise RuntimeError(f"the synthetic events ran out at {filled} rows")
                out.batches.append(_timed_insert(store, size, rows, filled))
                filled += len(rows)
                quota -= len(rows)
                last = (last + rows)[-1000:]
    # At-least-once delivery: a replayed batch, every row already held.
    started = time.perf_counter()
    written = store.insert(last)
    out.replay = (len(last), written, time.perf_counter() - started)


def store_facts(store: UsageStore) -> dict[str, Any]:
    db = store.database
    [raw] = store.query(f"SELECT count() AS n FROM {db}.usage")
    [minute] = store.query(f"SELECT count() AS n FROM {db}.usage_minute")
    # What the rollup holds once merged: one row per minute and combination of dimensions.
    [groups] = store.query(
        f"SELECT count() AS n FROM (SELECT 1 FROM {db}.usage_minute GROUP BY minute,"
        f" {', '.join(ROLLUP_DIMENSIONS)})"
    )
    parts = store.query(
        "SELECT table, count() AS parts, sum(rows) AS rows, sum(bytes_on_disk) AS bytes"
        f" FROM system.parts WHERE database = '{db}' AND active GROUP BY table"
    )
    return {
        "usage": int(raw["n"]),
        "usage_minute": int(minute["n"]),
        "usage_minute_merged": int(groups["n"]),
        "parts": parts,
    }


def time_runs(run: Callable[[], object]) -> list[float]:
    """One warm-up, then RUNS timed runs, in ms."""
    run()
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1000)
    return times


def query_store(store: UsageStore, config: GatewayConfig, out: Results) -> None:
    """Part 2: the dashboard's calls, in process."""
    for query in QUERIES:
        endpoint, params = split_query(query)
        out.queries[query] = time_runs(partial(answer, endpoint, params, store, config))
    # The rollup and the raw rows must agree on counts and cost (quantiles are sampled).
    keys = ("requests", "calls", "errors", "fallbacks", "input_tokens", "cost_usd")
    for by in ("model", "tenant,day"):
        rollup, raw = (
            [
                {k: row[k] for k in keys}
                for row in answer(
                    "/api/summary", {"since": "7d", "by": by, "source": source}, store, config
                )["rows"]
            ]
            for source in ("rollup", "raw")
        )
        out.same[by] = rollup == raw


def memory_mb(pid: int) -> dict[str, float]:
    status = Path(f"/proc/{pid}/status").read_text()
    found = dict(re.findall(r"^(VmRSS|VmHWM):\s+(\d+) kB", status, re.MULTILINE))
    return {k: int(v) / 1024 for k, v in found.items()}


def _get(http: httpx.Client, query: str) -> None:
    http.get(query).raise_for_status()


def end_to_end(store_dir: Path, events: int, work: Path, out: Results) -> None:
    """Part 3: the analytics process fed through Kafka, then queried over HTTP."""
    name = f"benchanalytics{time.time_ns()}"
    config_path = derive_config(BASE_CONFIG, work, "http://127.0.0.1:9", name)
    data = yaml.safe_load(config_path.read_text())
    # Moved, not copied: the engine keeps relative symlinks a plain copy would resolve.
    shutil.move(store_dir, data["store"]["path"])
    topic, partitions = data["topics"]["usage"], int(data["topics"]["partitions"])
    faker = UsageFaker(load_config(config_path), seed=11)
    now = datetime.now(UTC)
    messages: list[tuple[str | None, bytes]] = []
    for request in faker.requests(now - timedelta(minutes=10), now, events, "e2e"):
        messages += [(e.request_id, e.model_dump_json().encode()) for e in request]
        if len(messages) >= events:
            break
    messages = messages[:events]
    out.e2e.update(events=len(messages), batch_size=data["usage_sink"]["batch_size"], rss={})
    rss = out.e2e["rss"]
    with DevKafka() as kafka:
        worker = Worker(work, config_path, kafka.bootstrap, tag="analytics", role="analytics")
        pid = worker.process.proc.pid
        try:
            rss["at ready"] = memory_mb(pid)
            # The store opens (and checks its migrations) on first use: do it before the clock.
            url = str(worker.analytics_url)
            httpx.get(f"{url}/api/status", timeout=120).raise_for_status()
            rss["store open"] = memory_mb(pid)
            cpu_before = cpu_s(pid)
            # Far beyond any rate seen here: a stuck sink fails the run instead of hanging it.
            deadline_s = 60 + len(messages) / 500
            started = time.monotonic()
            asyncio.run(publish(kafka.bootstrap, topic, messages))
            out.e2e["publish_s"] = time.monotonic() - started
            asyncio.run(
                wait_committed(
                    kafka.bootstrap, f"{data['app_id']}-analytics", topic, partitions, deadline_s
                )
            )
            out.e2e["elapsed_s"] = time.monotonic() - started
            out.e2e["cpu_s"] = cpu_s(pid) - cpu_before
            rss["after events"] = memory_mb(pid)
            inserts = [
                int(n)
                for n in re.findall(r"usage sink inserted (\d+) rows", worker.process.log_text())
            ]
            out.e2e["inserts"] = inserts
            status = httpx.get(f"{url}/api/status", timeout=60).json()
            out.e2e["store_rows"] = status["rows"]
            with httpx.Client(base_url=url, timeout=120) as http:
                for query in QUERIES:
                    out.http[query] = time_runs(partial(_get, http, query))
                rss["after queries"] = memory_mb(pid)
                # Once more, untimed: does the engine's memory level off or keep growing?
                for query in QUERIES:
                    _get(http, query)
                rss["after queries again"] = memory_mb(pid)
        except Exception:
            print(
                f"-- the analytics process's log, last lines:\n{worker.process.log_text()[-4000:]}"
            )
            raise
        finally:
            worker.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--e2e-events", type=int, default=200_000)
    parser.add_argument("--skip-e2e", action="store_true")
    parser.add_argument(
        "--days", type=int, default=7, help="the span the rows' start times cover, back from now"
    )
    args = parser.parse_args()
    config = load_config(BASE_CONFIG)
    out = Results(rows=args.rows, days=args.days, load=[os.getloadavg()])
    work = Path(tempfile.mkdtemp(prefix="routeyard-bench-analytics-"))
    try:
        store_dir = work / "store"
        store = TimedStore(TimedBackend(EmbeddedBackend(store_dir)), DATABASE)
        try:
            store.ensure_schema(config.store.raw_retention_days)
            started = time.monotonic()
            now = datetime.now(UTC)
            fill(store, UsageFaker(config), now - timedelta(days=args.days), now, out)
            out.fill_s = time.monotonic() - started
            out.store.update(store_facts(store))
            query_store(store, config, out)
        finally:
            store.backend.close()
        out.load.append(os.getloadavg())
        if not args.skip_e2e:
            (work / "e2e").mkdir()
            end_to_end(store_dir, args.e2e_events, work / "e2e", out)
            out.load.append(os.getloadavg())
    finally:
        shutil.rmtree(work, ignore_errors=True)
    method = (__doc__ or "").split("Method (also printed with the results):", 1)[-1]
    print_all(method.split("\nRun: ")[0], out)


if __name__ == "__main__":
    main()
