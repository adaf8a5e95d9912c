"""Memory of the exact cache per 100k entries (issue 13), and the cost of a lookup.

Each entry holds what the stage will keep: a published LLMResponse's JSON (content sizes
mixed like chat answers: many short ones, a long tail), the origin request_id and a
SHA-256 hex key. Two measurements of the same fill:

- **tracemalloc**: bytes still allocated after the fill, minus before (everything the
  book retains, responses included; the tracer's own memory is not counted);
- **RSS delta**: the resident set before and after, in a fresh book before tracemalloc
  runs (includes allocator slack and arena rounding).

The per-entry overhead beyond response + origin is compared with
``policy.cache_book.ENTRY_OVERHEAD_BYTES``, which max_bytes accounting adds per entry.

    PYTHONPATH=. .venv/bin/python benchmarks/cache_book.py [--entries N] [--seed N]
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import os
import random
import statistics
import time
import tracemalloc
from decimal import Decimal

from policy.cache_book import ENTRY_OVERHEAD_BYTES, Asker, BookLimits, CacheBook
from schemas.responses import LLMResponse, TokenUsage

# (share, characters of content): short replies, paragraphs, long answers, code, essays.
MIX = [(0.30, 200), (0.35, 800), (0.25, 2500), (0.08, 6000), (0.02, 16000)]
WORDS = ("the", "of", "a", "to", "in", "is", "that", "for", "it", "as", "with", "be", "on")


def _content(rng: random.Random, chars: int) -> str:
    out: list[str] = []
    n = 0
    while n < chars:
        w = rng.choice(WORDS)
        out.append(w)
        n += len(w) + 1
    return " ".join(out)[:chars]


def _response(rng: random.Random, request_id: str, chars: int) -> bytes:
    return LLMResponse(
        request_id=request_id,
        tenant="acme",
        route="default",
        model="small",
        provider="openai",
        upstream_model="gpt-4o-mini-2024-07-18",
        content=_content(rng, chars),
        finish_reason="stop",
        usage=TokenUsage(input_tokens=rng.randint(20, 2000), output_tokens=chars // 4),
        cost_usd=Decimal("0.000123"),
        attempts=1,
        latency_ms=412.5,
        provider_request_id=f"chatcmpl-{rng.getrandbits(96):024x}",
    ).to_bytes()


def _sizes(rng: random.Random, n: int) -> list[int]:
    shares, chars = zip(*MIX, strict=True)
    return rng.choices(chars, weights=shares, k=n)


def _fill(n: int, seed: int) -> tuple[CacheBook, list[str], int, int]:
    """A book holding n entries, their keys, and the response and origin byte totals."""
    rng = random.Random(seed)
    templates = {c: _response(rng, "r" * 36, c) for _, c in MIX}
    book = CacheBook("default", BookLimits(max_entries=n, max_bytes=2**40, ttl_s=3600.0))
    response_bytes = origin_bytes = 0
    keys: list[str] = []
    for i, chars in enumerate(_sizes(rng, n)):
        request_id = f"{i:036d}"
        # A distinct bytes object per entry, as each fill's message value would be.
        response = templates[chars].replace(b"r" * 36, request_id.encode())
        key = hashlib.sha256(response).hexdigest()
        book.fill(key, request_id, response, now=1000.0, offset=i)
        book.confirm(key, i)
        keys.append(key)
        response_bytes += len(response)
        origin_bytes += len(request_id)
    book.take_dirty()
    return book, keys, response_bytes, origin_bytes


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _lookup_us(book: CacheBook, keys: list[str]) -> tuple[float, float]:
    times = []
    for i, key in enumerate(keys):
        t0 = time.perf_counter_ns()
        book.lookup(key, Asker(f"q{i}", "acme", 5000.0, i), now=1001.0)
        times.append((time.perf_counter_ns() - t0) / 1000)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.99)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()
    n = args.entries
    scale = 100_000 / n

    gc.collect()
    before = _rss()
    book, keys, response_bytes, origin_bytes = _fill(n, args.seed)
    gc.collect()
    rss = _rss() - before
    p50, p99 = _lookup_us(book, random.Random(args.seed).sample(keys, min(20_000, n)))
    accounted = book.bytes
    del book, keys
    gc.collect()

    tracemalloc.start()
    start, _ = tracemalloc.get_traced_memory()
    book, keys, _, _ = _fill(n, args.seed)
    del keys
    gc.collect()
    traced = tracemalloc.get_traced_memory()[0] - start
    tracemalloc.stop()

    payload = response_bytes + origin_bytes
    mib = 2**20
    print(f"entries: {n:,} (figures scaled to 100k)  mean response {response_bytes / n:,.0f} B")
    print(f"  responses + origins      {payload * scale / mib:8.1f} MiB")
    print(
        f"  tracemalloc retained     {traced * scale / mib:8.1f} MiB"
        f"   overhead {(traced - payload) / n:5.0f} B/entry"
    )
    print(
        f"  RSS delta                {rss * scale / mib:8.1f} MiB"
        f"   overhead {(rss - payload) / n:5.0f} B/entry"
    )
    print(
        f"  accounted (book.bytes)   {accounted * scale / mib:8.1f} MiB"
        f"   ENTRY_OVERHEAD_BYTES = {ENTRY_OVERHEAD_BYTES}"
    )
    print(f"  lookup (hit): p50 {p50:.1f} us  p99 {p99:.1f} us")
    del book


if __name__ == "__main__":
    main()
