"""The analytics process's HTTP server: the query API and the dashboard's files.

aiohttp, because the worker already runs on it (faust and the HTTP client pull it in)
and it serves from the worker's own event loop, next to the usage sink. Every query runs
on the store owner's thread (store/owner.py), so the dashboard can be used while the
sink inserts. Read-only, with no authentication of its own: it listens on loopback by
default (``analytics.listen``).
"""

from __future__ import annotations

import logging
from pathlib import Path

import orjson
from aiohttp import web

from routeyard.web.api import ENDPOINTS, answer
from schemas.config import GatewayConfig
from store.backends import StoreUnavailable
from store.owner import StoreOwner
from store.queries import QueryError
from streams.alerting import AlertMonitor

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"


def _json(body: object, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


def _error(status: int, message: str, param: str | None = None) -> web.Response:
    return _json({"error": {"message": message, "param": param}}, status)


class AnalyticsServer:
    def __init__(
        self, config: GatewayConfig, owner: StoreOwner, alerts: AlertMonitor | None = None
    ) -> None:
        self.config = config
        self.owner = owner
        self.alerts = alerts
        self._runner: web.AppRunner | None = None
        self.listening = False

    def make_app(self) -> web.Application:
        app = web.Application()
        for endpoint in ENDPOINTS:
            app.router.add_get(endpoint, self._api)
        app.router.add_get("/api/alerts", self._alerts)
        app.router.add_get("/", self._to_dashboard)
        app.router.add_get("/dashboard", self._to_dashboard)
        app.router.add_get("/dashboard/", self._index)
        app.router.add_static("/dashboard/", STATIC, show_index=False)
        return app

    async def _api(self, request: web.Request) -> web.Response:
        params = dict(request.query)
        try:
            body = await self.owner.run(
                lambda store: answer(request.path, params, store, self.config)
            )
        except QueryError as exc:
            return _error(400, str(exc), exc.param)
        except StoreUnavailable as exc:
            return _error(503, f"the store cannot answer: {exc}")
        return _json(body)

    async def _alerts(self, request: web.Request) -> web.Response:
        """The alert rules and their firing keys, from the monitor's memory (no store)."""
        if self.alerts is None:
            return _json({"rules": [], "stats": None})
        return _json({"rules": self.alerts.state(), "stats": self.alerts.stats()})

    async def _to_dashboard(self, request: web.Request) -> web.Response:
        raise web.HTTPFound("/dashboard/")

    async def _index(self, request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC / "index.html")

    async def start(self) -> None:
        """Listen on ``analytics.listen``; a taken port is logged, not fatal to the sink."""
        settings = self.config.analytics
        runner = web.AppRunner(self.make_app(), access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, settings.host, settings.port).start()
        except OSError as exc:
            log.error(
                "analytics API and dashboard not served: cannot listen on %s (%s);"
                " the usage sink goes on",
                settings.listen,
                exc,
            )
            await runner.cleanup()
            return
        self._runner = runner
        self.listening = True
        log.info("analytics API and dashboard on %s/dashboard/", settings.url)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
            self.listening = False
