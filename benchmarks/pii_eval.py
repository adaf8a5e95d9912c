"""Precision and recall of the PII detectors per kind, on the generated corpus (issue 14).

The corpus (tests/policy/pii_corpus.py) plants values of every kind, each valid by its
format's rules, in filler prose, and adds look-alikes that must not match. A planted value
counts as recalled when a finding of its kind covers all of it; a finding counts as a true
positive when it overlaps a planted value of its kind, otherwise as a false positive (the
look-alike or wrong-kind case it came from is listed).

    PYTHONPATH=. .venv/bin/python benchmarks/pii_eval.py [--seed N] [--per-kind N]
"""

from __future__ import annotations

import argparse

from policy.pii import find
from schemas.pii import PiiConfig
from tests.policy.pii_corpus import LOOK_ALIKES, build_corpus, score


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--per-kind", type=int, default=150)
    parser.add_argument("--per-look-alike", type=int, default=60)
    args = parser.parse_args()

    config = PiiConfig()
    cases = build_corpus(args.seed, args.per_kind, args.per_look_alike)
    scores = score(cases, lambda text: find(text, config))
    print(
        f"corpus: seed {args.seed}, {len(cases)} texts, {args.per_kind} planted values per "
        f"kind, {args.per_look_alike} texts for each of {len(LOOK_ALIKES)} look-alike shapes"
    )
    header = f"{'kind':<14} {'planted':>7} {'found':>6} {'precision':>9} {'recall':>7}"
    print(f"{header}  false positives (where from)")
    for kind, s in sorted(scores.items()):
        fps = ", ".join(f"{label} {n}" for label, n in sorted(s.false_positive_labels.items()))
        row = f"{kind:<14} {s.planted:>7} {s.found:>6} {s.precision:>9.3f} {s.recall:>7.3f}"
        print(f"{row}  {fps or '-'}")


if __name__ == "__main__":
    main()
