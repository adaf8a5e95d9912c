"""What benchmarks/analytics_store.py measured, and how it prints it."""

from __future__ import annotations

import os
import platform
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any


@dataclass
class Batch:
    size: int  # the batch size of its round
    rows: int
    filled: int  # rows in the store before it
    total_s: float
    held_s: float  # the insert-once lookup
    insert_s: float  # the INSERT, the rollup's view included


@dataclass
class Results:
    rows: int = 0
    days: int = 7
    fill_s: float = 0.0
    batches: list[Batch] = field(default_factory=list)
    replay: tuple[int, int, float] = (0, 0, 0.0)  # rows offered, rows written, seconds
    store: dict[str, Any] = field(default_factory=dict)
    same: dict[str, bool] = field(default_factory=dict)  # rollup equals raw, per `by`
    queries: dict[str, list[float]] = field(default_factory=dict)  # ms per run, in process
    http: dict[str, list[float]] = field(default_factory=dict)  # ms per run, over HTTP
    e2e: dict[str, Any] = field(default_factory=dict)
    load: list[tuple[float, float, float]] = field(default_factory=list)


def pct_ms(values: Sequence[float], q: int) -> float:
    """The q-th percentile of seconds, in ms; the inclusive method never exceeds the max."""
    if len(values) == 1:
        return values[0] * 1000
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] * 1000


@dataclass(frozen=True)
class SizeStats:
    batches: int
    rows_per_s: float
    p50_ms: float
    p99_ms: float
    held_p50_ms: float
    insert_p50_ms: float
    held_share: float
    insert_share: float
    held_early_ms: float  # lookup p50 while the store held under a quarter of its rows
    held_late_ms: float  # ... and over three quarters

    @classmethod
    def of(cls, batches: list[Batch], total: int) -> SizeStats:
        spent = sum(b.total_s for b in batches)
        early = [b.held_s for b in batches if b.filled < total / 4] or [float("nan")]
        late = [b.held_s for b in batches if b.filled >= total * 3 / 4] or [float("nan")]
        return cls(
            batches=len(batches),
            rows_per_s=sum(b.rows for b in batches) / spent,
            p50_ms=pct_ms([b.total_s for b in batches], 50),
            p99_ms=pct_ms([b.total_s for b in batches], 99),
            held_p50_ms=pct_ms([b.held_s for b in batches], 50),
            insert_p50_ms=pct_ms([b.insert_s for b in batches], 50),
            held_share=sum(b.held_s for b in batches) / spent,
            insert_share=sum(b.insert_s for b in batches) / spent,
            held_early_ms=statistics.median(early) * 1000,
            held_late_ms=statistics.median(late) * 1000,
        )


