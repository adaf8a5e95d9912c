"""Streaming POSTs to a provider: the reply's status first, then its body as it arrives.

The streaming twin of :class:`adapters.http_call.JsonApi.post`: the same transport
failures become the same adapter errors, plus one of its own: a body that stops before
the wire format's closing event is :class:`~adapters.errors.StreamInterrupted`, raised
by the adapter that knows what closing looks like. The deadline bounds the whole
stream, applied to each read, so a caller's own awaits between two reads (publishing a
chunk) are never cancelled by it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aiohttp
import httpx

from adapters import json_body
from adapters.errors import MalformedResponse, ProviderTimeout, StreamInterrupted
from adapters.http_call import HttpReply, JsonApi, _connection_error, _decode, _describe


@dataclass
class StreamingReply:
    """``reply`` holds the status and headers; its body only when the status is not 2xx."""

    reply: HttpReply
    _response: httpx.Response
    _deadline: float
    _timeout_s: float

    async def _read(self, parts: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        provider = self.reply.provider
        while True:
            try:
                async with asyncio.timeout_at(self._deadline):
                    part = await anext(parts)
            except StopAsyncIteration:
                return
            except TimeoutError as exc:
                raise ProviderTimeout(
                    f"stream not finished within {self._timeout_s:g}s", provider=provider
                ) from exc
            except (httpx.TransportError, aiohttp.ClientError) as exc:
                # The peer closed or broke the body mid-way (an unfinished chunked body
                # included): what came so far is all there is.
                raise StreamInterrupted(
                    f"stream broken: {_describe(exc)}", provider=provider
                ) from exc
            yield part

    def chunks(self) -> AsyncIterator[bytes]:
        """The body's bytes as they arrive (binary framings: Bedrock's event stream)."""
        return self._read(self._response.aiter_bytes())

    async def lines(self) -> AsyncIterator[str]:
        """The body's lines without their endings (SSE, NDJSON)."""
        async for line in self._read(_lines_of(self._response.aiter_bytes())):
            yield line.decode("utf-8", errors="replace")


async def _lines_of(parts: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    pending = b""
    async for part in parts:
        pending += part
        *complete, pending = pending.split(b"\n")
        for line in complete:
            yield line.rstrip(b"\r")
    if pending:
        yield pending.rstrip(b"\r")


@asynccontextmanager
async def open_stream(
    api: JsonApi,
    url: str,
    payload: dict[str, object] | bytes,
    *,
    timeout_s: float,
    headers: Mapping[str, str] | None = None,
) -> AsyncIterator[StreamingReply]:
    """POST ``payload`` and hold the reply open while the caller reads it."""
    provider = api.provider
    sent = {"content-type": "application/json", **(api.headers if headers is None else headers)}
    deadline = asyncio.get_running_loop().time() + timeout_s
    body = payload if isinstance(payload, bytes) else json_body.dumps(payload)
    try:
        async with asyncio.timeout_at(deadline):
            request = api.client.build_request(
                "POST", url, content=body, headers=sent, timeout=timeout_s
            )
            response = await api.client.send(request, stream=True)
    except TimeoutError as exc:
        raise ProviderTimeout(f"no reply within {timeout_s:g}s", provider=provider) from exc
    except httpx.TimeoutException as exc:
        if isinstance(exc, httpx.ConnectTimeout):
            raise _connection_error(exc, provider) from exc
        raise ProviderTimeout(f"timed out: {_describe(exc)}", provider=provider) from exc
    except httpx.RequestError as exc:
        raise _connection_error(exc, provider) from exc
    except aiohttp.ClientResponseError as exc:
        raise MalformedResponse(f"invalid HTTP reply: {exc}", provider=provider) from exc
    except aiohttp.ClientError as exc:
        raise _connection_error(exc, provider) from exc
    try:
        request_id = next(
            (response.headers[h] for h in api.request_id_headers if h in response.headers), None
        )
        raw = b""
        if not 200 <= response.status_code < 300:
            # An error reply is small and whole: read it for the adapter's translation.
            try:
                async with asyncio.timeout_at(deadline):
                    raw = await response.aread()
            except (TimeoutError, httpx.HTTPError, aiohttp.ClientError):
                raw = b""
        reply = HttpReply(
            provider=provider,
            status=response.status_code,
            headers=response.headers,
            body=_decode(raw) if raw else None,
            raw=raw,
            request_id=request_id,
        )
        yield StreamingReply(reply, response, deadline, timeout_s)
    finally:
        await response.aclose()
