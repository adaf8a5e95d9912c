"""The emulator's HTTP server: every wire format on one port, plus stats and health.

Routes: each wire's own (``emulator.registry``), ``GET /_emulator/stats`` and
``DELETE /_emulator/stats`` (reset), ``POST /_emulator/outage`` (``{"seconds": S}``: for S
seconds every chat call is read, counted and then dropped without an answer, a
connection-level failure) and ``DELETE /_emulator/outage`` (end it now), ``POST /_emulator/fault``
(``{"model": M, "status": S, "seconds": T}``: upstream model M answers HTTP S for T
seconds), ``POST /_emulator/latency`` (``{"model": M, "ms": X, "seconds": T}``: for T seconds
every call to upstream model M takes X ms, in place of its profile's latency), ``GET /healthz``.

Every chat call is counted in the stats when it arrives, whatever happens next: hung,
dropped by an outage, or abandoned by its client mid-upload.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import random
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import cast, get_args

import orjson
from aiohttp import web

from emulator.base import ChatCall, Wire, WireError
from emulator.generate import plan_reply
from emulator.profile import EmulatorConfig, ErrorStatus, FaultPick, FaultProfile
from emulator.registry import WIRES
from emulator.stats import UNKNOWN_MODEL, Stats
from emulator.streaming import CUTS, StreamCuts, start_cut, stream_reply

# Hung handlers are released at shutdown, so the runner need not wait long for them.
_SHUTDOWN_TIMEOUT_S = 5.0
# Load runs open a thousand connections at once; aiohttp's default listen backlog of
# 128 drops the excess SYNs, which then wait a second for retransmission.
_LISTEN_BACKLOG = 4096
# Anthropic's documented request size limit; aiohttp's own default is only 1 MiB,
# smaller than a prompt that fills a large context window.
_MAX_BODY_BYTES = 32 * 1024 * 1024
# Offsets the id stream from the fault stream so adding an id never shifts a fault.
_ID_SEED_SALT = 0x5EED
# Prompt caching as OpenAI reports it: from 1,024 tokens, in steps of 128, on a repeat.
_CACHE_MIN_TOKENS = 1024
_CACHE_STEP = 128
# What a missing or malformed credential gets: most vendors answer 401, Google's and
# AWS's authentication layers 403.
_UNAUTHORIZED_STATUSES = frozenset({401, 403})
# An outage longer than this is a typo, not a test.
_MAX_OUTAGE_S = 3600.0
# A forced latency above the longest provider timeout anyone configures is a typo.
_MAX_FORCED_LATENCY_MS = 600_000.0
# Stats outcomes of calls that got no HTTP answer.
OUTAGE = "outage"
CLIENT_GONE = "client_gone"


class _State:
    """Everything a handler needs; one per app."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.stats = Stats()
        self.faults = random.Random(config.seed)
        self.ids = random.Random(config.seed ^ _ID_SEED_SALT)
        self.closing = asyncio.Event()
        self.seen_prompts: set[tuple[str, str]] = set()
        self.outage_until = 0.0  # time.monotonic() at which the outage ends
        # Upstream model -> (HTTP status every call gets, time.monotonic() it ends).
        self.forced: dict[str, tuple[ErrorStatus, float]] = {}
        # Upstream model -> (latency in seconds every call takes, time.monotonic() it ends).
        self.slowed: dict[str, tuple[float, float]] = {}

    def in_outage(self) -> bool:
        return time.monotonic() < self.outage_until

    def forced_status(self, model: str) -> ErrorStatus | None:
        found = self.forced.get(model)
        if found is None or time.monotonic() >= found[1]:
            return None
        return found[0]

    def forced_latency_s(self, model: str) -> float | None:
        found = self.slowed.get(model)
        if found is None or time.monotonic() >= found[1]:
            return None
        return found[0]

    def cached_tokens(self, call: ChatCall) -> int:
        """Tokens a provider would serve from its prompt cache: a repeated long prompt."""
        key = (call.model, call.prompt)
        if key not in self.seen_prompts:
            self.seen_prompts.add(key)
            return 0
        if call.prompt_tokens < _CACHE_MIN_TOKENS:
            return 0
        return call.prompt_tokens - call.prompt_tokens % _CACHE_STEP

    def new_id(self, prefix: str, hex_chars: int = 24) -> str:
        return f"{prefix}{self.ids.getrandbits(hex_chars * 4):0{hex_chars}x}"

    async def hang(self, seconds: float) -> None:
        """Sleep like a stuck upstream, but let go when the server shuts down."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.closing.wait(), seconds)


_STATE = web.AppKey("emulator_state", _State)


def create_app(config: EmulatorConfig) -> web.Application:
    app = web.Application(client_max_size=_MAX_BODY_BYTES)
    state = _State(config)
    app[_STATE] = state

    async def release_hangs(_: web.Application) -> None:
        state.closing.set()

    app.on_shutdown.append(release_hangs)
    for wire in WIRES:
        for route in wire.routes:
            app.router.add_post(route, _chat_handler(wire))
    app.router.add_get("/_emulator/stats", _stats)
    app.router.add_delete("/_emulator/stats", _reset_stats)
    app.router.add_post("/_emulator/outage", _start_outage)
    app.router.add_delete("/_emulator/outage", _end_outage)
    app.router.add_post("/_emulator/fault", _start_fault)
    app.router.add_post("/_emulator/latency", _start_latency)
    app[CUTS] = StreamCuts()
    app.router.add_post("/_emulator/cut", start_cut)
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
    state = request.app[_STATE]
    request_id = state.new_id("req_")
    try:
        body = _decode(await request.read())
    except web.HTTPRequestEntityTooLarge:
        state.stats.record(wire.name, UNKNOWN_MODEL, "too_large")
        return _error(wire, wire.status_error(413), request_id)
    except BaseException:
        # The caller went away mid-upload (or the server is stopping): the call was
        # still made, and the caller's side may have counted it.
        state.stats.record(wire.name, UNKNOWN_MODEL, CLIENT_GONE)
        raise
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
    state: _State,
    wire: Wire,
    call: ChatCall,
    profile: FaultProfile,
    request_id: str,
) -> web.StreamResponse:
    pick = profile.pick_fault(state.faults)
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


async def _stats(request: web.Request) -> web.Response:
    return web.json_response(request.app[_STATE].stats.snapshot())


async def _reset_stats(request: web.Request) -> web.Response:
    request.app[_STATE].stats.reset()
    return web.json_response({"reset": True})


async def _start_outage(request: web.Request) -> web.Response:
    try:
        seconds = orjson.loads(await request.read())["seconds"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return web.json_response({"error": 'body must be {"seconds": <number>}'}, status=400)
    if (problem := _number_error("seconds", seconds, _MAX_OUTAGE_S)) is not None:
        return web.json_response({"error": problem}, status=400)
    request.app[_STATE].outage_until = time.monotonic() + seconds
    return web.json_response({"outage_s": seconds})


async def _start_fault(request: web.Request) -> web.Response:
    """``{"model": M, "status": S, "seconds": T}``: every call to upstream model M answers
    HTTP S for T seconds (a provider failing for one deployment while others are fine)."""
    try:
        body = orjson.loads(await request.read())
        model, status, seconds = body["model"], body["status"], body["seconds"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return web.json_response(
            {"error": 'body must be {"model": <name>, "status": <int>, "seconds": <number>}'},
            status=400,
        )
    statuses = get_args(ErrorStatus)
    if not isinstance(model, str) or status not in statuses:
        return web.json_response(
            {"error": f"model must be a name, status one of {list(statuses)}"}, status=400
        )
    if (problem := _number_error("seconds", seconds, _MAX_OUTAGE_S)) is not None:
        return web.json_response({"error": problem}, status=400)
    request.app[_STATE].forced[model] = (cast(ErrorStatus, status), time.monotonic() + seconds)
    return web.json_response({"model": model, "status": status, "seconds": seconds})


async def _start_latency(request: web.Request) -> web.Response:
    """``{"model": M, "ms": X, "seconds": T}``: every call to upstream model M takes X ms for
    T seconds (one deployment slowing down while others keep their pace)."""
    try:
        body = orjson.loads(await request.read())
        model, ms, seconds = body["model"], body["ms"], body["seconds"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return web.json_response(
            {"error": 'body must be {"model": <name>, "ms": <number>, "seconds": <number>}'},
            status=400,
        )
    if not isinstance(model, str) or not model:
        return web.json_response({"error": "model must be a name"}, status=400)
    for name, value, limit in (
        ("ms", ms, _MAX_FORCED_LATENCY_MS),
        ("seconds", seconds, _MAX_OUTAGE_S),
    ):
        if (problem := _number_error(name, value, limit)) is not None:
            return web.json_response({"error": problem}, status=400)
    request.app[_STATE].slowed[model] = (ms / 1000.0, time.monotonic() + seconds)
    return web.json_response({"model": model, "ms": ms, "seconds": seconds})


def _number_error(name: str, value: object, limit: float) -> str | None:
    """Why ``value`` is not a number in (0, ``limit``], or None when it is one."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"{name} must be a number"
    if not 0 < value <= limit:
        return f"{name} must be above 0 and at most {limit:.0f}"
    return None


async def _end_outage(request: web.Request) -> web.Response:
    request.app[_STATE].outage_until = 0.0
    return web.json_response({"outage_s": 0})


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
