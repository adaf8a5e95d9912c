"""OpenAI-compatible Chat Completions: ``POST {base_url}/chat/completions``.

One adapter for the whole family; what differs between services (URL shape, auth
header, field names, features, error quirks) is data in :mod:`adapters.openai.presets`,
chosen by the provider's ``preset``. ``base_url`` includes the API version prefix, as
with the OpenAI SDK (``https://api.openai.com/v1``); Azure's is the resource endpoint,
to which ``/openai/deployments/{upstream}/chat/completions?api-version=...`` is added.

Mapping the request lives in :mod:`adapters.openai.payload`, reading the answer in
:mod:`adapters.openai.reply` (a streamed one in :mod:`adapters.openai.stream`), and
error translation in :mod:`adapters.openai.errors`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx

from adapters.base import ProviderRequest, ProviderResult, StreamPart
from adapters.credentials import Credentials
from adapters.http_call import JsonApi
from adapters.http_stream import open_stream
from adapters.openai.errors import translate_error
from adapters.openai.payload import build_payload
from adapters.openai.presets import auth_headers, chat_url, preset_for
from adapters.openai.reply import parse_result
from adapters.openai.stream import read_stream
from schemas.providers import OpenAIProvider


class OpenAIAdapter:
    """Adapter for providers speaking OpenAI's Chat Completions dialect."""

    def __init__(
        self,
        name: str,
        config: OpenAIProvider,
        http: httpx.AsyncClient,
        credentials: Credentials,
    ) -> None:
        self.provider = name
        self.preset = preset_for(config)
        self.capabilities = self.preset.capabilities
        self._base_url = config.resolved_base_url
        self._api_version = config.api_version
        # Header names are case-insensitive; lower-casing keeps a configured one from
        # travelling next to ours under another spelling. Auth is set last so a static
        # header cannot replace the key.
        headers = {key.lower(): value for key, value in config.headers.items()}
        headers.update(auth_headers(self.preset, credentials.api_key))
        self._api = JsonApi(name, http, headers, request_id_headers=self.preset.request_id_headers)

    async def complete(self, request: ProviderRequest, *, timeout_s: float) -> ProviderResult:
        url = chat_url(self.preset, self._base_url, request.upstream_model, self._api_version)
        payload = build_payload(request, self.preset, provider=self.provider)
        reply = await self._api.post(url, payload, timeout_s=timeout_s)
        if not reply.ok:
            raise translate_error(reply, self.preset)
        return parse_result(reply, asked_model=request.upstream_model)

    async def stream(
        self, request: ProviderRequest, *, timeout_s: float
    ) -> AsyncIterator[StreamPart]:
        url = chat_url(self.preset, self._base_url, request.upstream_model, self._api_version)
        payload = build_payload(request, self.preset, provider=self.provider)
        payload["stream"] = True
        if self.preset.stream_options:
            payload["stream_options"] = {"include_usage": True}
        async with open_stream(self._api, url, payload, timeout_s=timeout_s) as streaming:
            if not streaming.reply.ok:
                raise translate_error(streaming.reply, self.preset)
            async for part in read_stream(streaming, request, self.preset):
                yield part
