"""What the emulator received: the last chat request bodies, for tests that check what a
provider was sent (that redacted data stayed redacted, say).

Off unless the emulator config sets ``capture: N`` (keep the last N bodies); a real
provider's logs are not something a test can read, and an emulator under load should not
hold prompts it was never asked to keep. ``GET /_emulator/received`` returns
``{"received": [{"path", "body"}, ...]}`` oldest first (``body`` as decoded JSON, or the
raw text when the body was not JSON); ``DELETE /_emulator/received`` empties it. Both
answer 404 when capture is off.
"""

from __future__ import annotations

from collections import deque

from aiohttp import web

_OFF = "capture is off: set capture: N in the emulator config to keep the last N bodies"


class Received:
    def __init__(self, size: int) -> None:
        self.size = size
        self._bodies: deque[dict[str, object]] = deque(maxlen=size or None)

    def record(self, path: str, body: object, raw: bytes) -> None:
        if self.size:
            kept = body if body is not None else raw.decode("utf-8", errors="replace")
            self._bodies.append({"path": path, "body": kept})

    def snapshot(self) -> list[dict[str, object]]:
        return list(self._bodies)

    def clear(self) -> None:
        self._bodies.clear()


RECEIVED = web.AppKey("emulator_received", Received)


async def received(request: web.Request) -> web.Response:
    capture = request.app[RECEIVED]
    if not capture.size:
        return web.json_response({"error": _OFF}, status=404)
    return web.json_response({"received": capture.snapshot()})


async def clear_received(request: web.Request) -> web.Response:
    capture = request.app[RECEIVED]
    if not capture.size:
        return web.json_response({"error": _OFF}, status=404)
    capture.clear()
    return web.json_response({"received": []})
