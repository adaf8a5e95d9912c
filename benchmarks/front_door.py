"""The HTTP path: `routeyard serve` + one worker against LiteLLM's proxy, same load.

Method: a throw-away Kafka broker on loopback, the emulator answering every call after a
fixed provider latency (500 ms, no faults), one `routeyard worker --role gateway` and one
`routeyard serve` on a config derived from the example (model gpt-4o-mini served by the
emulator's OpenAI endpoint), and, when `make litellm` has made .venv-litellm, LiteLLM's
proxy with one model name pointing at the same emulator's /v1 (its defaults otherwise:
one process, no database). Everything shares this machine's cores with the load generator.

Load: N clients (default 500) share one httpx.AsyncClient (on aiohttp's pool, as dispatch
does) and send requests back to back, each the same small chat request to model
gpt-4o-mini; plain, then streamed with usage, each gateway in turn per mode. A phase
spreads the clients' first requests over one provider latency, warms up, then measures a
window: only requests ending inside it count.
- throughput: complete answers in the window / window length (the ceiling is
  N / provider latency);
- added latency: each request's latency at the client minus the 500 ms provider time;
  for streams the whole stream, until `data: [DONE]`;
- TTFT (streams): the time to the first SSE chunk whose delta has content;
- errors: non-200, a stream without [DONE] or with an error frame, transport failures;
- CPU per request: user+system CPU (/proc/<pid>/stat, process and children) of the
  gateway's processes over the window / complete answers in it; for routeyard serve +
  worker, and the Kafka broker shown separately; for LiteLLM its proxy process;
  "machine CPU busy" is the share of all cores busy in the window (/proc/stat), whoever
  used them: near 100% the gateway was short of CPU, not of concurrency.
Run: `python benchmarks/front_door.py [--clients N] [--window S] [--warmup S]
[--latency-ms MS] [--skip-litellm]`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

import httpx
import yaml

from benchmarks.http_load import Phase, percentiles, run_phase
from devtools.kafka import DevKafka
from devtools.stack import (
    TEST_KEYS,
    Emulator,
    FrontDoor,
    Process,
    Worker,
    derive_config,
    free_port,
    wait_until,
)

ROOT = Path(__file__).resolve().parents[1]
LITELLM_VENV = ROOT / ".venv-litellm"
MODEL = "gpt-4o-mini"
ROUTEYARD_CPU = ("serve", "worker")


class LiteLLM:
    """LiteLLM's proxy from its own venv, one model name routed to the emulator."""

    def __init__(self, tmp: Path, emulator_url: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = tmp / "litellm.yaml"
        model = {
            "model_name": MODEL,
            "litellm_params": {
                "model": f"openai/{MODEL}",
                "api_base": f"{emulator_url}/v1",
                "api_key": "sk-emulator",  # the emulator takes any key
            },
        }
        config.write_text(yaml.safe_dump({"model_list": [model]}))
        argv = [
            str(LITELLM_VENV / "bin" / "litellm"),
            *("--config", str(config), "--host", "127.0.0.1", "--port", str(self.port)),
        ]
        # Without it LiteLLM fetches its price list from the internet at start.
        env = {"LITELLM_LOCAL_MODEL_COST_MAP": "True"}
        self.process = Process("litellm", argv, tmp / "litellm.log", env)
        wait_until(self._healthy, 180, f"LiteLLM on {self.url}")

    def _healthy(self) -> bool:
        if not self.process.alive():
            raise RuntimeError(f"LiteLLM exited:\n{self.process.log_text()[-3000:]}")
        try:
            return httpx.get(f"{self.url}/health/liveliness", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    @staticmethod
    def version() -> str:
        found = subprocess.run(
            [
                str(LITELLM_VENV / "bin" / "python"),
                "-c",
                "import importlib.metadata as m; print(m.version('litellm'))",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return found.stdout.strip()

    def stop(self) -> None:
        self.process.stop()


def _machine() -> str:
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    names = [line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")]
    return f"{os.cpu_count()} cores ({names[0] if names else platform.processor()})"


def _load() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def _fmt(value: float, digits: int) -> str:
    return "n/a" if value != value else f"{value:.{digits}f}"  # NaN: nothing measured


def _row(label: str, values: list[float], digits: int, ratio: bool = True) -> str:
    cells = [f"{_fmt(v, digits):>12}" for v in values]
    if len(values) == 2:
        r = values[0] / values[1] if ratio and values[1] else float("nan")
        cells.append(f"{_fmt(r, 2) if ratio else '-':>12}")
    return f"  {label:<38}" + "".join(cells)


def _table(phases: list[Phase], latency_s: float) -> list[str]:
    names = [p.gateway for p in phases]
    stream = phases[0].stream
    head = "".join(f"{n:>12}" for n in names) + (f"{'ratio':>12}" if len(names) == 2 else "")
    lines = [
        f"-- {'streamed' if stream else 'plain'} ({phases[0].clients} clients)",
        " " * 40 + head,
    ]

    def per(fn: Callable[[Phase], float]) -> list[float]:
        return [fn(p) for p in phases]

    added = [percentiles(o.latency_s - latency_s for o in p.ok()) for p in phases]
    lines.append(_row("throughput, req/s", per(Phase.throughput), 1))
    if stream:
        ttft = [percentiles(o.ttft_s for o in p.ok() if o.ttft_s is not None) for p in phases]
        lines.append(_row("TTFT p50, ms", [t[0] * 1000 for t in ttft], 0))
        lines.append(_row("TTFT p99, ms", [t[1] * 1000 for t in ttft], 0))
    what = "whole stream" if stream else "answer"
    lines.append(_row(f"added latency p50, ms ({what})", [a[0] * 1000 for a in added], 0))
    lines.append(_row(f"added latency p99, ms ({what})", [a[1] * 1000 for a in added], 0))

    def gateway_cpu(p: Phase) -> float:
        own = ROUTEYARD_CPU if p.gateway == "routeyard" else ("litellm",)
        return sum(p.cpu_ms_per_request(n) for n in own)

    def with_broker(p: Phase) -> float:
        return gateway_cpu(p) + (p.cpu_ms_per_request("broker") if "broker" in p.cpu_s else 0)

    lines.append(_row("gateway CPU, ms/request", per(gateway_cpu), 2))
    lines.append(_row("  + Kafka broker, ms/request", per(with_broker), 2))
    lines.append(_row("errors in the window", per(lambda p: sum(p.errors().values())), 0, False))
    lines.append(_row("answers in the window", per(lambda p: len(p.ok())), 0, False))
    lines.append(_row("machine CPU busy, %", per(lambda p: p.machine_busy * 100), 0, False))
    for p in phases:
        split = ", ".join(f"{n} {p.cpu_ms_per_request(n):.2f}" for n in sorted(p.cpu_s))
        lines.append(f"  {p.gateway}: CPU ms/request by process: {split}")
        if p.errors() or p.outside_errors():
            lines.append(
                f"  {p.gateway}: errors in the window {dict(p.errors())},"
                f" outside it (spread, warm-up, drain) {dict(p.outside_errors())}"
            )
    return lines


async def _drive(
    gateways: dict[str, tuple[str, str, dict[str, int]]], args: argparse.Namespace
) -> list[list[Phase]]:
    tables: list[list[Phase]] = []
    for stream in (False, True):
        row: list[Phase] = []
        for name, (url, key, pids) in gateways.items():
            phase = Phase(name, stream, args.clients)
            await run_phase(
                phase,
                url,
                key,
                MODEL,
                pids,
                spread_s=args.latency_ms / 1000,
                warmup_s=args.warmup,
                window_s=args.window,
                timeout_s=150,
            )
            row.append(phase)
        tables.append(row)
    return tables


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--window", type=float, default=60.0, help="measured seconds per phase")
    parser.add_argument("--warmup", type=float, default=10.0, help="seconds before the window")
    parser.add_argument("--latency-ms", type=float, default=500.0, help="provider latency")
    parser.add_argument("--skip-litellm", action="store_true", help="routeyard alone")
    args = parser.parse_args()
    installed = (LITELLM_VENV / "bin" / "litellm").exists()
    with_litellm = installed and not args.skip_litellm
    load_before = _load()
    tmp = Path(tempfile.mkdtemp(prefix="routeyard-bench-front-"))
    started: list[Emulator | Worker | FrontDoor | LiteLLM] = []
    try:
        with DevKafka() as kafka:
            try:
                profile = {"default": {"latency": {"dist": "fixed", "ms": args.latency_ms}}}
                emulator = Emulator(tmp, profile)
                started.append(emulator)
                config = derive_config(
                    ROOT / "config" / "routeyard.example.yaml",
                    tmp,
                    emulator.url,
                    "benchfront",
                    dispatch={"max_in_flight": max(512, args.clients)},
                )
                worker = Worker(tmp, config, kafka.bootstrap, role="gateway")
                started.append(worker)
                front = FrontDoor(tmp, config, kafka.bootstrap)
                started.append(front)
                emu_pid = emulator.process.proc.pid
                gateways = {
                    "routeyard": (
                        front.base_url,
                        TEST_KEYS["acme"],
                        {
                            "serve": front.process.proc.pid,
                            "worker": worker.process.proc.pid,
                            "broker": kafka.pid,
                            "emulator": emu_pid,
                        },
                    )
                }
                if with_litellm:
                    litellm = LiteLLM(tmp, emulator.url)
                    started.append(litellm)
                    pids = {"litellm": litellm.process.proc.pid, "emulator": emu_pid}
                    gateways["LiteLLM"] = (litellm.url, "sk-anything", pids)
                tables = asyncio.run(_drive(gateways, args))
            finally:
                for process in reversed(started):
                    process.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    _report(args, tables, with_litellm, load_before)


def _report(
    args: argparse.Namespace, tables: list[list[Phase]], with_litellm: bool, load_before: str
) -> None:
    print(__doc__.split("Run:")[0].rstrip())
    print()
    ceiling = args.clients / (args.latency_ms / 1000)
    print(
        f"provider latency {args.latency_ms:.0f} ms fixed; {args.clients} concurrent clients"
        f" (ceiling {ceiling:.0f} req/s); per phase {args.latency_ms / 1000:g} s spread,"
        f" {args.warmup:g} s warm-up, {args.window:g} s window"
    )
    print(f"{_machine()}; load average {load_before} before, {_load()} after")
    if with_litellm:
        print(
            f"LiteLLM {LiteLLM.version()}; ratio = routeyard / LiteLLM (above 1 is better for"
            " throughput, below 1 for latency and CPU)"
        )
    elif args.skip_litellm:
        print("LiteLLM skipped (--skip-litellm): routeyard alone")
    else:
        print(
            f"LiteLLM not run: {LITELLM_VENV.name} is missing; `make litellm` creates it"
            " (its own venv with litellm[proxy]), then run this again. routeyard alone:"
        )
    for phases in tables:
        print("\n".join(_table(phases, args.latency_ms / 1000)))
    client = ", ".join(
        f"{p.gateway} {'streamed' if p.stream else 'plain'} {p.cpu_ms_per_request('client'):.2f}"
        for phases in tables
        for p in phases
    )
    print(f"load generator CPU, ms/request: {client}")


if __name__ == "__main__":
    main()
