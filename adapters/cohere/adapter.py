"""Cohere Chat v2: ``POST {base_url}/v2/chat`` with a bearer key.

``base_url`` is the API host without a version (``https://api.cohere.com``), as with
the Cohere SDK, which adds ``/v2/chat`` itself. The request body is built in
:mod:`adapters.cohere.payload`, the answer read in :mod:`adapters.cohere.reply` and
errors in :mod:`adapters.cohere.errors`; this module sends the call. Streamed, the body
says ``"stream": true`` and the events are read in :mod:`adapters.cohere.stream`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx

from adapters.base import ProviderRequest, ProviderResult, StreamPart
from adapters.capabilities import Capabilities, features
from adapters.cohere.errors import translate_error
from adapters.cohere.payload import build_payload
from adapters.cohere.reply import parse_result
from adapters.cohere.stream import read_stream
from adapters.credentials import Credentials
from adapters.http_call import JsonApi
from adapters.http_stream import open_stream
from schemas.providers import CohereProvider

# Everything the v2 format carries. Images go in user messages as data: URIs or web
# URLs (the SDK's ImageUrl); whether a model can see them is Cohere's call, and a
# text-only model answers 400.
CAPABILITIES = Capabilities(
    features(
        "system_prompt", "images", "image_urls", "tools", "tool_choice_required",
        "json_object", "json_schema", "temperature", "top_p", "stop",
    ),
    streaming=True,
    reports_cached_tokens=True,
)  # fmt: skip


class CohereAdapter:
    """Adapter for Cohere's Chat v2 API."""

    def __init__(
        self,
        name: str,
        config: CohereProvider,
        http: httpx.AsyncClient,
        credentials: Credentials,
    ) -> None:
        self.provider = name
        self.capabilities = CAPABILITIES
        self._url = config.resolved_base_url + "/v2/chat"
        api_key = credentials.api_key
        auth = {"authorization": f"Bearer {api_key}"} if api_key else {}
        # Cohere documents no request-id header; its responses carry this trace id,
        # which is what its support asks for.
        self._api = JsonApi(
            name, http, {**config.headers, **auth}, request_id_headers=("x-debug-trace-id",)
        )

    async def complete(self, request: ProviderRequest, *, timeout_s: float) -> ProviderResult:
        payload = build_payload(request, provider=self.provider)
        reply = await self._api.post(self._url, payload, timeout_s=timeout_s)
        if not reply.ok:
            raise translate_error(reply)
        return parse_result(reply, asked_model=request.upstream_model)

    async def stream(
        self, request: ProviderRequest, *, timeout_s: float
    ) -> AsyncIterator[StreamPart]:
        payload = {**build_payload(request, provider=self.provider), "stream": True}
        async with open_stream(self._api, self._url, payload, timeout_s=timeout_s) as streaming:
            if not streaming.reply.ok:
                raise translate_error(streaming.reply)
            async for part in read_stream(streaming, asked_model=request.upstream_model):
                yield part
