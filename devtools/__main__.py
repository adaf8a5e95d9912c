"""``python -m devtools``: the development commands (dev broker, demo, chaos run).

They live apart from the ``routeyard`` command because they need a source checkout
(the Kafka pom, the example configs) and are not in the installed package.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

# The detached broker's state (pid, bootstrap, data), beside the demo's folder.
KAFKA_STATE_DIR = Path(".routeyard") / "kafka"


def cmd_kafka(args: argparse.Namespace) -> int:
    from devtools.kafka import daemon

    if args.action == "start":
        print(daemon.main_start(KAFKA_STATE_DIR))
    else:
        daemon.main_stop(KAFKA_STATE_DIR)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from devtools.demo import run_demo

    return run_demo(requests=args.requests, config_path=args.config)


def cmd_chaos(args: argparse.Namespace) -> int:
    from devtools.chaos import cli

    return cli.main(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m devtools", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("kafka", help="start or stop the local development broker")
    p.add_argument("action", choices=["start", "stop"])
    p.set_defaults(func=cmd_kafka)

    p = sub.add_parser("demo", help="run the whole pipeline on sample traffic")
    p.add_argument("--config", default="config/routeyard.example.yaml")
    p.add_argument("--requests", type=int, default=300)
    p.set_defaults(func=cmd_demo)

    from devtools.chaos import cli as chaos_cli

    p = sub.add_parser(
        "chaos",
        help="crashes and outages against the delivery promise; exits 1 when it is broken",
        description=chaos_cli.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    chaos_cli.add_arguments(p)
    p.set_defaults(func=cmd_chaos)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    from devtools.kafka import DevKafkaError
    from schemas.config_loader import ConfigError
    from store import StoreUnavailable

    try:
        return int(args.func(args))
    except (ConfigError, DevKafkaError, StoreUnavailable) as exc:
        print(f"devtools: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
