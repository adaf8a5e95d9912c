"""The ``routeyard`` command: worker, serve, hash-key, emulate, report, score, router,
budgets, health, check-config.

The development commands (the dev broker, demo, chaos run) are ``python -m devtools``:
they need a source checkout and are not part of the installed package.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

from routeyard.cli_common import DEFAULT_BOOTSTRAP, UsageError, gateway_config, kafka_bootstrap
from routeyard.report_command import add_report_parser
from routeyard.router_cli import add_router_parser
from routeyard.worker_command import cmd_worker
from schemas.config_loader import ConfigError

# The subcommand modules (routeyard router ...) raise UsageError imported from here.
__all__ = ["UsageError"]

T = TypeVar("T")


def cmd_check_config(args: argparse.Namespace) -> int:
    from adapters.credentials import missing_credentials

    config = gateway_config(args.config)
    missing = missing_credentials(config)
    for line in missing:
        print(f"{args.config}: {line}", file=sys.stderr)
    if missing:
        return 2
    print(
        f"{args.config}: ok — {len(config.providers)} providers, {len(config.models)} models,"
        f" {len(config.routes)} routes"
    )
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from aiokafka.errors import KafkaError

    from routeyard.front.run import serve
    from streams.topics import TopicCreationFailed, ensure_topics

    config = gateway_config(args.config)
    if args.listen:
        config = config.model_copy(
            update={"serve": config.serve.model_copy(update={"listen": args.listen})}
        )
    if not config.serve.api_keys:
        raise UsageError(f"{args.config}: serve.api_keys is empty: no caller could be let in")
    bootstrap = kafka_bootstrap(args)
    try:
        asyncio.run(asyncio.wait_for(ensure_topics(bootstrap, config.topics, config.limits), 30))
        asyncio.run(serve(config, bootstrap))
    except (KafkaError, TimeoutError) as exc:
        raise UsageError(f"cannot reach Kafka at {bootstrap}: {exc!r}") from exc
    except TopicCreationFailed as exc:
        raise UsageError(f"Kafka at {bootstrap}: {exc}") from exc
    except OSError as exc:
        raise UsageError(f"cannot serve on {config.serve.listen}: {exc}") from exc
    return 0


def cmd_hash_key(args: argparse.Namespace) -> int:
    import hashlib

    key = sys.stdin.readline().strip()
    if not key:
        raise UsageError('hash-key: give the key on stdin (e.g. printf %s "$KEY" | ...)')
    print(hashlib.sha256(key.encode()).hexdigest())
    return 0


def cmd_emulate(args: argparse.Namespace) -> int:
    from emulator.profile import load_emulator_config
    from emulator.server import run

    config = load_emulator_config(args.config) if args.config else None
    run(config, host=args.host, port=args.port)
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    from contextlib import ExitStack

    from routeyard.score import BadLine, score_lines, scorer_for

    scorer = scorer_for(gateway_config(args.config))
    name = "<stdin>" if args.input == "-" else args.input
    bad = scored = 0
    with ExitStack() as files:
        try:
            source = sys.stdin.buffer
            if args.input != "-":
                source = files.enter_context(open(args.input, "rb"))
            sink = sys.stdout.buffer
            if args.output != "-":
                sink = files.enter_context(open(args.output, "wb"))
        except OSError as exc:
            raise UsageError(f"score: {exc}") from exc
        for result in score_lines(source, scorer):
            if isinstance(result, BadLine):
                bad += 1
                print(f"{name}:{result.line}: {result.reason}", file=sys.stderr)
            else:
                scored += 1
                sink.write(result.encode() + b"\n")
    if bad:
        print(f"routeyard score: {bad} bad lines skipped, {scored} scored", file=sys.stderr)
    return 2 if bad else 0


def cmd_budgets(args: argparse.Namespace) -> int:
    from routeyard.budgets import budget_rows, budgets_json, format_budgets
    from schemas.base import utcnow
    from streams.tenant_state import read_snapshots

    config = gateway_config(args.config)
    if not config.admission.enabled:
        off = "admission is off: the config sets neither admission.default nor admission.tenants"
        print("[]" if args.format == "json" else off)
        return 0
    found = _read_topic(kafka_bootstrap(args), config.topics.admission_state, read_snapshots)
    now = utcnow()
    rows = budget_rows(config, (s for part in found.values() for s in part.values()), now)
    print(budgets_json(rows) if args.format == "json" else format_budgets(rows, now))
    return 0


def _read_topic(bootstrap: str, topic: str, read: Callable[[str, str], Awaitable[T]]) -> T:
    """``read(bootstrap, topic)`` within 30 s; Kafka's failures as a UsageError naming both."""
    from aiokafka.errors import KafkaError

    try:
        return asyncio.run(asyncio.wait_for(read(bootstrap, topic), 30))
    except (KafkaError, OSError, TimeoutError) as exc:
        raise UsageError(f"cannot read {topic} from Kafka at {bootstrap}: {exc!r}") from exc
    except RuntimeError as exc:  # the topic does not exist: no worker has created it yet
        raise UsageError(f"Kafka at {bootstrap}: {exc}") from exc


