"""What one request costs the gateway: CPU per request, memory, added latency (issue 15).

The targets are printed, not asserted: on a shared 2-core machine the CPU milliseconds per
request and the ratios within one run are what compare, not the wall-clock rates.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from itertools import product
from pathlib import Path

import yaml

from benchmarks.cost_client import CostClient
from benchmarks.cost_table import Phase, Setup, print_table
from benchmarks.pipeline_throughput import cpu_s
from devtools.kafka import DevKafka
from devtools.stack import Emulator, Worker, derive_config, stop_all, wait_committed

ROOT = Path(__file__).resolve().parents[1]

METHOD = """\
method: a throw-away Kafka broker (devtools DevKafka), the provider emulator answering every
call after a fixed latency (no faults), the example config on fresh topics; for each worker
count, that many `routeyard worker --role gateway` processes in one consumer group (no
embedded store in them) plus one `--role analytics` process (the usage sink and the store).
The client is this process: ONE long-lived aiokafka producer and ONE long-lived consumer for
the whole run (the consumer is re-assigned to each set of fresh topics), no set-up per
request or tick. Per worker count (and event loop, ROUTEYARD_EVENT_LOOP), on the same workers:
- warm-up: W requests, all answered, not counted; then, and after the burst, a wait until
  the analytics process has committed every usage event (devtools.stack.wait_committed);
