"""Run the front door until stopped: the Kafka client, readiness, the HTTP site."""

from __future__ import annotations

import asyncio
import logging
import signal

from aiohttp import web

from routeyard.client import RouteyardClient
from routeyard.front.readiness import Readiness
from routeyard.front.server import FrontDoor
from schemas.config import GatewayConfig

log = logging.getLogger(__name__)


async def serve(config: GatewayConfig, bootstrap: str) -> None:
    settings = config.serve
    client = RouteyardClient(
        bootstrap,
        config.topics,
        max_pending=settings.max_pending,
        max_request_bytes=config.limits.max_request_bytes,
    )
    await client.start()
    ready = Readiness(bootstrap, config.app_id, client.book)
    await ready.start()
    runner = web.AppRunner(FrontDoor(config, client, ready).make_app(), access_log=None)
    try:
        await runner.setup()
        # aiohttp's default backlog (128) is below the bursts of concurrent callers a
        # front door meets; connections past the backlog would be refused.
        await web.TCPSite(runner, settings.host, settings.port, backlog=2048).start()
        # The line tests and supervisors wait for.
        log.warning("routeyard serve listening on http://%s", settings.listen)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    finally:
        await runner.cleanup()
        await ready.stop()
        await client.stop()
