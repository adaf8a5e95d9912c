"""Anthropic Messages: ``POST {base_url}/v1/messages``.

``base_url`` is the API host without a version (``https://api.anthropic.com``), as
with the Anthropic SDK, which adds ``/v1/messages`` itself. The request body is built
in :mod:`adapters.anthropic.payload`, the answer read in :mod:`adapters.anthropic.reply`
(streamed: :mod:`adapters.anthropic.stream`) and errors translated in
:mod:`adapters.anthropic.errors`; this module sends the call.

The Messages API (as of the SDK we validate against, anthropic 2.12) has no sampling
parameters, so ``temperature`` and ``top_p`` are not among the capabilities: a request
that sets them is refused before the call and moves to a fallback, rather than having
them silently dropped or rejected by the API. Structured output takes a JSON Schema
(``output_config.format``); there is no schema-free JSON mode, so ``json_object`` is
not offered either.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx

from adapters.anthropic.errors import translate_error
from adapters.anthropic.payload import build_payload
from adapters.anthropic.reply import parse_result
from adapters.anthropic.stream import read_stream
from adapters.base import ProviderRequest, ProviderResult, StreamPart
from adapters.capabilities import Capabilities, features
from adapters.credentials import Credentials
from adapters.http_call import JsonApi
from adapters.http_stream import open_stream
from schemas.providers import AnthropicProvider

API_VERSION = "2023-06-01"

# No temperature, top_p or json_object: see the module docstring.
CAPABILITIES = Capabilities(
    features(
        "system_prompt", "images", "image_urls", "tools", "tool_choice_required",
        "json_schema", "stop",
    ),
    streaming=True,
    reports_cached_tokens=True,
)  # fmt: skip


class AnthropicAdapter:
    """Adapter for Anthropic's Messages API."""

    def __init__(
        self,
        name: str,
        config: AnthropicProvider,
        http: httpx.AsyncClient,
        credentials: Credentials,
    ) -> None:
        self.provider = name
        self.capabilities = CAPABILITIES
        self._url = config.resolved_base_url + "/v1/messages"
        # Static config headers first: anthropic-beta flags, say, but never the key.
        api_key = credentials.api_key
        auth = {"x-api-key": api_key} if api_key else {}
        api_headers = {**config.headers, "anthropic-version": API_VERSION, **auth}
        self._api = JsonApi(name, http, api_headers, request_id_headers=("request-id",))

    async def complete(self, request: ProviderRequest, *, timeout_s: float) -> ProviderResult:
        reply = await self._api.post(self._url, build_payload(request), timeout_s=timeout_s)
        if not reply.ok:
            raise translate_error(reply)
        return parse_result(reply, asked_model=request.upstream_model)

    async def stream(
        self, request: ProviderRequest, *, timeout_s: float
    ) -> AsyncIterator[StreamPart]:
        payload = {**build_payload(request), "stream": True}
        async with open_stream(self._api, self._url, payload, timeout_s=timeout_s) as streaming:
            if not streaming.reply.ok:
                raise translate_error(streaming.reply)
            async for part in read_stream(streaming, asked_model=request.upstream_model):
                yield part
