"""The emulator's HTTP server: every wire format on one port, plus its controls and health.

Routes: each wire's own (``emulator.registry``), the ``/_emulator/`` controls (stats,
outage, fault, latency: emulator/controls.py), ``POST /_emulator/cut`` (emulator/streaming.py),
``GET``/``DELETE /_emulator/received`` (the last chat bodies, when the config's ``capture``
keeps them: emulator/capture.py), ``GET /healthz``.

Every chat call is counted in the stats when it arrives, whatever happens next: hung,
dropped by an outage, or abandoned by its client mid-upload.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import orjson
from aiohttp import web

from emulator.base import ChatCall, Wire, WireError
from emulator.capture import RECEIVED, Received, clear_received, received
from emulator.controls import (
    end_outage,
    reset_stats,
    show_stats,
    start_fault,
    start_latency,
    start_outage,
)
from emulator.generate import fixed_reply, plan_reply, spoil_reply
from emulator.profile import EmulatorConfig, FaultPick, FaultProfile
from emulator.registry import WIRES
from emulator.state import STATE, EmulatorState
from emulator.stats import UNKNOWN_MODEL
from emulator.streaming import CUTS, StreamCuts, start_cut, stream_reply

# Hung handlers are released at shutdown, so the runner need not wait long for them.
_SHUTDOWN_TIMEOUT_S = 5.0
# Load runs open a thousand connections at once; aiohttp's default listen backlog of
# 128 drops the excess SYNs, which then wait a second for retransmission.
_LISTEN_BACKLOG = 4096
# Anthropic's documented request size limit; aiohttp's own default is only 1 MiB,
# smaller than a prompt that fills a large context window.
_MAX_BODY_BYTES = 32 * 1024 * 1024
# What a missing or malformed credential gets: most vendors answer 401, Google's and
# AWS's authentication layers 403.
_UNAUTHORIZED_STATUSES = frozenset({401, 403})
# Stats outcomes of calls that got no HTTP answer.
OUTAGE = "outage"
CLIENT_GONE = "client_gone"


def create_app(config: EmulatorConfig) -> web.Application:
    app = web.Application(client_max_size=_MAX_BODY_BYTES)
    state = EmulatorState(config)
    app[STATE] = state

    async def release_hangs(_: web.Application) -> None:
        state.closing.set()

    app.on_shutdown.append(release_hangs)
    for wire in WIRES:
        for route in wire.routes:
            app.router.add_post(route, _chat_handler(wire))
    app.router.add_get("/_emulator/stats", show_stats)
    app.router.add_delete("/_emulator/stats", reset_stats)
    app.router.add_post("/_emulator/outage", start_outage)
    app.router.add_delete("/_emulator/outage", end_outage)
    app.router.add_post("/_emulator/fault", start_fault)
    app.router.add_post("/_emulator/latency", start_latency)
    app[CUTS] = StreamCuts()
    app.router.add_post("/_emulator/cut", start_cut)
    app[RECEIVED] = Received(config.capture)
    app.router.add_get("/_emulator/received", received)
    app.router.add_delete("/_emulator/received", clear_received)
    app.router.add_get("/healthz", _healthz)
    return app


@dataclass(frozen=True, slots=True)
class RunningEmulator:
    """A started emulator; ``port`` is the bound one, useful when 0 was asked for."""

    runner: web.AppRunner
    host: str
    port: int

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def stop(self) -> None:
        await self.runner.cleanup()


async def start(config: EmulatorConfig, host: str = "127.0.0.1", port: int = 0) -> RunningEmulator:
    """Start serving in the running loop and return at once; ``port=0`` picks a free one."""
    # Cancelling a handler when its client disconnects frees hung requests whose
    # caller already timed out, as a real upstream's proxy would.
    runner = web.AppRunner(
        create_app(config), handler_cancellation=True, shutdown_timeout=_SHUTDOWN_TIMEOUT_S
    )
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port, backlog=_LISTEN_BACKLOG)
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    bound_port = int(runner.addresses[0][1])
    return RunningEmulator(runner=runner, host=host, port=bound_port)


async def serve(config: EmulatorConfig, host: str, port: int) -> None:
    """Serve until cancelled, then shut down cleanly."""
    running = await start(config, host, port)
    try:
        await asyncio.Event().wait()
    finally:
        await running.stop()


def run(config: EmulatorConfig | None = None, host: str = "127.0.0.1", port: int = 8900) -> None:
    """Serve in the foreground until SIGINT or SIGTERM; for the CLI. None: defaults."""

    async def main() -> None:
        task = asyncio.create_task(serve(config or EmulatorConfig(), host, port))
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(main())


def _chat_handler(wire: Wire) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handle(request: web.Request) -> web.StreamResponse:
        return await _handle_chat(request, wire)

    return handle


async def _handle_chat(request: web.Request, wire: Wire) -> web.StreamResponse:
    state = request.app[STATE]
    request_id = state.new_id("req_")
    try:
        raw = await request.read()
        body = _decode(raw)
    except web.HTTPRequestEntityTooLarge:
        state.stats.record(wire.name, UNKNOWN_MODEL, "too_large")
        return _error(wire, wire.status_error(413), request_id)
    except BaseException:
        # The caller went away mid-upload (or the server is stopping): the call was
        # still made, and the caller's side may have counted it.
        state.stats.record(wire.name, UNKNOWN_MODEL, CLIENT_GONE)
        raise
    request.app[RECEIVED].record(request.path, body, raw)
    model = request.match_info.get("model") or _model_of(body)
    if state.in_outage():
        state.stats.record(wire.name, model, OUTAGE)
        return _drop_connection(request)
    try:
        wire.check_headers(request.headers)
    except WireError as err:
        # A missing required header that is no credential (anthropic-version) is a 400.
        unauthorized = err.status in _UNAUTHORIZED_STATUSES
        state.stats.record(wire.name, model, "unauthorized" if unauthorized else "bad_request")
        return _error(wire, err, request_id)
    try:
        # Query parameters ride along for dialects that need one (Azure's api-version);
        # path parameters win a name clash.
        call = wire.parse(body, {**request.query, **request.match_info})
    except WireError as err:
        state.stats.record(wire.name, model, "bad_request")
        return _error(wire, err, request_id)
    profile = state.config.profile_for(call.model)
    if call.prompt_tokens > profile.context_window:
        state.stats.record(wire.name, call.model, "context_window")
        return _error(wire, wire.context_window_error(call, profile.context_window), request_id)
    return await _answer(request, state, wire, call, profile, request_id)


async def _answer(
    request: web.Request,
    state: EmulatorState,
    wire: Wire,
    call: ChatCall,
    profile: FaultProfile,
    request_id: str,
) -> web.StreamResponse:
    pick = profile.pick_fault(state.faults)
    if pick.fault == "invalid_json" and not (call.json_mode or call.json_schema is not None):
        pick = FaultPick(fault="ok")  # only a JSON-mode answer can be broken JSON
    forced = state.forced_status(call.model)
    if forced is not None:
        pick = FaultPick(fault="error", status=forced)
    # Sampled even when overridden, so a forced latency does not shift the fault stream.
    latency_s = profile.sample_latency_s(state.faults)
    slowed = state.forced_latency_s(call.model)
    if slowed is not None:
        latency_s = slowed
    outcome = f"error_{pick.status}" if pick.status is not None else pick.fault
    # Counted on arrival, so a caller that timed out still sees its attempt.
    state.stats.record(wire.name, call.model, outcome)
    if pick.fault == "hang":
        await state.hang(profile.hang_s)
        return _error(wire, wire.status_error(504), request_id)
    await asyncio.sleep(latency_s)
    if pick.status is not None:
        # Only a rate limit asks the caller to wait.
        retry_after_s = profile.retry_after_s if pick.status == 429 else None
        return _error(wire, wire.status_error(pick.status, retry_after_s), request_id)
    response_id = state.new_id(wire.id_prefix)
    created = int(time.time())
    if pick.fault == "content_filter":
        return _json(wire.filtered_body(call, response_id, created), 200, wire, request_id)
    reply = dataclasses.replace(plan_reply(call), cached_tokens=state.cached_tokens(call))
    if profile.answer is not None:
        reply = fixed_reply(call, reply, profile.answer)
    reply = spoil_reply(reply, pick.fault)
    if call.stream:
        cut_after = request.app[CUTS].after_frames(call.model)
        if pick.fault == "malformed":
            cut_after = 1  # a stream's malformed reply: it breaks after its first frame
        return await stream_reply(
            request, wire, call, reply, response_id, created, request_id, cut_after=cut_after
        )
    payload = orjson.dumps(wire.success_body(call, reply, response_id, created))
    if pick.fault == "malformed":
        # Cut mid-document, like a proxy dropping the connection after a partial write.
        payload = payload[: len(payload) // 2]
    return web.Response(
        body=payload,
        content_type="application/json",
        headers={wire.request_id_header: request_id},
    )


def _decode(raw: bytes) -> object:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None


def _model_of(body: object) -> str:
    model = body.get("model") if isinstance(body, dict) else None
    return model if isinstance(model, str) and model else UNKNOWN_MODEL


def _error(wire: Wire, err: WireError, request_id: str) -> web.Response:
    body = wire.error_body(err, request_id)
    return _json(body, err.status, wire, request_id, wire.error_headers(err))


def _json(
    payload: dict[str, object],
    status: int,
    wire: Wire,
    request_id: str,
    headers: dict[str, str] | None = None,
) -> web.Response:
    return web.Response(
        body=orjson.dumps(payload),
        status=status,
        content_type="application/json",
        headers={wire.request_id_header: request_id, **(headers or {})},
    )


def _drop_connection(request: web.Request) -> web.Response:
    """Close the connection without an answer, like a provider whose load balancer fails.

    The response returned is never written: aiohttp finds the transport closed and
    treats it as a client that went away, without logging an error.
    """
    if request.transport is not None:
        request.transport.abort()
    return web.Response(status=503)


async def _healthz(_: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})
