"""Latency of PII redaction per request (issue 14): find + mask, all built-in kinds on.

The mix is what a gateway sees: many short chat turns, some pasted code and logs, and a
few very long prompts (a 100 KB and a 900 KB one, built from the same material). Each
request is timed on its own; p50/p99 are printed per size class and over the whole mix,
followed by worst-case inputs (long runs of digits, base64, hex, '@'-dense text) that
would expose a regex going quadratic.

    PYTHONPATH=. .venv/bin/python benchmarks/pii_scan.py [--seed N] [--repeat N]
"""

from __future__ import annotations

import argparse
import base64
import random
import statistics
import time
import uuid
from collections.abc import Callable

from policy.pii import find, mask
from schemas.pii import PiiConfig
from tests.policy.pii_corpus import POSITIVE_GENERATORS, build_corpus

_CODE = '''def connect(host="10.20.30.40", port=5432, retries=3):
    """Open a pooled connection; version 1.4.2.0 of the driver needs the timeout."""
    for attempt in range(retries):
        started = time.monotonic()  # 2024-05-01T10:22:31Z in the incident
        log.info("attempt %d to %s:%d id=%s", attempt, host, port, "{uuid}")
        if ping(host, timeout=0.25 * (attempt + 1)):
            return Pool(host, port, sha="{sha}")
    raise ConnectError(f"{{host}} unreachable after {{retries}} tries")
'''
_LOG = (
    "2024-05-01 10:22:{s:02d}.{ms:03d} INFO  req={uuid} src={ip} path=/v1/orders/{order} "
    "status=200 bytes={n} dur_ms={d} ua=Mozilla/5.0 build 4.{a}.{b}.{c}\n"
)


def filler(rnd: random.Random, size: int, pii_every: int = 4000) -> str:
    """About ``size`` characters of code, logs and prose, with a planted value every
    ``pii_every`` characters or so."""
    cases = build_corpus(rnd.randrange(1 << 30), per_kind=20, per_look_alike=5)
    gens = list(POSITIVE_GENERATORS.values())
    parts: list[str] = []
    length = next_pii = 0
    while length < size:
        roll = rnd.random()
        if roll < 0.3:
            chunk = _CODE.format(
                uuid=uuid.UUID(int=rnd.getrandbits(128)), sha=f"{rnd.getrandbits(160):040x}"
            )
        elif roll < 0.7:
            chunk = _LOG.format(
                s=rnd.randrange(60),
                ms=rnd.randrange(1000),
                uuid=uuid.UUID(int=rnd.getrandbits(128)),
                ip=f"10.{rnd.randrange(256)}.{rnd.randrange(256)}.{rnd.randrange(1, 255)}",
                order=rnd.randrange(10**8),
                n=rnd.randrange(10**7),
                d=rnd.randrange(2000),
                a=rnd.randrange(10),
                b=rnd.randrange(10),
                c=rnd.randrange(10),
            )
        else:
            chunk = rnd.choice(cases).text + "\n"
        if length >= next_pii:
            chunk += f" {rnd.choice(gens)(rnd)[1]}\n"
            next_pii = length + pii_every
        parts.append(chunk)
        length += len(chunk)
    return "".join(parts)[:size]


def _mix(rnd: random.Random) -> list[tuple[str, str]]:
    requests: list[tuple[str, str]] = []
    requests += [("chat <=4 KB", filler(rnd, rnd.randint(200, 4000))) for _ in range(300)]
    requests += [("paste 10-40 KB", filler(rnd, rnd.randint(10_000, 40_000))) for _ in range(30)]
    requests += [("100 KB", filler(rnd, 100_000)) for _ in range(5)]
    requests += [("900 KB", filler(rnd, 900_000)) for _ in range(3)]
    return requests


def _adversarial() -> list[tuple[str, str]]:
    rnd = random.Random(0)
    b64 = base64.b64encode(rnd.randbytes(675_000)).decode()
    return [
        ("900 KB digits", "".join(rnd.choice("0123456789") for _ in range(900_000))),
        ("900 KB digits+spaces", " ".join(f"{rnd.randrange(10_000):04d}" for _ in range(180_000))),
        ("900 KB base64", b64),
        ("900 KB hex+colons", ":".join(f"{rnd.randrange(65_536):04x}" for _ in range(180_000))),
        ("900 KB '@.' dense", "a@b." * 225_000),
        ("900 KB uppercase words", " ".join("AB12" for _ in range(180_000))),
        ("900 KB dotted", ".".join(str(rnd.randrange(256)) for _ in range(250_000))),
    ]


def _time(run: Callable[[str], object], text: str, repeat: int) -> tuple[float, float]:
    """(wall, CPU) seconds of the fastest of ``repeat`` runs. CPU time is what the scan
    costs; wall time also counts waiting for a core on a busy machine."""
    best = (float("inf"), float("inf"))
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        run(text)
        best = min(best, (time.perf_counter() - wall, time.process_time() - cpu))
    return best


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--repeat", type=int, default=1, help="runs per request; the best counts")
    args = parser.parse_args()
    config = PiiConfig()

    def run(text: str) -> str:
        return mask(text, find(text, config))

    run("warm up the regex cache and phonenumbers' metadata: call +44 20 7946 0958")
    mix = _mix(random.Random(args.seed))
    walls: dict[str, list[float]] = {}
    cpus: dict[str, list[float]] = {}
    sizes: dict[str, int] = {}
    for label, text in mix:
        wall, cpu = _time(run, text, args.repeat)
        walls.setdefault(label, []).append(wall)
        cpus.setdefault(label, []).append(cpu)
        sizes[label] = sizes.get(label, 0) + len(text)
    walls["whole mix"] = [t for label in list(walls) for t in walls[label]]
    cpus["whole mix"] = [t for label in list(cpus) for t in cpus[label]]
    sizes["whole mix"] = sum(sizes.values())
    print(
        f"{'class':<16} {'n':>4} {'wall p50':>9} {'wall p99':>9} "
        f"{'cpu p50':>8} {'cpu p99':>8} {'cpu MB/s':>8}   (ms)"
    )
    for label, wall_times in walls.items():
        cpu_times = cpus[label]
        rate = sizes[label] / sum(cpu_times) / 1e6
        print(
            f"{label:<16} {len(wall_times):>4} {_pct(wall_times, 0.5) * 1e3:>9.2f} "
            f"{_pct(wall_times, 0.99) * 1e3:>9.2f} {_pct(cpu_times, 0.5) * 1e3:>8.2f} "
            f"{_pct(cpu_times, 0.99) * 1e3:>8.2f} {rate:>8.1f}"
        )
    print(f"mean CPU over the mix: {statistics.fmean(cpus['whole mix']) * 1e3:.2f} ms per request")
    print("worst-case inputs (CPU ms, one run each):")
    for label, text in _adversarial():
        print(f"  {label:<24} {_time(run, text, 1)[1] * 1e3:>8.1f}")


if __name__ == "__main__":
    main()
