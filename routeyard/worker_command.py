"""``routeyard worker``: start the stream agents, and the analytics server in the process
that owns the store.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from functools import partial
from typing import TYPE_CHECKING

from routeyard.cli_common import UsageError, gateway_config, kafka_bootstrap
from schemas.config import GatewayConfig

if TYPE_CHECKING:
    import faust

    from store.owner import StoreOwner
    from streams.alerting import AlertMonitor


def cmd_worker(args: argparse.Namespace) -> int:
    import faust
    from aiokafka.errors import KafkaError

    from adapters.credentials import missing_credentials
    from streams.app import create_app
    from streams.topics import TopicCreationFailed, ensure_topics

    config = gateway_config(args.config)
    missing = missing_credentials(config)
    if missing:
        raise UsageError(f"{args.config}: cannot start:\n  " + "\n  ".join(missing))
    if args.role != "analytics":
        from policy.scoring import build_classifier

        # Triage loads the scorer inside its running agent; a model folder that cannot be
        # loaded must stop the start-up here, naming the field, before Kafka is touched.
        build_classifier(config.router)
    use_event_loop(os.environ.get("ROUTEYARD_EVENT_LOOP", "asyncio"))
    bootstrap = kafka_bootstrap(args)
    try:
        asyncio.run(asyncio.wait_for(ensure_topics(bootstrap, config.topics, config.limits), 30))
    except (KafkaError, OSError, TimeoutError) as exc:
        raise UsageError(f"cannot reach Kafka at {bootstrap}: {exc!r}") from exc
    except TopicCreationFailed as exc:
        raise UsageError(f"Kafka at {bootstrap}: {exc}") from exc
    app = create_app(config, bootstrap, args.role, partial(serve_analytics, config=config))
    # httpx logs every request at INFO: at hundreds of calls a second that is ~6% of
    # the worker's CPU (measured with py-spy) and drowns the worker's own log.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    worker = faust.Worker(app, loglevel=args.log_level, quiet=True)
    try:
        worker.execute_from_commandline()  # ends in sys.exit once stopped
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else 1
    else:
        code = 0
    # By now the agents have stopped, the store is closed and the producer flushed. Skip
    # the interpreter's finalization: the embedded store's native threads can crash it
    # (SIGSEGV after a clean stop, seen intermittently in CI), turning exit 0 into -11.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def use_event_loop(name: str) -> None:
    """``ROUTEYARD_EVENT_LOOP=uvloop`` runs the worker on uvloop (what faust's own
    ``--loop uvloop`` does: the policy, set before any loop is made); unset or ``asyncio``
    keeps the standard loop, so the default is unchanged."""
    if name == "asyncio":
        return
    if name != "uvloop":
        raise UsageError(f"ROUTEYARD_EVENT_LOOP={name!r}: expected asyncio or uvloop")
    try:
        import uvloop
    except ImportError as exc:
        raise UsageError("ROUTEYARD_EVENT_LOOP=uvloop but uvloop is not installed") from exc
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def serve_analytics(
    app: faust.App, owner: StoreOwner, monitor: AlertMonitor, *, config: GatewayConfig
) -> None:
    """The query API and dashboard, as a task of the worker that owns the store."""
    from routeyard.web.server import AnalyticsServer

    server = AnalyticsServer(config, owner, monitor)

    async def run_server() -> None:
        await server.start()
        try:
            await asyncio.Event().wait()
        finally:
            await server.stop()

    app.task(run_server)
