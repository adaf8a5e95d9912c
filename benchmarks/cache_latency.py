"""What the response cache (issue 13, docs/design/cache.md) does to latency and to provider
calls, end to end through the real pipeline.

Method: a throw-away Kafka broker (DevKafka), the emulator answering every call after a
FIXED latency, one gateway worker process (``--role gateway``) on a config with an exact
route (``default``, ``cache: {}``) and a semantic one; all on this machine. Requests carry
``params.temperature: 0`` (cacheable) and are published by ONE long-lived producer, paced
at RATE req/s, so that queueing does not dominate. Latency is each response's
``latency_ms`` (first seen at triage to the answer; publishing is not in it). A warm-up of
distinct prompts on both routes goes first and is not counted. Phases, in order:

1. exact miss: N distinct prompts; 2. exact hit: the same N again once all were answered;
3. semantic: benchmarks/semantic_pairs.py PARAPHRASES, each pair in its own tenant (as the
   integration test does): every ``a`` (semantic-route misses), then every ``b`` once all
   ``a`` were answered; only responses marked ``cache: semantic`` count as hits;
4. workload: 1,000 requests, 600 distinct prompts and 400 repeats shuffled in (like the
   integration test): hit rate, and provider calls (emulator stats, sum of
   ``models[*].requests``) against distinct prompts.

Added latency = end-to-end minus the emulator's fixed latency (a miss pays one provider
call). The machine may be shared: the load average is printed before and after.

    PYTHONPATH=. .venv/bin/python benchmarks/cache_latency.py [--n 500] [--rate 50]
        [--latency-ms 200]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import yaml
from aiokafka import AIOKafkaProducer

from benchmarks.semantic_pairs import PARAPHRASES
from devtools.kafka import DevKafka
from devtools.stack import Emulator, Worker, collect, derive_config

ROOT = Path(__file__).resolve().parents[1]
ROUTES = [
    {"name": "default", "primary": "gpt-4o", "cache": {}},
    {"name": "semantic", "by_name_only": True, "primary": "gpt-4o", "cache": {"mode": "semantic"}},
]
Response = dict[str, Any]


def _event(rid: str, text: str, tenant: str = "acme", **extra: Any) -> tuple[str, bytes]:
    event = {
        "request_id": rid,
        "tenant": tenant,
        "messages": [{"role": "user", "content": text}],
        "params": {"temperature": 0, "max_tokens": 50},
        **extra,
    }
    return rid, orjson.dumps(event)


class Bench:
    """One producer for the whole run; each phase is published paced, then waited for."""

    def __init__(self, bootstrap: str, topics: dict[str, str], rate: float, emulator: Emulator):
        self.bootstrap = bootstrap
        self.topics = topics
        self.rate = rate
        self.emulator = emulator
        self._producer: AIOKafkaProducer | None = None
        self.dead: list[dict[str, Any]] = []

    def producer(self) -> AIOKafkaProducer:
        # Made inside the running loop (aiokafka binds to it), once for the whole run.
        if self._producer is None:
            self._producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, linger_ms=0)
        return self._producer

    def calls(self) -> int:
        return sum(int(m["requests"]) for m in self.emulator.stats()["models"].values())

    async def phase(self, events: list[tuple[str, bytes]]) -> dict[str, Response]:
        """Publish ``events`` at ``rate`` and return their responses once all are out."""
        started = time.monotonic()
        sent = []
        for i, (rid, value) in enumerate(events):
            sent.append(
                await self.producer().send(self.topics["requests"], value, key=rid.encode())
            )
            await asyncio.sleep(max(0.0, started + (i + 1) / self.rate - time.monotonic()))
        await asyncio.gather(*sent)
        ids = {rid for rid, _ in events}
        names = [self.topics["responses"], self.topics["dlq"]]

        def done(got: dict[str, list[dict[str, Any]]]) -> bool:
            return ids <= {e["request_id"] for e in got[names[0]] + got[names[1]]}

        got = await collect(self.bootstrap, names, done, deadline_s=300)
        self.dead += [d for d in got[names[1]] if d["request_id"] in ids]
        out: dict[str, Response] = {}
        for r in got[names[0]]:
            if r["request_id"] in ids:
                out.setdefault(r["request_id"], r)
        return out


def _latencies(responses: dict[str, Response], kind: str | None) -> list[float]:
    return [float(r["latency_ms"]) for r in responses.values() if r.get("cache") == kind]


async def _drive(bench: Bench, n: int) -> dict[str, Any]:
    await bench.producer().start()
    try:
        # Warm-up: connections, the encoder, the first partitions' state; not counted.
        warm = [_event(f"warm-{i}", f"Warm-up question {i}?") for i in range(20)]
        warm += [
            _event(f"warm-s{i}", f"Warm-up {i}, semantic?", route="semantic") for i in range(5)
        ]
        await bench.phase(warm)
        out: dict[str, Any] = {}
        prompts = [f"Benchmark question {i}: what is {i} cubed?" for i in range(n)]
        before = bench.calls()
        miss = await bench.phase([_event(f"miss-{i}", p) for i, p in enumerate(prompts)])
        hit = await bench.phase([_event(f"hit-{i}", p) for i, p in enumerate(prompts)])
        out["latency_calls"] = bench.calls() - before
        # In publish order: a median that grows from the first tenth to the last is queueing.
        ordered = [float(miss[f"miss-{i}"]["latency_ms"]) for i in range(n) if f"miss-{i}" in miss]
        tenth = max(1, len(ordered) // 10)
        out["drift"] = statistics.median(ordered[:tenth]), statistics.median(ordered[-tenth:])

        def side(i: int, text: str, tag: str) -> tuple[str, bytes]:
            return _event(f"p{i}-{tag}", text, tenant=f"pair{i}", route="semantic")

        sem_a = await bench.phase([side(i, p.a, "a") for i, p in enumerate(PARAPHRASES)])
        sem_b = await bench.phase([side(i, p.b, "b") for i, p in enumerate(PARAPHRASES)])
        out["rows"] = {
            "exact miss": (_latencies(miss, None), len(miss)),
            "exact hit": (_latencies(hit, "exact"), len(hit)),
            "semantic-route miss (a)": (_latencies(sem_a, None), len(sem_a)),
            "semantic hit (b)": (_latencies(sem_b, "semantic"), len(sem_b)),
        }
        out["hit_kinds"] = Counter(r.get("cache") for r in hit.values())
        out["sem_kinds"] = Counter(r.get("cache") for r in sem_b.values())

        rng = random.Random(7)
        distinct = [f"Workload question {i}: what is {i} squared?" for i in range(600)]
        texts = distinct + [rng.choice(distinct) for _ in range(400)]
        rng.shuffle(texts)
        before = bench.calls()
        work = await bench.phase([_event(f"wl-{i}", t) for i, t in enumerate(texts)])
        out["work_calls"] = bench.calls() - before
        out["work_kinds"] = Counter(r.get("cache") for r in work.values())
        out["work_n"], out["work_distinct"] = len(texts), len(set(texts))
        return out
    finally:
        await bench.producer().stop()


def _q(values: list[float]) -> tuple[float, float, float]:
    if len(values) < 2:
        return (values[0],) * 3 if values else (float("nan"),) * 3
    q = statistics.quantiles(values, n=100, method="inclusive")
    return q[49], q[94], q[98]


def _report(
    args: argparse.Namespace, out: dict[str, Any], load: list[tuple[float, float, float]]
) -> None:
    fixed = args.latency_ms
    print(
        f"cache latency: provider (emulator) latency {fixed:.0f} ms fixed; one gateway worker;"
        f" paced at {args.rate:.0f} req/s by one producer; N={args.n}; 2 cores shared by Kafka,"
        " emulator, worker, client and other people's jobs"
    )
    print(f"load average before: {' '.join(f'{x:.2f}' for x in load[0])}")
    print(f"{'end-to-end latency_ms':<26}{'count':>12}{'p50':>9}{'p95':>9}{'p99':>9}")
    for name, (values, total) in out["rows"].items():
        p50, p95, p99 = _q(values)
        print(f"{name:<26}{f'{len(values)}/{total}':>12}{p50:9.1f}{p95:9.1f}{p99:9.1f}")
    misses = out["rows"]["exact miss"][0]
    p50, p95, p99 = _q([v - fixed for v in misses])
    print(f"{'added by gateway, miss':<26}{len(misses):>12}{p50:9.1f}{p95:9.1f}{p99:9.1f}")
    print("  (miss minus the fixed provider latency; a hit's whole latency is gateway time)")
    first, last = out["drift"]
    print(f"exact miss median, first tenth published {first:.0f} ms, last tenth {last:.0f} ms")
    print(f"exact-hit phase kinds: {dict(out['hit_kinds'])}; provider calls in phases 1-2:")
    print(f"  {out['latency_calls']} for {args.n} distinct prompts asked twice")
    hits = out["sem_kinds"]["semantic"]
    print(
        f"semantic: {hits} of {len(PARAPHRASES)} paraphrase pairs hit"
        f" (b-side kinds {dict(out['sem_kinds'])})"
    )
    kinds, n = out["work_kinds"], out["work_n"]
    served = n - kinds[None]
    print(
        f"workload: {n} requests, {out['work_distinct']} distinct: hit rate {served / n:.1%}"
        f" (exact {kinds['exact']}, coalesced {kinds['coalesced']}, miss {kinds[None]});"
        f" provider calls {out['work_calls']} vs {out['work_distinct']} distinct prompts"
    )
    print(f"dead letters: {out['dead']}")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in load[1])}")
    # Neither memory benchmark exposes a function to call here: cache_book.py has only an
    # argparse main(), and semantic_index_bench.run() measures RSS growth, which is only
    # its own in a fresh process (its main() spawns one per library).
    print("memory: run `PYTHONPATH=. .venv/bin/python benchmarks/cache_book.py` (exact entries)")
    print("  and `PYTHONPATH=. .venv/bin/python benchmarks/semantic_index_bench.py` (ANN index)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=500, help="distinct prompts, misses then hits")
    parser.add_argument("--rate", type=float, default=50.0, help="requests per second")
    parser.add_argument("--latency-ms", type=float, default=200.0, help="emulator's fixed")
    args = parser.parse_args()
    load = [os.getloadavg()]
    tmp = Path(tempfile.mkdtemp(prefix="routeyard-cache-bench-"))
    try:
        with DevKafka() as kafka:
            profile = {"seed": 1, "default": {"latency": {"dist": "fixed", "ms": args.latency_ms}}}
            emulator = Emulator(tmp, profile)
            try:
                name = f"cachebench{time.time_ns()}"
                base = ROOT / "config" / "routeyard.example.yaml"
                config = derive_config(base, tmp, emulator.url, name, routes=ROUTES)
                topics: dict[str, str] = yaml.safe_load(config.read_text())["topics"]
                worker = Worker(tmp, config, kafka.bootstrap, tag="gateway", role="gateway")
                try:
                    bench = Bench(kafka.bootstrap, topics, args.rate, emulator)
                    out = asyncio.run(_drive(bench, args.n))
                    out["dead"] = dict(Counter(d.get("reason") for d in bench.dead))
                finally:
                    worker.stop()
            finally:
                emulator.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    load.append(os.getloadavg())
    _report(args, out, load)


if __name__ == "__main__":
    main()
