"""Ollama's native chat API: ``POST {base_url}/api/chat``.

``base_url`` is the server root (``http://127.0.0.1:11434``), as with the ollama
package. A local server takes no key; a key, if configured (e.g. for ollama.com),
goes as a bearer token. The request body is built in :mod:`adapters.ollama.payload`,
the answer read in :mod:`adapters.ollama.reply` and errors in
:mod:`adapters.ollama.errors`; this module sends the call. Ollama streams unless the body
says ``"stream": false``, so ``complete`` always says it; ``stream`` says ``true`` and
reads the lines in :mod:`adapters.ollama.stream`.

What the format cannot carry, and how that is handled:

- images only as base64 (``images`` on a message): no ``image_urls`` capability;
- no ``tool_choice``: ``required`` is not a capability, and ``none`` sends no tools;
- tool calls have no ids: ours are derived from each call's position, name and
  arguments, and a tool result names its tool (``tool_name``), looked up from the
  assistant message that made the call;
- tool parameter schemas: the ollama package's ``Tool`` type declares only ``type``,
  ``items``, ``description`` and ``enum`` per property; other JSON Schema keywords are
  sent as given, and a server may ignore them;
- no request id, no prompt-cache report (``prompt_eval_count`` counts the prompt
  tokens evaluated, and is left out when the whole prompt came from the cache), and
  no content filter.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx

from adapters.base import ProviderRequest, ProviderResult, StreamPart
from adapters.capabilities import Capabilities, features
from adapters.credentials import Credentials
from adapters.http_call import JsonApi
from adapters.http_stream import open_stream
from adapters.ollama.errors import translate_error
from adapters.ollama.payload import build_payload
from adapters.ollama.reply import parse_result
from adapters.ollama.stream import read_stream
from schemas.providers import OllamaProvider

CAPABILITIES = Capabilities(
    features(
        "system_prompt", "images", "tools", "json_object", "json_schema", "temperature",
        "top_p", "stop",
    ),
    streaming=True,
)  # fmt: skip


class OllamaAdapter:
    """Adapter for Ollama's native ``/api/chat``."""

    def __init__(
        self,
        name: str,
        config: OllamaProvider,
        http: httpx.AsyncClient,
        credentials: Credentials,
    ) -> None:
        self.provider = name
        self.capabilities = CAPABILITIES
        self._url = config.resolved_base_url + "/api/chat"
        api_key = credentials.api_key
        auth = {"authorization": f"Bearer {api_key}"} if api_key else {}
        # Ollama sends no request id; a proxy in front of it (or ollama.com) may.
        self._api = JsonApi(
            name, http, {**config.headers, **auth}, request_id_headers=("x-request-id",)
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
