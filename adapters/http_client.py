"""The one HTTP client the dispatch stage shares across every provider call."""

from __future__ import annotations

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport

# Seconds an idle upstream connection is kept for reuse.
_KEEPALIVE_S = 30.0
# A fallback for callers that forget a per-request timeout; adapters always pass one.
_DEFAULT_TIMEOUT_S = 60.0


def make_http_client(max_connections: int | None = None) -> httpx.AsyncClient:
    """An httpx client running on aiohttp's connection pool.

    Plain httpx pools degrade badly with hundreds of requests in flight; the
    aiohttp transport with an unbounded connector held ~1,575 req/s with 1,000 in
    flight in our measurements. ``max_connections=None`` means unbounded: the
    dispatch stage's own in-flight limit is the real cap.

    The session is built lazily, on the first request, because aiohttp binds it to
    the running event loop. Close the client with ``await client.aclose()``.
    """
    if max_connections is not None and max_connections < 1:
        raise ValueError("max_connections must be at least 1, or None for unbounded")
    # httpx-aiohttp 0.2.0 omits aiohttp's ``limit`` when max_connections is None,
    # which leaves aiohttp's default cap of 100; 0 is aiohttp's "no limit".
    limit = 0 if max_connections is None else max_connections

    def new_session() -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(limit=limit, keepalive_timeout=_KEEPALIVE_S)
        return aiohttp.ClientSession(connector=connector)

    return httpx.AsyncClient(
        transport=AiohttpTransport(client=new_session),
        timeout=_DEFAULT_TIMEOUT_S,
    )