- idle: S_idle seconds with no traffic, each process's CPU / wall seconds (its fixed cost);
- burst: N requests sent at once; throughput = N / (first send -> last response at the
  client); CPU per request = user+system CPU (/proc/<pid>/stat utime+stime) each process
  spent from the first send to the last response, / N; gateway = the sum over the gateway
  workers; the client's own is time.process_time(); cores busy = CPU seconds / wall
  seconds of our processes, and of the whole machine from /proc/stat (others' work too);
- paced: half the burst's throughput for S seconds, each request sent at its own time;
  added latency = client end-to-end (send -> response received) minus the emulator's
  fixed latency; the gateway's own latency_ms (first sight at triage -> answer) minus it too;
- RSS (VmRSS, /proc/<pid>/status) of each gateway worker once ready and after all of the
  above, and of the analytics process at the end."""


def rss_mb(pid: int) -> float:
    """Resident set size in MiB (VmRSS of /proc/<pid>/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def machine_busy_s() -> float:
    """CPU seconds every core of the machine spent not idle (/proc/stat), anyone's."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def uvloop_mapped(pid: int) -> bool:
    """Whether uvloop's extension is loaded: the worker imports it only to use it."""
    return "uvloop/loop." in Path(f"/proc/{pid}/maps").read_text()


class Meter:
    """CPU seconds of every process in the run, between start() and stop()."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self._before: dict[str, float] = {}
        self._started = 0.0

    def _now(self) -> dict[str, float]:
        now = {name: cpu_s(pid) for name, pid in self.pids.items()}
        now["client"] = time.process_time()
        now["machine"] = machine_busy_s()
        return now

    def start(self) -> None:
        self._before = self._now()
        self._started = time.monotonic()

    def stop(self, n: int, elapsed_s: float) -> Phase:
        now = self._now()
        spent = {name: now[name] - self._before[name] for name in now}
        return Phase(n, elapsed_s, spent, time.monotonic() - self._started)


async def _phases(
    client: CostClient,
    topics: dict[str, str],
    partitions: int,
    meter: Meter,
    args: argparse.Namespace,
    tag: str,
    settle: Callable[[], Awaitable[None]],
) -> tuple[Phase, Phase, Phase, float]:
    requests, responses = topics["requests"], topics["responses"]
    await client.follow(responses, partitions)
    warm = [f"{tag}-warm-{i}" for i in range(args.warmup)]
    await client.burst(requests, warm)
    await client.wait_all(warm, 300)
    await settle()
    # What the stack burns with no traffic (polls, heartbeats, commits): a fixed cost that
    # the paced run's CPU per request carries and the burst's mostly does not.
    meter.start()
    await asyncio.sleep(args.idle_s)
    idle = meter.stop(1, args.idle_s)

    ids = [f"{tag}-burst-{i}" for i in range(args.requests)]
    meter.start()
    started = await client.burst(requests, ids)
    last = await client.wait_all(ids, 900)
    burst = meter.stop(len(ids), last - started)
    # The store's inserts of the burst's usage would otherwise load the paced run.
    await settle()

    rate = len(ids) / burst.elapsed_s / 2
    paced_ids = [f"{tag}-paced-{i}" for i in range(max(1, int(rate * args.paced_s)))]
    meter.start()
    started = await client.paced(requests, paced_ids, rate)
    last = await client.wait_all(paced_ids, 300)
    return idle, burst, meter.stop(len(paced_ids), last - started), rate


def _config(
    tmp: Path, emulator: Emulator, name: str, inline: bool, args: argparse.Namespace
) -> Path:
    work = tmp / name
    work.mkdir()
    base = ROOT / "config" / "routeyard.example.yaml"
    dispatch = {"max_in_flight": args.max_in_flight, "inline_first_attempts": inline}
    config = derive_config(base, work, emulator.url, name, dispatch=dispatch)
    data = yaml.safe_load(config.read_text())
    if args.partitions:
        data["topics"]["partitions"] = args.partitions
        config.write_text(yaml.safe_dump(data, sort_keys=False))
    return config


def run_setup(
    kafka: DevKafka,
    emulator: Emulator,
    client: CostClient,
    loop: asyncio.AbstractEventLoop,
    tmp: Path,
    workers: int,
    event_loop: str,
    inline: bool,
    args: argparse.Namespace,
) -> Setup:
    name = f"cost{workers}w{event_loop}{time.time_ns()}"
    config = _config(tmp, emulator, name, inline, args)
    data = yaml.safe_load(config.read_text())
    topics: dict[str, str] = data["topics"]
    partitions = int(data["topics"]["partitions"])
    work = config.parent
    started: list[Worker] = []
    # The workers read it at start (routeyard/worker_command.py); they inherit os.environ.
    previous = os.environ.get("ROUTEYARD_EVENT_LOOP")
    os.environ["ROUTEYARD_EVENT_LOOP"] = event_loop
    try:
        analytics = Worker(work, config, kafka.bootstrap, tag="analytics", role="analytics")
        started.append(analytics)
        gateways: list[Worker] = []
        for i in range(workers):
            gateways.append(Worker(work, config, kafka.bootstrap, tag=f"gw{i}", role="gateway"))
            started.append(gateways[-1])
        _restore_env(previous)
        pids = {f"gw{i}": w.process.proc.pid for i, w in enumerate(gateways)}
        pids |= {
            "analytics": analytics.process.proc.pid,
            "broker": kafka.pid,
            "emulator": emulator.process.proc.pid,
        }
        rss_ready = [rss_mb(w.process.proc.pid) for w in gateways]
        meter = Meter(pids)
        group = f"{data['app_id']}-analytics"

        def settle() -> Awaitable[None]:
            # Until the analytics process committed every usage event so far.
            return wait_committed(kafka.bootstrap, group, topics["usage"], partitions, 300)

        idle, burst, paced, rate = loop.run_until_complete(
            _phases(client, topics, partitions, meter, args, name, settle)
        )
        latency = args.latency_ms
        paced_ids = [f"{name}-paced-{i}" for i in range(paced.n)]
        return Setup(
            workers=workers,
            partitions=partitions,
            event_loop=event_loop,
            on_uvloop=uvloop_mapped(gateways[0].process.proc.pid),
            inline=inline,
            idle=idle,
            burst=burst,
            paced=paced,
            rate=rate,
            added_ms=[
                client.received[r][0] * 1000 - client.sent_at[r] * 1000 - latency for r in paced_ids
            ],
            gateway_added_ms=[client.received[r][1] - latency for r in paced_ids],
            handled=args.warmup + burst.n + paced.n,
            rss_ready=rss_ready,
            rss_end=[rss_mb(w.process.proc.pid) for w in gateways],
            rss_analytics=rss_mb(analytics.process.proc.pid),
        )
    finally:
        _restore_env(previous)
        for worker in reversed(started):
            worker.stop()


def _restore_env(previous: str | None) -> None:
    if previous is None:
        os.environ.pop("ROUTEYARD_EVENT_LOOP", None)
    else:
        os.environ["ROUTEYARD_EVENT_LOOP"] = previous


async def _started_client(bootstrap: str) -> CostClient:
    # aiokafka's clients bind to the running loop when made: make them inside it.
    client = CostClient(bootstrap)
    await client.start()
    return client


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--requests", type=int, default=5000, help="burst size (issue 15: 20000)")
    p.add_argument("--latency-ms", type=float, default=500.0, help="emulator's fixed latency")
    p.add_argument("--paced-s", type=float, default=10.0, help="length of the paced run")
    p.add_argument("--warmup", type=int, default=200, help="requests before measuring")
    p.add_argument("--idle-s", type=float, default=5.0, help="no-traffic window measured")
    p.add_argument("--workers", default="1,2", help="gateway worker counts, comma-separated")
    p.add_argument("--partitions", type=int, default=0, help="0: the example config's")
    p.add_argument(
        "--event-loops", default="asyncio", help="the workers' loops to compare: asyncio,uvloop"
    )
    p.add_argument("--max-in-flight", type=int, default=512, help="dispatch.max_in_flight")
    p.add_argument(
        "--inline",
        default="on",
        help="dispatch.inline_first_attempts to compare: on (the default), off, or off,on"
        " (runs in the order given)",
    )
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    counts = [int(c) for c in args.workers.split(",")]
    load_before = os.getloadavg()
    tmp = Path(tempfile.mkdtemp(prefix="routeyard-cost-"))
    setups: list[Setup] = []
    loop = asyncio.new_event_loop()
    try:
        with DevKafka() as kafka:
            profile = {"default": {"latency": {"dist": "fixed", "ms": args.latency_ms}}}
            emulator = Emulator(tmp, profile)
            client = loop.run_until_complete(_started_client(kafka.bootstrap))
            try:
                variants = product(counts, args.event_loops.split(","), args.inline.split(","))
                for count, event_loop, inline in variants:
                    setups.append(
                        run_setup(
                            kafka,
                            emulator,
                            client,
                            loop,
                            tmp,
                            count,
                            event_loop,
                            inline == "on",
                            args,
                        )
                    )
            finally:
                loop.run_until_complete(client.stop())
                emulator.stop()
                stop_all()
    finally:
        loop.close()
        shutil.rmtree(tmp, ignore_errors=True)
    load_after = os.getloadavg()
    print(METHOD)
    print(
        f"provider latency {args.latency_ms:.0f} ms fixed; partitions {setups[0].partitions};"
        f" dispatch.max_in_flight {args.max_in_flight}; warm-up {args.warmup};"
        f" idle {args.idle_s:.0f} s; paced {args.paced_s:.0f} s; {os.cpu_count()} cores"
        " shared by broker, emulator, workers and client"
    )
    print("load average before: " + " ".join(f"{x:.2f}" for x in load_before))
    print("load average after:  " + " ".join(f"{x:.2f}" for x in load_after))
    print_table(setups)


if __name__ == "__main__":
    main()
