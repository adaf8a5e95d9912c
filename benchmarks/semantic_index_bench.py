"""ANN libraries for the semantic cache's index (issue 13): usearch and hnswlib, against exact
search, on static embeddings of synthetic prompts.

Entries: ``--entries`` prompts of 4 to 12 words drawn from the encoder's vocabulary, embedded
by the router's static encoder (clustered like real prompts, unlike uniform noise). Queries:
half are stored prompts with one word replaced (what a cache lookup looks like), half are
new prompts. Both libraries get the same graph settings (16 links per node, 128 candidates
while adding, 64 while searching), cosine by inner product of unit vectors, one thread. Each
library runs in its own process so that its resident memory is its own.

    PYTHONPATH=. .venv/bin/python benchmarks/semantic_index_bench.py [--entries 100000]

hnswlib (an sdist only) is measured when importable; it is not a routeyard dependency.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from policy.derived_encoder import default_dir
from policy.semantic_match import DEFAULT_THRESHOLD
from policy.text_encoder import load_folder

LINKS, ADD_EF, SEARCH_EF, K = 16, 128, 64, 10
Rows = npt.NDArray[np.float32]


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def data(entries: int, queries: int, seed: int) -> tuple[Rows, Rows]:
    encoder = load_folder(default_dir())
    vocab = json.loads((default_dir() / "tokenizer.json").read_text())["model"]["vocab"]
    words = sorted(w for w in vocab if w.isalpha() and len(w) > 2)
    rng = np.random.default_rng(seed)
    texts = [
        " ".join(words[i] for i in rng.integers(0, len(words), rng.integers(4, 13)))
        for _ in range(entries)
    ]
    asked = []
    for i in range(queries):
        if i % 2 == 0:
            parts = texts[int(rng.integers(0, entries))].split()
            parts[int(rng.integers(0, len(parts)))] = words[int(rng.integers(0, len(words)))]
            asked.append(" ".join(parts))
        else:
            asked.append(" ".join(words[j] for j in rng.integers(0, len(words), 8)))
    return encoder.embed(texts), encoder.embed(asked)


def exact_top(stored: Rows, queries: Rows, k: int) -> npt.NDArray[np.int64]:
    scores = queries @ stored.T
    return np.argsort(-scores, axis=1, kind="stable")[:, :k]


def usearch_lib(
    dim: int, dtype: str
) -> tuple[Any, Callable[..., Any], Callable[..., Any], Callable[..., Any]]:
    from usearch.index import Index

    index = Index(
        ndim=dim,
        metric="ip",
        dtype=dtype,
        connectivity=LINKS,
        expansion_add=ADD_EF,
        expansion_search=SEARCH_EF,
    )

    def add(keys: npt.NDArray[np.int64], rows: Rows) -> None:
        index.add(keys.astype(np.uint64), rows, threads=1)

    def search(row: Rows, k: int) -> list[int]:
        return [int(x) for x in index.search(row, k, threads=1).keys]

    def remove(keys: npt.NDArray[np.int64]) -> None:
        index.remove(keys.astype(np.uint64))

    return index, add, search, remove


def hnswlib_lib(
    dim: int, capacity: int
) -> tuple[Any, Callable[..., Any], Callable[..., Any], Callable[..., Any]]:
    import hnswlib

    index = hnswlib.Index(space="ip", dim=dim)
    index.init_index(
        max_elements=capacity, ef_construction=ADD_EF, M=LINKS, allow_replace_deleted=True
    )
    index.set_ef(SEARCH_EF)
    index.set_num_threads(1)

    def add(keys: npt.NDArray[np.int64], rows: Rows) -> None:
        index.add_items(rows, keys, num_threads=1)

    def search(row: Rows, k: int) -> list[int]:
        labels, _ = index.knn_query(row, k=k, num_threads=1)
        return [int(x) for x in labels[0]]

    def remove(keys: npt.NDArray[np.int64]) -> None:
        for key in keys:
            index.mark_deleted(int(key))

    return index, add, search, remove


def run(library: str, entries: int, queries: int, seed: int, dtype: str) -> dict[str, Any]:
    stored, asked = data(entries, queries, seed)
    truth = exact_top(stored, asked, K)
    keys = np.arange(entries, dtype=np.int64)
    gc.collect()
    before = rss_mib()
    started = time.perf_counter()
    if library == "usearch":
        index, add, search, remove = usearch_lib(stored.shape[1], dtype)
    else:
        index, add, search, remove = hnswlib_lib(stored.shape[1], entries)
    add(keys, stored)
    build_s = time.perf_counter() - started
    grown = rss_mib() - before
    latencies, hit1, hit10 = [], 0, 0
    near, near_hit = 0, 0  # queries whose best stored entry is within the default threshold
    for i, row in enumerate(asked):
        t0 = time.perf_counter()
        found = search(row, K)
        latencies.append(time.perf_counter() - t0)
        hit1 += found[0] == truth[i, 0]
        hit10 += len(set(found) & set(truth[i].tolist()))
        if float(stored[truth[i, 0]] @ row) >= DEFAULT_THRESHOLD:
            near += 1
            near_hit += found[0] == truth[i, 0]
    # TTL eviction: a tenth of the entries go; the rest must still be found.
    gone = keys[::10]
    remove(gone)
    alive = np.ones(entries, bool)
    alive[gone] = False
    live_keys = keys[alive]
    truth_after = live_keys[exact_top(stored[alive], asked, 1)[:, 0]]
    after = sum(search(row, K)[0] == truth_after[i] for i, row in enumerate(asked))
    exact = []
    for row in asked[:200]:
        t0 = time.perf_counter()
        scores = stored @ row
        np.argpartition(-scores, K)[:K]
        exact.append(time.perf_counter() - t0)
    p50, p99 = np.percentile(np.asarray(latencies) * 1e3, [50, 99])
    out = {
        "library": library if library == "hnswlib" else f"usearch {dtype}",
        "entries": entries,
        "build_s": round(build_s, 1),
        "rss_growth_mib": round(grown, 1),
        "recall_at_1": round(hit1 / queries, 4),
        "recall_at_10": round(hit10 / (queries * K), 4),
        f"recall_at_1_of_{near}_queries_with_a_neighbour_at_cos_{DEFAULT_THRESHOLD}": round(
            near_hit / max(near, 1), 4
        ),
        "recall_at_1_after_removing_10pct": round(after / queries, 4),
        "query_p50_ms": round(float(p50), 3),
        "query_p99_ms": round(float(p99), 3),
        "exact_numpy_p50_ms": round(float(np.percentile(exact, 50) * 1e3), 3),
    }
    if library == "usearch":
        out["reported_bytes"] = int(index.memory_usage)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=1_000)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--library", choices=["usearch", "hnswlib"], default=None)
    parser.add_argument("--dtype", choices=["f32", "f16", "i8"], default="f16")
    args = parser.parse_args()
    if args.library is not None:
        print(json.dumps(run(args.library, args.entries, args.queries, args.seed, args.dtype)))
        return
    for library, dtype in (("usearch", "f32"), ("usearch", "f16"), ("hnswlib", "f32")):
        if importlib.util.find_spec(library) is None:
            print(f"{library}: not installed, skipped")
            continue
        argv = [sys.executable, __file__, "--library", library, "--entries", str(args.entries)]
        argv += ["--queries", str(args.queries), "--seed", str(args.seed), "--dtype", dtype]
        result = subprocess.run(argv, capture_output=True, text=True, check=True)
        print(result.stdout.strip())


if __name__ == "__main__":
    main()
