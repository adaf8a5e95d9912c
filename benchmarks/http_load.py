"""The load generator and the counters of benchmarks/front_door.py.

N virtual clients share one ``httpx.AsyncClient`` and each sends Chat Completions back to
back (closed loop). A phase is: the clients' first requests spread over one provider
latency, a warm-up, then a measured window; only requests that end inside the window
count, and the CPU of the processes under test is read at the window's edges, so every
figure describes the same steady state.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import httpx
import orjson

from adapters.http_client import make_http_client

_TICK = os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def tree_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process and its live descendants so far."""
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        try:
            stat = Path(f"/proc/{current}/stat").read_text()
            todo += _children(current)
        except (FileNotFoundError, ProcessLookupError):
            continue  # it ended between the listing and the read
        fields = stat.rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / _TICK
    return total


def cpu_now(pids: Mapping[str, int]) -> dict[str, float]:
    """CPU seconds per named process tree, and ``client``: this process (all threads)."""
    return {name: tree_cpu_s(pid) for name, pid in pids.items()} | {"client": time.process_time()}


def machine_ticks() -> tuple[int, int]:
    """Busy and total CPU ticks of the whole machine so far, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    idle = fields[3] + fields[4]  # idle + iowait; guest time is already inside user
    return sum(fields) - idle, sum(fields)


@dataclass(frozen=True, slots=True)
class Outcome:
    ended: float  # time.monotonic() when the last byte came (or the failure)
    latency_s: float
    ttft_s: float | None  # streams: until the first chunk with content
    error: str | None  # None: a complete answer


@dataclass
class Phase:
    """One gateway under one mode: the outcomes and CPU of its measured window."""

    gateway: str
    stream: bool
    clients: int
    window_start: float = 0.0
    window_end: float = 0.0
    cpu_s: dict[str, float] = field(default_factory=dict)
    machine_busy: float = 0.0  # share of all cores busy during the window, any process
    outcomes: list[Outcome] = field(default_factory=list)

    def in_window(self) -> list[Outcome]:
        return [o for o in self.outcomes if self.window_start <= o.ended <= self.window_end]

    def outside_errors(self) -> Counter[str]:
        """Failures during the spread, the warm-up or the drain (not in the figures)."""
        return Counter(
            o.error
            for o in self.outcomes
            if o.error is not None and not self.window_start <= o.ended <= self.window_end
        )

    @property
    def window_s(self) -> float:
        return self.window_end - self.window_start

    def ok(self) -> list[Outcome]:
        return [o for o in self.in_window() if o.error is None]

    def errors(self) -> Counter[str]:
        return Counter(o.error for o in self.in_window() if o.error is not None)

    def throughput(self) -> float:
        return len(self.ok()) / self.window_s

    def cpu_ms_per_request(self, name: str) -> float:
        done = len(self.ok())
        return self.cpu_s[name] * 1000 / done if done else float("nan")


def percentiles(values: Iterable[float]) -> tuple[float, float]:
    """p50 and p99 (exclusive method, as statistics.quantiles computes them)."""
    data = sorted(values)
    if len(data) < 2:
        return (data[0], data[0]) if data else (float("nan"), float("nan"))
    q = statistics.quantiles(data, n=100)
    return q[49], q[98]


def _has_content(line: str) -> bool:
    """A ``data:`` line of a chunk whose delta carries text or a tool call."""
    try:
        chunk = orjson.loads(line[5:])
    except orjson.JSONDecodeError:
        return False
    choices = chunk.get("choices") if isinstance(chunk, dict) else None
    if not choices:
        return False
    delta = choices[0].get("delta") or {}
    return bool(delta.get("content") or delta.get("tool_calls"))


async def _stream_once(
    client: httpx.AsyncClient, path: str, body: bytes, timeout: httpx.Timeout, started: float
) -> tuple[float | None, str | None]:
    ttft: float | None = None
    async with client.stream("POST", path, content=body, timeout=timeout) as response:
        if response.status_code != 200:
            await response.aread()
            return None, f"HTTP {response.status_code}"
        async for line in response.aiter_lines():
            if line == "data: [DONE]":
                return ttft, None
            if line.startswith("event: error"):
                return ttft, "error frame"
            if ttft is None and line.startswith("data:") and _has_content(line):
                ttft = time.monotonic() - started
    # A stream that ends without [DONE] is a broken one, however it closed.
    return ttft, "no [DONE]"


async def _once(
    client: httpx.AsyncClient, path: str, body: bytes, stream: bool, timeout: httpx.Timeout
) -> Outcome:
    started = time.monotonic()
    ttft: float | None = None
    error: str | None = None
    try:
        if stream:
            ttft, error = await _stream_once(client, path, body, timeout, started)
        else:
            response = await client.post(path, content=body, timeout=timeout)
            if response.status_code != 200:
                error = f"HTTP {response.status_code}"
            elif not orjson.loads(response.content).get("choices"):
                error = "no choices"
    except (httpx.HTTPError, aiohttp.ClientError, TimeoutError, orjson.JSONDecodeError) as exc:
        error = type(exc).__name__
    ended = time.monotonic()
    return Outcome(ended, ended - started, ttft, error)


def make_body(model: str, stream: bool) -> bytes:
    body: dict[str, object] = {
        "model": model,
        "messages": [{"role": "user", "content": "hello, a short question"}],
    }
    if stream:
        body |= {"stream": True, "stream_options": {"include_usage": True}}
    return orjson.dumps(body)


async def run_phase(
    phase: Phase,
    base_url: str,
    api_key: str,
    model: str,
    pids: Mapping[str, int],
    *,
    spread_s: float,
    warmup_s: float,
    window_s: float,
    timeout_s: float,
) -> None:
    """Drive ``phase.clients`` closed-loop clients; fill in the phase's window and CPU."""
    client = make_http_client(max_connections=phase.clients)
    client.base_url = httpx.URL(base_url)
    client.headers.update(
        {"authorization": f"Bearer {api_key}", "content-type": "application/json"}
    )
    timeout = httpx.Timeout(timeout_s, connect=60)
    body = make_body(model, phase.stream)
    path = "/v1/chat/completions"
    start = time.monotonic()
    stop_at = start + spread_s + warmup_s + window_s

    async def one_client(i: int) -> None:
        # Spread the first requests, so that the fixed provider latency does not keep
        # every client in one wave.
        await asyncio.sleep(spread_s * i / phase.clients)
        while time.monotonic() < stop_at:
            phase.outcomes.append(await _once(client, path, body, phase.stream, timeout))

    async def sample() -> None:
        await asyncio.sleep(spread_s + warmup_s)
        before, ticks_before = cpu_now(pids), machine_ticks()
        phase.window_start = time.monotonic()
        await asyncio.sleep(max(0.0, stop_at - time.monotonic()))
        after, ticks_after = cpu_now(pids), machine_ticks()
        phase.window_end = time.monotonic()
        phase.cpu_s = {name: after[name] - before[name] for name in after}
        busy, total = (a - b for a, b in zip(ticks_after, ticks_before, strict=True))
        phase.machine_busy = busy / total if total else float("nan")

    try:
        await asyncio.gather(sample(), *(one_client(i) for i in range(phase.clients)))
    finally:
        await client.aclose()
