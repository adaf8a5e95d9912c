"""Streaming replies: a wire's frames written as they would arrive, and cut streams.

Each wire renders its reply as frames (``Wire.stream_frames``: SSE events, NDJSON lines or
AWS event-stream messages); this module writes them on one chunked HTTP response. A
cut, set by ``POST /_emulator/cut`` for an upstream model, closes the connection after
some frames without ending the body: the client sees a broken stream, not a short one.
"""

from __future__ import annotations

import time

import orjson
from aiohttp import web

from emulator.base import ChatCall, Wire
from emulator.generate import Reply

_MAX_CUT_S = 3600.0


class StreamCuts:
    """Upstream model -> (frames written before the cut, time.monotonic() it ends)."""

    def __init__(self) -> None:
        self._cuts: dict[str, tuple[int, float]] = {}

    def set(self, model: str, after_frames: int, seconds: float) -> None:
        self._cuts[model] = (after_frames, time.monotonic() + seconds)

    def after_frames(self, model: str) -> int | None:
        found = self._cuts.get(model)
        if found is None or time.monotonic() >= found[1]:
            return None
        return found[0]


CUTS = web.AppKey("emulator_stream_cuts", StreamCuts)


async def stream_reply(
    request: web.Request,
    wire: Wire,
    call: ChatCall,
    reply: Reply,
    response_id: str,
    created: int,
    request_id: str,
    *,
    cut_after: int | None,
) -> web.StreamResponse:
    frames = wire.stream_frames(call, reply, response_id, created)
    response = web.StreamResponse(
        status=200,
        headers={"content-type": wire.stream_content_type, wire.request_id_header: request_id},
    )
    await response.prepare(request)
    for index, frame in enumerate(frames):
        if cut_after is not None and index >= cut_after:
            # No closing chunk: the body ends broken, as when a proxy drops mid-stream.
            if request.transport is not None:
                request.transport.abort()
            return response
        await response.write(frame)
    await response.write_eof()
    return response


async def start_cut(request: web.Request) -> web.Response:
    """``{"model": M, "after_frames": N, "seconds": T}``: for T seconds every streamed
    reply of upstream model M stops after N frames, its connection closed."""
    try:
        body = orjson.loads(await request.read())
        model, after, seconds = body["model"], body["after_frames"], body["seconds"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return web.json_response(
            {"error": 'body must be {"model": <name>, "after_frames": <int>, "seconds": <n>}'},
            status=400,
        )
    if not isinstance(model, str) or not model:
        return web.json_response({"error": "model must be a name"}, status=400)
    if isinstance(after, bool) or not isinstance(after, int) or after < 0:
        return web.json_response({"error": "after_frames must be an integer >= 0"}, status=400)
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        return web.json_response({"error": "seconds must be a number"}, status=400)
    if not 0 < seconds <= _MAX_CUT_S:
        return web.json_response(
            {"error": f"seconds must be above 0 and at most {_MAX_CUT_S:.0f}"}, status=400
        )
    request.app[CUTS].set(model, after, seconds)
    return web.json_response({"model": model, "after_frames": after, "seconds": seconds})