def cmd_health(args: argparse.Namespace) -> int:
    from routeyard.health import format_health, health_json, health_rows
    from schemas.base import utcnow
    from streams.health import read_health

    config = gateway_config(args.config)
    found = _read_topic(kafka_bootstrap(args), config.topics.health, read_health)
    now = utcnow()
    rows = health_rows(config, found.values(), now)
    print(health_json(rows) if args.format == "json" else format_health(rows, now))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="routeyard", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("worker", help="run the stream agents")
    p.add_argument("--config", required=True)
    p.add_argument(
        "--bootstrap", help=f"Kafka bootstrap (env KAFKA_BOOTSTRAP, {DEFAULT_BOOTSTRAP})"
    )
    p.add_argument("--log-level", default="info")
    p.add_argument(
        "--role",
        choices=["gateway", "analytics", "all"],
        default="all",
        help="gateway: triage, admission, dispatch, retry (scale out); analytics: the usage"
        " sink, which owns the embedded store (one process); all: both (default)",
    )
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser("serve", help="the OpenAI-compatible HTTP API over the pipeline")
    p.add_argument("--config", required=True)
    p.add_argument(
        "--bootstrap", help=f"Kafka bootstrap (env KAFKA_BOOTSTRAP, {DEFAULT_BOOTSTRAP})"
    )
    p.add_argument("--listen", help="host:port (default: serve.listen in the config)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("hash-key", help="the SHA-256 of an API key read from stdin")
    p.set_defaults(func=cmd_hash_key)

    p = sub.add_parser("emulate", help="serve the provider emulator")
    p.add_argument("--config", help="emulator YAML (latency, faults)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8400)
    p.set_defaults(func=cmd_emulate)

    add_report_parser(sub)

    p = sub.add_parser(
        "score", help="the worker's complexity score, tier and task type for JSON-lines prompts"
    )
    p.add_argument("--config", required=True)
    p.add_argument(
        "--input", default="-", help='JSON lines {"id", "prompt" or "messages"}; - is stdin'
    )
    p.add_argument(
        "--output", default="-", help="JSON lines {id, score, tier, task_type}; - is stdout"
    )
    p.set_defaults(func=cmd_score)

    add_router_parser(sub)

    p = sub.add_parser(
        "budgets", help="each tenant's budgets this period: spent, reserved, remaining"
    )
    p.add_argument("--config", required=True)
    p.add_argument(
        "--bootstrap", help=f"Kafka bootstrap (env KAFKA_BOOTSTRAP, {DEFAULT_BOOTSTRAP})"
    )
    p.add_argument("--format", choices=["table", "json"], default="table")
    p.set_defaults(func=cmd_budgets)

    p = sub.add_parser(
        "health", help="each deployment's circuit breaker state, error rate and latency"
    )
    p.add_argument("--config", required=True)
    p.add_argument(
        "--bootstrap", help=f"Kafka bootstrap (env KAFKA_BOOTSTRAP, {DEFAULT_BOOTSTRAP})"
    )
    p.add_argument("--format", choices=["table", "json"], default="table")
    p.set_defaults(func=cmd_health)

    p = sub.add_parser("check-config", help="validate a config file")
    p.add_argument("config")
    p.set_defaults(func=cmd_check_config)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    from store import StoreUnavailable

    try:
        return int(args.func(args))
    except (ConfigError, UsageError, StoreUnavailable) as exc:
        print(f"routeyard: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    # Under ``python -m`` this file is __main__, a second copy of routeyard.cli: run the
    # imported module's main, the one the subcommand modules' own imports share.
    from routeyard.cli import main as package_main

    sys.exit(package_main())
