"""``routeyard router``: build the encoder for, train, evaluate and calibrate the complexity
scorer.

Each subcommand lives in its own module exposing ``add_arguments(parser)`` and
``run(args) -> int``. Their module level stays light (numpy, the encoder and the datasets
are imported inside ``run``), because building the parser imports every one of them.
"""

from __future__ import annotations

import argparse
import importlib
from typing import Any

_SUBCOMMANDS = {
    "build-encoder": (
        "routeyard.router_encoder",
        "derive the learned scorer's static encoder from its pinned jar (once per machine)",
    ),
    "train": ("routeyard.router_train", "fit the learned scorer and write its model folder"),
    "eval": (
        "routeyard.router_evaluate",
        "APGR and CPT per source for the learned score, the heuristic, length and random",
    ),
    "calibrate": (
        "routeyard.calibrate",
        "tier thresholds that meet a share-to-strong or cost target on a prompt sample",
    ),
}


def add_router_parser(sub: Any) -> None:
    router = sub.add_parser("router", help="train, evaluate and calibrate the complexity scorer")
    commands = router.add_subparsers(dest="router_command", required=True)
    for name, (module_name, help_text) in _SUBCOMMANDS.items():
        p = commands.add_parser(name, help=help_text)
        importlib.import_module(module_name).add_arguments(p)
        p.set_defaults(func=_runner(module_name))


def _runner(module_name: str) -> Any:
    def run(args: argparse.Namespace) -> int:
        return int(importlib.import_module(module_name).run(args))

    return run
