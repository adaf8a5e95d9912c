"""``python -m devtools chaos`` (``make chaos``): the chaos run, its report and a verdict.

Method: a Kafka broker (KAFKA_BOOTSTRAP, else a throw-away one), the provider emulator
(lognormal latency, 429/5xx, hangs past the provider timeout) and worker processes (two
gateway workers and one analytics process once ``routeyard worker --role`` exists, else
one worker doing everything), all on this machine. Requests are published at a steady
rate, with bad events and image-by-URL requests among them, while faults happen at
planned times; the scenario is this package, shared with
``tests/integration/test_chaos.py``. Prints the method with the times faults actually
happened, then the table. Exits 1 when a request is lost, a request has conflicting
outcomes, a bad event has no dead letter, or the usage rows do not match the provider
calls the emulator counted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from devtools.chaos.plan import ChaosPlan
from devtools.chaos.report import render
from devtools.chaos.result import ChaosResult
from devtools.chaos.run import run_chaos
from devtools.kafka import DevKafka
from devtools.stack import stop_all


def add_arguments(p: argparse.ArgumentParser) -> None:
    full = ChaosPlan()
    p.add_argument("--small", action="store_true", help="the CI scale (tests/integration)")
    p.add_argument("--requests", type=int, help=f"valid requests ({full.requests})")
    p.add_argument("--rate", type=float, help=f"events per second ({full.rate:g})")
    p.add_argument("--kills", type=int, help=f"gateway SIGKILLs ({full.kills})")
    p.add_argument("--provider-outage-s", type=float, help=f"({full.provider_outage_s:g})")
    p.add_argument("--store-outage-s", type=float, help=f"({full.store_outage_s:g})")
    p.add_argument("--provider-timeout-s", type=float, help=f"({full.provider_timeout_s:g})")
    p.add_argument("--hang-rate", type=float, help=f"({full.hang_rate:g})")
    p.add_argument("--drain-deadline-s", type=float, help=f"({full.drain_deadline_s:g})")
    p.add_argument("--topology", choices=["auto", "split", "single"], help="(auto)")
    p.add_argument("--seed", type=int, help=f"({full.seed})")
    p.add_argument(
        "--inline-first-attempts",
        action=argparse.BooleanOptionalAction,
        help="the workers' dispatch.inline_first_attempts (on, the gateway's default)",
    )
    p.add_argument("--keep", action="store_true", help="keep the run's folder (logs, store)")


def plan_from(args: argparse.Namespace) -> ChaosPlan:
    """The full-scale plan (or the CI scale with ``--small``) with the given knobs."""
    base = ChaosPlan.small() if args.small else ChaosPlan()
    given = {
        key: value
        for key, value in vars(args).items()
        if key in ChaosPlan.model_fields and value is not None
    }
    return base.model_copy(update=given)


async def _run(plan: ChaosPlan, bootstrap: str, tmp: Path) -> ChaosResult:
    return await run_chaos(plan, bootstrap, tmp, f"chaos{time.time_ns()}")


def main(args: argparse.Namespace) -> int:
    plan = plan_from(args)
    tmp = Path(tempfile.mkdtemp(prefix="routeyard-chaos-"))
    result: ChaosResult | None = None
    try:
        given = os.environ.get("KAFKA_BOOTSTRAP")
        if given:
            result = asyncio.run(_run(plan, given, tmp))
        else:
            with DevKafka() as kafka:
                result = asyncio.run(_run(plan, kafka.bootstrap, tmp))
    finally:
        stop_all()
        failed = result is None or bool(result.failures())
        if args.keep or failed:
            print(f"logs and store kept in {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print(render(result))
    return 1 if result.failures() else 0
