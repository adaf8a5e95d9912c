"""Scoring cost of the complexity scorer: latency per request and the RSS it adds.

    PYTHONPATH=. .venv/bin/python benchmarks/router_score.py [--requests N] [--data DIR]

**Latency.** One process pinned to one CPU scores a fixed, seeded mix of requests with the
classifier triage builds (``policy.scoring.build_classifier``): the learned scorer as
shipped, then the heuristic for comparison. The mix is what a gateway sees: mostly short
prompts (RouteLLM's MMLU, GSM8K and MT-bench prompts, 30 to 5,000 characters), some long
ones (8 to 64 KB documents made of those prompts) and a few 900 KB ones. Each call is timed
alone with ``perf_counter_ns`` (request already parsed: the cost of building the
Classification, as triage pays it), after a warm-up of 200 calls.

**RSS.** A fresh child process reads its VmRSS (and the anonymous and file-backed parts)
from /proc/self/status: with what triage imported before (schemas, the heuristic), after
importing the scorer's modules, after loading the shipped model, after 10,000 scores.
The encoder's table (built by ``routeyard router build-encoder``, 30,522 x 256 float16,
15.6 MB) is a read-only file mapping: its pages count in RSS once touched, but they are the
page cache's, shared by every worker process on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

DEFAULT_DATA = Path(__file__).resolve().parent.parent.parent / "shared/datasets/routellm"
SHARES = {"short": 0.90, "long": 0.09, "900KB": 0.01}
WARMUP = 200


def _prompts(data: Path) -> list[str]:
    from routeyard.router_data import load_all_sources

    if data.is_dir():
        return [p for source in load_all_sources(data) for p in source.prompts]
    # Without the datasets: plain sentences of mixed length, still seeded.
    rng = random.Random(7)
    words = ["the", "model", "answers", "a", "question", "about", "code", "math", "proof", "why"]
    return [" ".join(rng.choices(words, k=rng.randint(5, 400))) + "?" for _ in range(2000)]


def build_mix(data: Path, n: int, seed: int) -> list[tuple[str, str]]:
    """(class, prompt) pairs in a seeded order."""
    rng = random.Random(seed)
    prompts = _prompts(data)
    mix: list[tuple[str, str]] = []
    for kind, share in SHARES.items():
        for _ in range(max(1, round(n * share))):
            if kind == "short":
                mix.append((kind, rng.choice(prompts)))
                continue
            size = rng.randint(8_000, 64_000) if kind == "long" else 900_000
            parts: list[str] = []
            total = 0
            while total < size:
                parts.append(rng.choice(prompts))
                total += len(parts[-1]) + 2
            mix.append((kind, "\n\n".join(parts)[:size]))
    rng.shuffle(mix)
    return mix


def _percentile(sorted_ns: Sequence[int], q: float) -> float:
    return sorted_ns[min(len(sorted_ns) - 1, int(q * len(sorted_ns)))] / 1000.0


def time_scorer(
    classify: Callable[[object], object], mix: Sequence[tuple[str, object]]
) -> dict[str, list[int]]:
    for _, request in mix[:WARMUP]:
        classify(request)
    by_kind: dict[str, list[int]] = {"all": [], "all cpu": []}
    for kind, request in mix:
        cpu = time.thread_time_ns()
        start = time.perf_counter_ns()
        classify(request)
        elapsed = time.perf_counter_ns() - start
        cpu = time.thread_time_ns() - cpu
        by_kind.setdefault(kind, []).append(elapsed)
        by_kind.setdefault(f"{kind} cpu", []).append(cpu)
        by_kind["all"].append(elapsed)
        by_kind["all cpu"].append(cpu)
    return by_kind


def _status() -> dict[str, int]:
    fields = {}
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "RssAnon", "RssFile"):
                fields[key] = int(value.split()[0])  # kB
    return fields


def rss_child(n: int) -> None:
    """Runs in a fresh process; prints one JSON line of RSS readings."""
    from policy.classifier import classify  # what triage imported before the scorer
    from schemas.chat import ChatMessage
    from schemas.events import LLMRequest

    readings = {"baseline (schemas, heuristic)": _status()}
    from policy.scoring import build_classifier
    from schemas.router import RouterConfig

    readings["scorer modules imported"] = _status()
    learned = build_classifier(RouterConfig())
    readings["shipped model loaded"] = _status()
    rng = random.Random(3)
    words = ["why", "does", "the", "proof", "fail", "for", "x", "=", "3", "sql", "python"]
    for i in range(n):
        text = " ".join(rng.choices(words, k=rng.randint(3, 300)))
        learned(
            LLMRequest(
                request_id=str(i), tenant="t", messages=[ChatMessage(role="user", content=text)]
            )
        )
    readings[f"after {n} scores"] = _status()
    del classify
    print(json.dumps(readings))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rss-child", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.rss_child:
        rss_child(args.rss_child)
        return 0

    cpu = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    from policy.scoring import build_classifier
    from schemas.chat import ChatMessage
    from schemas.events import LLMRequest
    from schemas.router import RouterConfig

    mix = [
        (
            kind,
            LLMRequest(
                request_id=str(i), tenant="t", messages=[ChatMessage(role="user", content=p)]
            ),
        )
        for i, (kind, p) in enumerate(build_mix(args.data, args.requests, args.seed))
    ]
    counts = {kind: sum(k == kind for k, _ in mix) for kind in SHARES}
    print(
        f"method: one process pinned to CPU {cpu}; {len(mix)} requests in a seeded mix"
        f" ({', '.join(f'{k} {v}' for k, v in counts.items())}; short = RouteLLM prompts,"
        " long = 8-64 KB, 900KB = 900,000 chars), each call timed alone with perf_counter_ns"
        f" after {WARMUP} warm-up calls; a request is parsed before timing."
    )
    load = os.getloadavg()
    print(
        f"load average {load[0]:.2f} on {os.cpu_count()} CPUs (other processes inflate wall"
        " time; cpu = this thread's CPU time per call, CLOCK_THREAD_CPUTIME_ID)"
    )
    print(
        f"{'scorer':<10} {'class':<6} {'n':>6} {'p50 us':>8} {'p99 us':>8} {'max us':>8}"
        f" {'cpu p50':>8} {'cpu p99':>8}"
    )
    for name, router in (
        ("learned", RouterConfig()),
        ("heuristic", RouterConfig(scorer="heuristic")),
    ):
        timings = time_scorer(build_classifier(router), mix)  # type: ignore[arg-type]
        for kind in ("all", *SHARES):
            ns, cpu_ns = sorted(timings[kind]), sorted(timings[f"{kind} cpu"])
            print(
                f"{name:<10} {kind:<6} {len(ns):>6} {_percentile(ns, 0.5):>8.0f}"
                f" {_percentile(ns, 0.99):>8.0f} {ns[-1] / 1000:>8.0f}"
                f" {_percentile(cpu_ns, 0.5):>8.0f} {_percentile(cpu_ns, 0.99):>8.0f}"
            )

    child = subprocess.run(
        [sys.executable, __file__, "--rss-child", "10000"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
    )
    readings: dict[str, dict[str, int]] = json.loads(child.stdout.splitlines()[-1])
    from policy.derived_encoder import default_dir
    from policy.text_encoder import FOLDER_EMBEDDINGS

    table = default_dir() / FOLDER_EMBEDDINGS
    print(f"\nencoder table: {table} ({table.stat().st_size / 1e6:.1f} MB, file-backed)")
    print("\nRSS of a fresh process (MB; anon = private memory, file = mapped files):")
    base = next(iter(readings.values()))["VmRSS"]
    for label, r in readings.items():
        print(
            f"  {label:<32} rss {r['VmRSS'] / 1024:7.1f}  anon {r['RssAnon'] / 1024:7.1f}"
            f"  file {r['RssFile'] / 1024:6.1f}  added {(r['VmRSS'] - base) / 1024:+7.1f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
