"""Two code trees' gateway workers under the same load: CPU per request, before vs after.

On a shared 2-core machine one run's CPU milliseconds per request move by 10-25 % with
what else runs (others' tests, the broker's JIT); two runs taken minutes apart do not
compare a 10 % change. Here ``benchmarks/gateway_cost.py`` runs with two gateway workers
in one consumer group, ``gw0`` started from tree A and ``gw1`` from tree B: the same
broker, the same requests, the same moment. Each owns half the partitions, so each
handles about half the requests; its "per worker ms" (CPU / all requests) times two is
its CPU per request handled. Run it twice with the trees swapped (``--swap``) to cancel
an uneven partition split.

    .venv/bin/python benchmarks/gateway_cost_paired.py /tmp/base . --requests 4000

A tree is a checkout (a git worktree does): its ``routeyard.cli`` and everything it
imports are loaded from there, with this venv's packages.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import devtools.stack as stack  # noqa: E402
from benchmarks import gateway_cost  # noqa: E402


def runner(tree: Path) -> list[str]:
    """``python -m routeyard.cli`` importing from ``tree`` (the child's cwd and path[0])."""
    code = (
        "import os, runpy, sys; "
        f"os.chdir({str(tree)!r}); sys.path[0] = {str(tree)!r}; sys.argv[0] = 'routeyard'; "
        "runpy.run_module('routeyard.cli', run_name='__main__', alter_sys=True)"
    )
    return [sys.executable, "-c", code]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("tree_a", type=Path, help="gw0's checkout (e.g. the baseline)")
    p.add_argument("tree_b", type=Path, help="gw1's checkout (e.g. this one)")
    p.add_argument("--swap", action="store_true", help="gw0 from B and gw1 from A")
    args, rest = p.parse_known_args()
    trees = [args.tree_a.resolve(), args.tree_b.resolve()]
    if args.swap:
        trees.reverse()
    original = stack.Worker.__init__

    def init(
        self: stack.Worker, tmp: Path, config: Path, bootstrap: str, *a: Any, **kw: Any
    ) -> None:
        tag = kw.get("tag", a[0] if a else "worker")
        saved = stack.ROUTEYARD
        if tag in ("gw0", "gw1"):
            stack.ROUTEYARD = runner(trees[int(tag[-1])])
        try:
            original(self, tmp, config, bootstrap, *a, **kw)
        finally:
            stack.ROUTEYARD = saved

    stack.Worker.__init__ = init  # type: ignore[method-assign]
    print(f"gw0: {trees[0]}\ngw1: {trees[1]}")
    gateway_cost.main(["--workers", "2", *rest])


if __name__ == "__main__":
    main()
