"""The table ``benchmarks/gateway_cost.py`` prints: one column per setup (worker count and
event loop), one row per figure, each computed from the phases' CPU seconds."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass

# Every process of the stack under test, the client included (the broker and the emulator
# are ours too); "machine" is everything on the machine, others' work included.
OURS = ("gw", "analytics", "broker", "emulator", "client")


@dataclass
class Phase:
    n: int
    elapsed_s: float
    cpu_s: dict[str, float]
    wall_s: float

    def ms_per_request(self, *names: str) -> float:
        return sum(self.cpu_s[n] for n in names) * 1000 / self.n

    def cores(self, machine: bool) -> float:
        if machine:
            return self.cpu_s["machine"] / self.wall_s
        ours = [v for k, v in self.cpu_s.items() if k.startswith(OURS)]
        return sum(ours) / self.wall_s


@dataclass
class Setup:
    workers: int
    partitions: int
    event_loop: str
    on_uvloop: bool
    inline: bool
    idle: Phase
    burst: Phase
    paced: Phase
    rate: float
    added_ms: list[float]
    gateway_added_ms: list[float]
    handled: int
    rss_ready: list[float]
    rss_end: list[float]
    rss_analytics: float


def _pcts(values: list[float]) -> str:
    q = statistics.quantiles(values, n=100)
    return f"{q[49]:.0f} / {q[94]:.0f} / {q[98]:.0f}"


def print_table(setups: list[Setup]) -> None:
    rows: list[tuple[str, list[str]]] = []

    def row(label: str, cell: object) -> None:
        rows.append((label, [str(cell(s)) if callable(cell) else str(cell) for s in setups]))

    def gws(s: Setup) -> list[str]:
        return [f"gw{i}" for i in range(s.workers)]

    def cpu_rows(prefix: str, phase: Callable[[Setup], Phase]) -> None:
        """CPU per request of the gateway (sum, then each worker) and the other processes."""
        row(
            f"{prefix}CPU ms/req gateway (sum of workers)",
            lambda s: f"{phase(s).ms_per_request(*gws(s)):.2f}",
        )
        row(
            f"  {prefix}per worker ms (CPU s / N)",
            lambda s: " + ".join(f"{phase(s).ms_per_request(g):.2f}" for g in gws(s)),
        )
        for name in ("broker", "analytics", "client"):
            row(f"{prefix}CPU ms/req {name}", lambda s, n=name: f"{phase(s).ms_per_request(n):.2f}")

    def cores_row(name: str, phase: Callable[[Setup], Phase]) -> None:
        row(
            f"{name} cores busy: ours / whole machine",
            lambda s: f"{phase(s).cores(False):.2f} / {phase(s).cores(True):.2f}",
        )

    row("gateway on uvloop (its .so mapped)", lambda s: "yes" if s.on_uvloop else "no")
    row(
        "idle cores: gateway(s) / broker / analytics",
        lambda s: " / ".join(
            f"{sum(s.idle.cpu_s[n] for n in names) / s.idle.wall_s:.2f}"
            for names in (gws(s), ["broker"], ["analytics"])
        ),
    )
    row("burst requests", lambda s: s.burst.n)
    row("burst throughput req/s", lambda s: f"{s.burst.n / s.burst.elapsed_s:.0f}")
    row("burst first send -> last answer s", lambda s: f"{s.burst.elapsed_s:.1f}")
    cpu_rows("", lambda s: s.burst)
    row("CPU ms/req emulator", lambda s: f"{s.burst.ms_per_request('emulator'):.2f}")
    row(
        "client cheaper than gateway?",
        lambda s: (
            "yes ({:.0%} of it)".format(
                s.burst.ms_per_request("client") / s.burst.ms_per_request(*gws(s))
            )
            if s.burst.ms_per_request("client") < s.burst.ms_per_request(*gws(s))
            else "NO"
        ),
    )
    cores_row("burst", lambda s: s.burst)
    row("paced rate req/s (half of burst)", lambda s: f"{s.rate:.0f}")
    row("paced requests", lambda s: s.paced.n)
    row("added ms p50/p95/p99 (client e2e)", lambda s: _pcts(s.added_ms))
    row("added ms p50/p95/p99 (gateway stamp)", lambda s: _pcts(s.gateway_added_ms))
    cpu_rows("paced ", lambda s: s.paced)
    cores_row("paced", lambda s: s.paced)
    row("requests handled (warm-up+burst+paced)", lambda s: s.handled)
    row("gateway RSS MiB ready", lambda s: " + ".join(f"{r:.0f}" for r in s.rss_ready))
    row("gateway RSS MiB after all requests", lambda s: " + ".join(f"{r:.0f}" for r in s.rss_end))
    row("analytics (store) RSS MiB at end", lambda s: f"{s.rss_analytics:.0f}")

    heads = [f"{s.workers} gw, {s.event_loop}{', inline' if s.inline else ''}" for s in setups]
    width = max(len(label) for label, _ in rows)
    cols = [max(len(h), *(len(c[i]) for _, c in rows)) for i, h in enumerate(heads)]
    print(f"{'':<{width}}  " + "  ".join(f"{h:>{w}}" for h, w in zip(heads, cols, strict=True)))
    for label, cells in rows:
        print(
            f"{label:<{width}}  " + "  ".join(f"{c:>{w}}" for c, w in zip(cells, cols, strict=True))
        )
