"""The one HTTP client the dispatch stage shares across every provider call."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from http.cookiejar import CookieJar
from typing import Any

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport
from httpx_aiohttp.transport import map_aiohttp_exceptions

# Seconds an idle upstream connection is kept for reuse.
_KEEPALIVE_S = 30.0
# A fallback for callers that forget a per-request timeout; adapters always pass one.
_DEFAULT_TIMEOUT_S = 60.0


@lru_cache(maxsize=1024)
def _normalized(url: str) -> str:
    """``url`` as httpx normalizes it (~20 us a parse; a config has a few URLs)."""
    return str(httpx.URL(url))


class _NoCookies(CookieJar):
    """Provider replies' cookies are not kept: one client serves every tenant and
    provider, and parsing each reply's Set-Cookie into a jar costs CPU on every call."""

    def extract_cookies(self, response: Any, request: Any) -> None:
        return None


class _DirectPostClient(httpx.AsyncClient):
    """An httpx client on one aiohttp session. A plain ``post(url, content=bytes,
    headers=..., timeout=s)`` -- every non-streamed provider call -- goes straight to it.

    httpx's request/response machinery around the aiohttp transport (request building,
    header merging, auth and redirect steps, the byte-stream wrappers) cost about as much
    CPU as aiohttp's own call (~0.3 of ~0.6 ms per call, measured). The direct path sends
    what the transport would (the client's default headers, then the call's; aiohttp's
    timeouts set as the transport sets them; no decompression by aiohttp, so httpx
    decodes the body as before) and raises the same httpx errors (the transport's
    mapping). Anything else (a streamed call, other arguments) takes httpx's path,
    through the same aiohttp session.
    """

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._session: aiohttp.ClientSession | None = None
        self._aiohttp = AiohttpTransport(client=self._get_session)
        super().__init__(
            transport=self._aiohttp,
            timeout=_DEFAULT_TIMEOUT_S,
            cookies=httpx.Cookies(_NoCookies()),
        )

    def _get_session(self) -> aiohttp.ClientSession:
        # Built on first use: aiohttp binds a session to the running event loop.
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=self._limit, keepalive_timeout=_KEEPALIVE_S)
            self._session = aiohttp.ClientSession(connector=connector)
            # The transport owns it from now on: closing the client closes it.
            self._aiohttp.client = self._session
        return self._session

    async def post(  # type: ignore[override]
        self,
        url: str | httpx.URL,
        *,
        content: Any = None,
        headers: Mapping[str, str] | None = None,
        timeout: Any = httpx.USE_CLIENT_DEFAULT,
        **kwargs: Any,
    ) -> httpx.Response:
        if (
            kwargs
            or not isinstance(url, str)
            or not isinstance(content, bytes)
            or not isinstance(timeout, int | float)
            or self.is_closed
            # Hooks see httpx's Request and Response objects, which only httpx's path makes.
            or self.event_hooks["request"]
            or self.event_hooks["response"]
        ):
            return await super().post(
                url, content=content, headers=headers, timeout=timeout, **kwargs
            )
        # The client's defaults (user-agent, accept-encoding, ...) under the call's own,
        # names compared case-insensitively as httpx merges them.
        given = {} if headers is None else dict(headers)
        names = {name.lower() for name in given}
        sent = {k: v for k, v in self.headers.items() if k not in names}
        sent.update(given)
        session = self._get_session()
        with map_aiohttp_exceptions():
            async with session.request(
                "POST",
                # The URL as httpx normalizes it, as the transport passes it on: a signed
                # request (SigV4) must go out with the path it was signed with.
                _normalized(url),
                headers=sent,
                data=content or None,
                allow_redirects=False,
                auto_decompress=False,
                compress=False,
                timeout=aiohttp.ClientTimeout(
                    sock_connect=timeout, sock_read=timeout, connect=timeout
                ),
            ) as reply:
                body = await reply.read()
                raw_headers = reply.raw_headers
                status = reply.status
        return httpx.Response(status, headers=raw_headers, content=body)


def make_http_client(max_connections: int | None = None) -> httpx.AsyncClient:
    """An httpx client running on aiohttp's connection pool (non-streamed POSTs skip
    httpx's own request machinery: :class:`_DirectPostClient`).

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
    return _DirectPostClient(limit)
