"""Honest evaluation of the complexity score against RouteLLM's data (issue 12, part 2).

The same table as ``routeyard router eval``: APGR and CPT(50%)/CPT(80%) per source (the
test fifth of MMLU and of GSM8K, never trained or tuned on, and MT-bench turn 1, never
trained on) for the learned score, the heuristic, prompt length and random. The loaders
and the split live in routeyard/router_data.py, the evaluation in
routeyard/router_evaluate.py.

    PYTHONPATH=. .venv/bin/python benchmarks/router_eval.py [--data DIR] [--model-dir DIR]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from routeyard import router_evaluate
from routeyard.router_data import (
    STRONG_MODEL,
    WEAK_MODEL,
    DataError,
    Source,
    load_correctness_csv,
    load_gsm8k,
    load_mmlu,
    load_mt_bench,
)

__all__ = [
    "STRONG_MODEL",
    "WEAK_MODEL",
    "DataError",
    "Source",
    "load_correctness_csv",
    "load_gsm8k",
    "load_mmlu",
    "load_mt_bench",
    "main",
]

DEFAULT_DATA = Path(__file__).resolve().parent.parent.parent / "shared/datasets/routellm"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    router_evaluate.add_arguments(parser)
    args = parser.parse_args(argv)
    args.data = args.data or DEFAULT_DATA
    from routeyard.cli import UsageError

    try:
        return router_evaluate.run(args)
    except UsageError as exc:
        print(f"router_eval: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
