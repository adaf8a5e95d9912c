"""JSON POSTs to a provider, with transport failures translated to adapter errors.

Every wire format shares this: :class:`JsonApi` owns the deadline and everything that
can go wrong below HTTP status level, and the :class:`HttpReply` it returns builds the
adapter errors raised about it. Status and body classification stay with each
adapter, which knows its vendor's error codes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TypeVar

import aiohttp
import httpx
import orjson

from adapters import json_body
from adapters.errors import (
    MalformedResponse,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeout,
)

# Enough of an unparseable body to recognise it in a log, not enough to flood one.
_SNIPPET_CHARS = 300

E = TypeVar("E", bound=ProviderError)


@dataclass(frozen=True, slots=True)
class HttpReply:
    """A provider's reply of any status, and what an error raised about it names."""

    provider: str
    status: int
    headers: httpx.Headers
    body: object | None
    """The decoded JSON body, or None when the body is not JSON."""
    raw: bytes
    request_id: str | None
    """From the first of the adapter's request-id headers present."""

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def snippet(self) -> str:
        return self.raw[:_SNIPPET_CHARS].decode("utf-8", errors="replace")

    def with_request_id(self, fallback: str | None) -> HttpReply:
        """This reply, with ``fallback`` (an id read from the body) when no header gave one."""
        return self if self.request_id else replace(self, request_id=fallback)

    def error(self, cls: type[E], message: str, *, retry_after_s: float | None = None) -> E:
        """``cls`` about this reply, naming its provider, status and request id."""
        return cls(
            message,
            provider=self.provider,
            status_code=self.status,
            provider_request_id=self.request_id,
            retry_after_s=retry_after_s,
        )

    def malformed(self, what: str) -> MalformedResponse:
        """The reply is unusable: ``what`` was wrong, shown with how the body begins."""
        return self.error(MalformedResponse, f"{what}: {self.snippet()!r}")


@dataclass(frozen=True, slots=True)
class JsonApi:
    """A provider's API as one adapter calls it: through the shared client, with the
    adapter's headers (credentials included), reading request ids where it puts them."""

    provider: str
    client: httpx.AsyncClient
    headers: Mapping[str, str]
    request_id_headers: tuple[str, ...] = ()

    async def post(
        self,
        url: str,
        payload: dict[str, object] | bytes,
        *,
        timeout_s: float,
        headers: Mapping[str, str] | None = None,
    ) -> HttpReply:
        """POST ``payload`` and return the reply of any status; raise only below HTTP.

        Bytes are sent unchanged: a signed body (SigV4) must be exactly the bytes
        signed. ``headers``, when given, are sent instead of the API's own (a signed
        request's, which include them).
        """
        provider = self.provider
        request_headers = self.headers if headers is None else headers
        sent = {"content-type": "application/json", **request_headers}
        try:
            # httpx's timeouts are per socket operation, and a provider trickling bytes
            # resets them; the outer deadline bounds the whole call.
            async with asyncio.timeout(timeout_s):
                response = await self.client.post(
                    url,
                    content=payload if isinstance(payload, bytes) else json_body.dumps(payload),
                    headers=sent,
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
            raise MalformedResponse(
                f"undecodable body: {_describe(exc)}", provider=provider
            ) from exc
        except httpx.RequestError as exc:
            raise _connection_error(exc, provider) from exc
        except aiohttp.ClientResponseError as exc:
            # The aiohttp transport lets a few aiohttp errors through unmapped; this one
            # means the peer sent something that is not valid HTTP.
            raise MalformedResponse(f"invalid HTTP reply: {exc}", provider=provider) from exc
        except aiohttp.ClientError as exc:
            raise ProviderConnectionError(f"transport failed: {exc}", provider=provider) from exc
        return HttpReply(
            provider=provider,
            status=response.status_code,
            headers=response.headers,
            body=_decode(response.content),
            raw=response.content,
            request_id=next(
                (response.headers[h] for h in self.request_id_headers if h in response.headers),
                None,
            ),
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
