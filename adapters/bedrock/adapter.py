"""AWS Bedrock Converse: ``POST {base_url}/model/{modelId}/converse``, SigV4-signed.

``base_url`` is the runtime endpoint (``https://bedrock-runtime.{region}.amazonaws.com``
by default). Every request is signed by botocore (:mod:`adapters.bedrock.sigv4`) for
the service ``bedrock`` in the configured region, over the exact bytes sent. The request
mapping lives in :mod:`adapters.bedrock.payload`, reading the answer in
:mod:`adapters.bedrock.reply` and the error translation in :mod:`adapters.bedrock.errors`.
Streamed, the same body goes to ``/model/{modelId}/converse-stream``, signed the same way,
and the event stream is read in :mod:`adapters.bedrock.stream`.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx

from adapters.base import ProviderRequest, ProviderResult, StreamPart
from adapters.bedrock.errors import translate_error
from adapters.bedrock.payload import build_body, converse_path
from adapters.bedrock.reply import parse_result
from adapters.bedrock.sigv4 import SigV4Signer
from adapters.bedrock.stream import read_stream
from adapters.capabilities import Capabilities, features
from adapters.credentials import Credentials
from adapters.errors import UnsupportedFeature
from adapters.http_call import JsonApi
from adapters.http_stream import open_stream
from schemas.providers import BedrockProvider

SIGNING_SERVICE = "bedrock"
REQUEST_ID_HEADER = "x-amzn-RequestId"
# Used only when neither the config nor the endpoint's host names a region; a wrong
# guess fails the first call with AuthenticationFailed, naming the signature.
FALLBACK_REGION = "us-east-1"
# Converse caps temperature at 1 (inferenceConfig.temperature is 0..1); ours goes to 2.
MAX_TEMPERATURE = 1.0

_REGION_IN_HOST = re.compile(r"bedrock-runtime(?:-fips)?\.([a-z0-9-]+)\.")

# What Converse carries: image bytes but no URLs, tools with "auto", "any" (our
# "required") or a named tool, and JSON only against a schema (outputConfig.textFormat
# is json_schema-only, so json_object is left to other formats).
CAPABILITIES = Capabilities(
    features(
        "system_prompt", "images", "tools", "tool_choice_required", "json_schema",
        "temperature", "top_p", "stop",
    ),
    streaming=True,
    reports_cached_tokens=True,
)  # fmt: skip


def region_for(region: str | None, base_url: str) -> str:
    """The configured region, else the one in a ``bedrock-runtime.{region}.`` host."""
    if region:
        return region
    match = _REGION_IN_HOST.search(httpx.URL(base_url).host)
    return match.group(1) if match else FALLBACK_REGION


class BedrockAdapter:
    """Adapter for the Bedrock Runtime Converse API."""

    def __init__(
        self,
        name: str,
        config: BedrockProvider,
        http: httpx.AsyncClient,
        credentials: Credentials,
    ) -> None:
        self.provider = name
        self.capabilities = CAPABILITIES
        self._base_url = config.resolved_base_url
        region = region_for(config.region, self._base_url)
        keys = credentials.aws
        # Without keys requests go unsigned, and AWS's 403 says so on the first call.
        self._signer = SigV4Signer(keys, service=SIGNING_SERVICE, region=region) if keys else None
        # The content type is set here, not left to JsonApi, because it must be signed.
        api_headers = {**config.headers, "content-type": "application/json"}
        self._api = JsonApi(name, http, api_headers, request_id_headers=(REQUEST_ID_HEADER,))

    async def complete(self, request: ProviderRequest, *, timeout_s: float) -> ProviderResult:
        url, body, signed = self._prepare(request, stream=False)
        reply = await self._api.post(url, body, timeout_s=timeout_s, headers=signed)
        if not reply.ok:
            raise translate_error(reply)
        return parse_result(reply, asked_model=request.upstream_model)

    async def stream(
        self, request: ProviderRequest, *, timeout_s: float
    ) -> AsyncIterator[StreamPart]:
        url, body, signed = self._prepare(request, stream=True)
        async with open_stream(
            self._api, url, body, timeout_s=timeout_s, headers=signed
        ) as streaming:
            if not streaming.reply.ok:
                raise translate_error(streaming.reply)
            async for part in read_stream(streaming, asked_model=request.upstream_model):
                yield part

    def _prepare(
        self, request: ProviderRequest, *, stream: bool
    ) -> tuple[str, bytes, dict[str, str] | None]:
        """The URL, the body and the signed headers (None: unsigned, send the API's own)."""
        temperature = request.params.temperature
        if temperature is not None and temperature > MAX_TEMPERATURE:
            raise UnsupportedFeature(
                f"{request.upstream_model} via {self.provider}: temperature {temperature:g}"
                f" is above Bedrock's maximum of {MAX_TEMPERATURE:g}",
                provider=self.provider,
            )
        url = self._base_url + converse_path(request.upstream_model, stream=stream)
        body = build_body(request)
        signed = self._signer.sign(url, body, self._api.headers) if self._signer else None
        return url, body, signed
