"""Google Gemini: ``POST {base_url}/v1beta/models/{model}:generateContent``.

``base_url`` is the API host (``https://generativelanguage.googleapis.com``); the key
goes in the ``x-goog-api-key`` header, never the URL, so it stays out of access logs.
The request body is built in :mod:`adapters.gemini.payload`, the answer read in
:mod:`adapters.gemini.reply` (streamed, ``:streamGenerateContent?alt=sse``:
:mod:`adapters.gemini.stream`) and errors in :mod:`adapters.gemini.errors`; this
module sends the call.

Image URLs are not among the capabilities: Gemini's ``fileData.fileUri`` takes files
uploaded to its Files API (and a few hosts it fetches itself), not an arbitrary URL.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import quote

import httpx

from adapters.base import ProviderRequest, ProviderResult, StreamPart
from adapters.capabilities import Capabilities, features
from adapters.credentials import Credentials
from adapters.gemini.errors import translate_error
from adapters.gemini.payload import build_payload
from adapters.gemini.reply import parse_result
from adapters.gemini.stream import read_stream
from adapters.http_call import JsonApi
from adapters.http_stream import open_stream
from schemas.providers import GeminiProvider

CAPABILITIES = Capabilities(
    features(
        "system_prompt", "images", "tools", "tool_choice_required", "json_object",
        "json_schema", "temperature", "top_p", "stop",
    ),
    streaming=True,
    reports_cached_tokens=True,
)  # fmt: skip


class GeminiAdapter:
    """Adapter for the Gemini API's generateContent method."""

    def __init__(
        self,
        name: str,
        config: GeminiProvider,
        http: httpx.AsyncClient,
        credentials: Credentials,
    ) -> None:
        self.provider = name
        self.capabilities = CAPABILITIES
        self._base_url = config.resolved_base_url
        api_key = credentials.api_key
        auth = {"x-goog-api-key": api_key} if api_key else {}
        # Gemini names no request-id header; its answers carry a responseId instead.
        self._api = JsonApi(name, http, {**config.headers, **auth})

    async def complete(self, request: ProviderRequest, *, timeout_s: float) -> ProviderResult:
        url = self._url(request, "generateContent")
        payload = build_payload(request, self.provider)
        reply = await self._api.post(url, payload, timeout_s=timeout_s)
        if not reply.ok:
            raise translate_error(reply)
        return parse_result(reply, asked_model=request.upstream_model)

    async def stream(
        self, request: ProviderRequest, *, timeout_s: float
    ) -> AsyncIterator[StreamPart]:
        # Without alt=sse Google streams one JSON array instead of server-sent events.
        url = self._url(request, "streamGenerateContent") + "?alt=sse"
        payload = build_payload(request, self.provider)
        async with open_stream(self._api, url, payload, timeout_s=timeout_s) as streaming:
            if not streaming.reply.ok:
                raise translate_error(streaming.reply)
            async for part in read_stream(streaming, asked_model=request.upstream_model):
                yield part

    def _url(self, request: ProviderRequest, method: str) -> str:
        model = quote(request.upstream_model.removeprefix("models/"), safe="")
        return f"{self._base_url}/v1beta/models/{model}:{method}"
