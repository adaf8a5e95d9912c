"""One JSON POST to a provider, with transport failures translated to adapter errors.

Both wire formats share this: it owns the deadline and everything that can go
wrong below HTTP status level. Status and body classification stay with each
adapter, which knows its vendor's error codes.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import aiohttp
import httpx
import orjson

from adapters.errors import (
    MalformedResponse,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeout,
)

# Enough of an unparseable body to recognise it in a log, not enough to flood one.
_SNIPPET_CHARS = 300


@dataclass(frozen=True, slots=True)
class HttpReply:
    status: int
    headers: httpx.Headers
    body: object | None
    """The decoded JSON body, or None when the body is not JSON."""
    raw: bytes

    def snippet(self) -> str:
        return self.raw[:_SNIPPET_CHARS].decode("utf-8", errors="replace")


async def post_json(
    client: httpx.AsyncClient,
    url: str,
    *,
    headers: dict[str, str],
    payload: dict[str, object] | bytes,
    timeout_s: float,
    provider: str,
) -> HttpReply:
    """POST ``payload`` and return the reply of any status; raise only below HTTP.

    Bytes are sent unchanged: a signed body (SigV4) must be exactly the bytes signed.
    """
    try:
        # httpx's timeouts are per socket operation, and a provider trickling bytes
        # resets them; the outer deadline bounds the whole call.
        async with asyncio.timeout(timeout_s):
            response = await client.post(
                url,
                content=payload if isinstance(payload, bytes) else orjson.dumps(payload),
                headers={"content-type": "application/json", **headers},
                timeout=timeout_s,
            )
    except TimeoutError as exc:
        raise ProviderTimeout(f"no reply within {timeout_s:g}s", provider=provider) from exc
    except httpx.ConnectTimeout as exc:
        # httpx-aiohttp 0.2.0 maps refused connections to ConnectTimeout as well as
        # real connect timeouts; both mean we never reached the provider.
        raise _connection_error(exc, provider) from exc
    except httpx.TimeoutException as exc:
        raise ProviderTimeout(f"timed out: {_describe(exc)}", provider=provider) from exc
    except httpx.DecodingError as exc:
        raise MalformedResponse(f"undecodable body: {_describe(exc)}", provider=provider) from exc
    except httpx.RequestError as exc:
        raise _connection_error(exc, provider) from exc
    except aiohttp.ClientResponseError as exc:
        # The aiohttp transport lets a few aiohttp errors through unmapped; this one
        # means the peer sent something that is not valid HTTP.
        raise MalformedResponse(f"invalid HTTP reply: {exc}", provider=provider) from exc
    except aiohttp.ClientError as exc:
        raise ProviderConnectionError(f"transport failed: {exc}", provider=provider) from exc
    return HttpReply(
        status=response.status_code,
        headers=response.headers,
        body=_decode(response.content),
        raw=response.content,
    )


def _decode(raw: bytes) -> object | None:
    try:
        return orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        return None


def _connection_error(exc: Exception, provider: str) -> ProviderError:
    return ProviderConnectionError(f"could not reach provider: {_describe(exc)}", provider=provider)


def _describe(exc: Exception) -> str:
    return str(exc) or type(exc).__name__