def machine() -> str:
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    names = [line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")]
    cpu = names[0] if names else platform.processor()
    return (
        f"{os.cpu_count()} cores ({cpu}); Python {platform.python_version()};"
        f" chdb {version('chdb')}"
    )


def _by_size(out: Results) -> dict[int, SizeStats]:
    sizes = sorted({b.size for b in out.batches})
    return {s: SizeStats.of([b for b in out.batches if b.size == s], out.rows) for s in sizes}


def print_method(method: str, out: Results) -> None:
    print("== Method")
    print(method.strip())
    print(f"Machine: {machine()}")
    loads = "; ".join(", ".join(f"{x:.1f}" for x in avg) for avg in out.load)
    print(f"Load average (1, 5, 15 min) at start, after parts 1-2, after part 3: {loads}")


def print_inserts(out: Results) -> None:
    print(
        f"\n== 1. UsageStore.insert, embedded chdb, rollup view in place: {out.rows:,} rows"
        f" over {out.days} day{'s' if out.days != 1 else ''}, in {out.fill_s:.0f} s"
        " (event generation included)"
    )
    print(
        "batch  batches   rows/s  ms/batch p50    p99  lookup p50  insert p50"
        "  lookup  insert  prep  lookup p50 <25% / >75% full"
    )
    for size, s in _by_size(out).items():
        prep = 1 - s.held_share - s.insert_share
        print(
            f"{size:>5} {s.batches:>8} {s.rows_per_s:>8,.0f} {s.p50_ms:>13.1f} {s.p99_ms:>6.1f}"
            f" {s.held_p50_ms:>11.1f} {s.insert_p50_ms:>11.1f} {s.held_share:>7.0%}"
            f" {s.insert_share:>7.0%} {prep:>5.0%} {s.held_early_ms:>13.1f} / {s.held_late_ms:.1f}"
        )
    print(
        "(ms per whole insert() call; lookup: the insert-once check UsageStore._held; insert:"
        " the INSERT, the rollup's view included; prep: events to rows; shares of the total)"
    )
    offered, written, seconds = out.replay
    print(f"A replayed batch of {offered} held rows: {written} written, {seconds * 1000:.0f} ms")
    facts = out.store
    print(
        f"Store: usage {facts['usage']:,} rows; usage_minute {facts['usage_minute']:,} rows,"
        f" {facts['usage_minute_merged']:,} once merged"
        f" ({facts['usage'] / max(1, facts['usage_minute_merged']):.1f} raw rows per rollup row)"
    )
    for part in facts["parts"]:
        print(
            f"  {part['table']}: {part['parts']} active parts, {int(part['rows']):,} rows,"
            f" {int(part['bytes']) / 2**20:.1f} MiB on disk"
        )


def print_queries(out: Results) -> None:
    print(
        f"\n== 2. Dashboard queries: {len(next(iter(out.queries.values())))} runs after a warm-up"
    )
    http = bool(out.http)
    print(f"{'query':<50} {'ms median':>9} {'max':>7}" + ("   HTTP median     max" if http else ""))
    for query, times in out.queries.items():
        line = f"{query:<50} {statistics.median(times):>9.1f} {max(times):>7.1f}"
        if http:
            line += f" {statistics.median(out.http[query]):>13.1f} {max(out.http[query]):>7.1f}"
        print(line)
    for by, same in out.same.items():
        verdict = "equal" if same else "DIFFERENT"
        print(f"summary by {by}, rollup vs raw (counts, tokens, cost): {verdict}")
    where = f"in process over part 1's {out.store['usage']:,} rows"
    if http:
        where += f"; HTTP: the analytics process's store after part 3 ({out.e2e['store_rows']:,})"
    print(f"({where})")


def print_e2e(out: Results) -> None:
    e = out.e2e
    rows, inserts, elapsed = sum(e["inserts"]), e["inserts"], e["elapsed_s"]
    print(f"\n== 3. End to end: {e['events']:,} usage events through Kafka, one analytics process")
    print(
        f"first publish -> all committed: {elapsed:.1f} s (publishing {e['publish_s']:.1f} s);"
        f" {e['events'] / elapsed:,.0f} events/s; {rows:,} rows inserted, {rows / elapsed:,.0f}"
        " rows/s (the sink folds a call's started row into its completion)"
    )
    print(f"analytics process CPU: {e['cpu_s']:.1f} s, {e['cpu_s'] * 1e6 / rows:.0f} µs per row")
    if inserts:
        print(
            f"inserts: {len(inserts)}, rows each: min {min(inserts)}, median"
            f" {statistics.median(inserts):.0f}, max {max(inserts)}"
            f" ({e['events'] / len(inserts):.0f} events per insert; batch_size {e['batch_size']})"
        )
    for when in ("at ready", "store open", "after events", "after queries", "after queries again"):
        mem = e["rss"][when]
        print(f"RSS {when:<20} VmRSS {mem['VmRSS']:5.0f} MiB, VmHWM {mem['VmHWM']:5.0f} MiB")


def print_summary(out: Results) -> None:
    print("\n== Summary")
    for size, s in _by_size(out).items():
        print(
            f"insert, batches of {size:>4} rows: {s.rows_per_s:>7,.0f} rows/s, p50 {s.p50_ms:.0f}"
            f" ms / p99 {s.p99_ms:.0f} ms per batch, lookup {s.held_share:.0%} of the time"
        )
    for query, times in out.queries.items():
        http = f", HTTP {statistics.median(out.http[query]):.0f} ms" if out.http else ""
        print(f"{query:<50} {statistics.median(times):>7.0f} ms{http}")
    if out.e2e:
        e = out.e2e
        mem = e["rss"]["after queries"]
        print(
            f"end to end: {sum(e['inserts']) / e['elapsed_s']:,.0f} rows/s"
            f" ({e['events'] / e['elapsed_s']:,.0f} events/s);"
            f" analytics RSS {mem['VmRSS']:.0f} MiB, peak {mem['VmHWM']:.0f} MiB"
        )


def print_all(method: str, out: Results) -> None:
    print_method(method, out)
    print_inserts(out)
    print_queries(out)
    if out.e2e:
        print_e2e(out)
    print_summary(out)
