"""The emulator's control endpoints, for tests that steer it while it serves.

``GET /_emulator/stats`` and ``DELETE /_emulator/stats`` (reset), ``POST /_emulator/outage``
(``{"seconds": S}``: for S seconds every chat call is read, counted and then dropped without
an answer, a connection-level failure) and ``DELETE /_emulator/outage`` (end it now),
``POST /_emulator/fault`` (``{"model": M, "status": S, "seconds": T}``: upstream model M
answers HTTP S for T seconds), ``POST /_emulator/latency`` (``{"model": M, "ms": X,
"seconds": T}``: for T seconds every call to upstream model M takes X ms, in place of its
profile's latency). Stream cuts are in emulator/streaming.py, captured bodies in
emulator/capture.py.
"""

from __future__ import annotations

import time
from typing import cast, get_args

import orjson
from aiohttp import web

from emulator.profile import ErrorStatus
from emulator.state import STATE

# An outage longer than this is a typo, not a test.
_MAX_OUTAGE_S = 3600.0
# A forced latency above the longest provider timeout anyone configures is a typo.
_MAX_FORCED_LATENCY_MS = 600_000.0


async def show_stats(request: web.Request) -> web.Response:
    return web.json_response(request.app[STATE].stats.snapshot())


async def reset_stats(request: web.Request) -> web.Response:
    request.app[STATE].stats.reset()
    return web.json_response({"reset": True})


async def start_outage(request: web.Request) -> web.Response:
    try:
        seconds = orjson.loads(await request.read())["seconds"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return web.json_response({"error": 'body must be {"seconds": <number>}'}, status=400)
    if (problem := _number_error("seconds", seconds, _MAX_OUTAGE_S)) is not None:
        return web.json_response({"error": problem}, status=400)
    request.app[STATE].outage_until = time.monotonic() + seconds
    return web.json_response({"outage_s": seconds})


async def start_fault(request: web.Request) -> web.Response:
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
    request.app[STATE].forced[model] = (cast(ErrorStatus, status), time.monotonic() + seconds)
    return web.json_response({"model": model, "status": status, "seconds": seconds})


async def start_latency(request: web.Request) -> web.Response:
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
    request.app[STATE].slowed[model] = (ms / 1000.0, time.monotonic() + seconds)
    return web.json_response({"model": model, "ms": ms, "seconds": seconds})


def _number_error(name: str, value: object, limit: float) -> str | None:
    """Why ``value`` is not a number in (0, ``limit``], or None when it is one."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"{name} must be a number"
    if not 0 < value <= limit:
        return f"{name} must be above 0 and at most {limit:.0f}"
    return None


async def end_outage(request: web.Request) -> web.Response:
    request.app[STATE].outage_until = 0.0
    return web.json_response({"outage_s": 0})
