"""AWS Bedrock Converse: ``POST {base_url}/model/{modelId}/converse``, SigV4-signed.

``base_url`` is the runtime endpoint (``https://bedrock-runtime.{region}.amazonaws.com``
by default). Every request is signed by botocore for the service ``bedrock`` in the
configured region, over the exact bytes sent. The request mapping lives in
:mod:`adapters.bedrock_payload`, the error translation in :mod:`adapters.bedrock_errors`.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
from pydantic import Field, ValidationError

from adapters.base import ProviderRequest, ProviderResult
from adapters.bedrock_errors import translate_error
from adapters.bedrock_payload import build_body, converse_path
from adapters.capabilities import Capabilities, features
from adapters.credentials import AwsKeys
from adapters.errors import ContentFiltered, MalformedResponse, UnsupportedFeature
from adapters.http_call import HttpReply, JsonApi
from adapters.sigv4 import SigV4Signer
from adapters.vendor_reply import LenientModel
from schemas.chat import FinishReason, ToolCall

SIGNING_SERVICE = "bedrock"
REQUEST_ID_HEADER = "x-amzn-RequestId"
# Used only when neither the config nor the endpoint's host names a region; a wrong
# guess fails the first call with AuthenticationFailed, naming the signature.
FALLBACK_REGION = "us-east-1"
# Converse caps temperature at 1 (inferenceConfig.temperature is 0..1); ours goes to 2.
MAX_TEMPERATURE = 1.0

_REGION_IN_HOST = re.compile(r"bedrock-runtime(?:-fips)?\.([a-z0-9-]+)\.")

_STOP: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    # The output ran into the context window: truncated, as with max_tokens.
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
}
_FILTERED = frozenset({"guardrail_intervened", "content_filtered"})
# The model produced output Bedrock could not parse; a retry samples anew.
_MALFORMED = frozenset({"malformed_model_output", "malformed_tool_use"})

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


class _ToolUse(LenientModel):
    toolUseId: str
    name: str
    input: dict[str, Any] = Field(default_factory=dict)


class _Block(LenientModel):
    # A union on the wire: each block has exactly one of these members, or another
    # kind (reasoning, citations) that the result does not carry.
    text: str | None = None
    toolUse: _ToolUse | None = None


class _Message(LenientModel):
    role: str
    content: list[_Block]


class _Output(LenientModel):
    message: _Message


class _Usage(LenientModel):
    # Bedrock's inputTokens leaves out cache reads and writes; ours counts all.
    inputTokens: int = Field(ge=0)
    outputTokens: int = Field(ge=0)
    cacheReadInputTokens: int = Field(default=0, ge=0)
    cacheWriteInputTokens: int = Field(default=0, ge=0)


class _Converse(LenientModel):
    output: _Output
    stopReason: str
    # Required: without it we cannot bill the call.
    usage: _Usage


def region_for(region: str | None, base_url: str) -> str:
    """The configured region, else the one in a ``bedrock-runtime.{region}.`` host."""
    if region:
        return region
    match = _REGION_IN_HOST.search(httpx.URL(base_url).host)
    return match.group(1) if match else FALLBACK_REGION


class BedrockConverseAdapter:
    """Adapter for the Bedrock Runtime Converse API."""

    def __init__(
        self,
        provider: str,
        base_url: str,
        client: httpx.AsyncClient,
        keys: AwsKeys | None,
        *,
        region: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.provider = provider
        self.capabilities = CAPABILITIES
        self._base_url = base_url.rstrip("/")
        # Without keys requests go unsigned, and AWS's 403 says so on the first call.
        self._signer = SigV4Signer(keys, service=SIGNING_SERVICE, region=region) if keys else None
        # The content type is set here, not left to JsonApi, because it must be signed.
        api_headers = {**(headers or {}), "content-type": "application/json"}
        self._api = JsonApi(provider, client, api_headers, request_id_headers=(REQUEST_ID_HEADER,))

    async def complete(self, request: ProviderRequest, *, timeout_s: float) -> ProviderResult:
        temperature = request.params.temperature
        if temperature is not None and temperature > MAX_TEMPERATURE:
            raise UnsupportedFeature(
                f"{request.upstream_model} via {self.provider}: temperature {temperature:g}"
                f" is above Bedrock's maximum of {MAX_TEMPERATURE:g}",
                provider=self.provider,
            )
        url = self._base_url + converse_path(request.upstream_model)
        body = build_body(request)
        signed = self._signer.sign(url, body, self._api.headers) if self._signer else None
        reply = await self._api.post(url, body, timeout_s=timeout_s, headers=signed)
        if not reply.ok:
            raise translate_error(reply)
        return _result(reply, request.upstream_model)


def _result(reply: HttpReply, model: str) -> ProviderResult:
    try:
        body = _Converse.model_validate(reply.body)
        tool_calls = [
            ToolCall(id=b.toolUse.toolUseId, name=b.toolUse.name, arguments=b.toolUse.input)
            for b in body.output.message.content
            if b.toolUse is not None
        ]
    except ValidationError as exc:
        raise reply.malformed("unexpected converse body") from exc
    if body.stopReason in _FILTERED:
        message = f"output blocked by Bedrock (stopReason={body.stopReason})"
        raise reply.error(ContentFiltered, message)
    if body.stopReason in _MALFORMED:
        raise reply.error(MalformedResponse, f"stopReason={body.stopReason}")
    usage = body.usage
    cached = usage.cacheReadInputTokens
    return ProviderResult(
        content="".join(b.text or "" for b in body.output.message.content),
        tool_calls=tool_calls,
        finish_reason=_STOP.get(body.stopReason, "other"),
        input_tokens=usage.inputTokens + cached + usage.cacheWriteInputTokens,
        output_tokens=usage.outputTokens,
        cached_input_tokens=cached,
        provider_request_id=reply.request_id,
        # Converse does not echo the model; the id asked for is the one that answered.
        upstream_model=model,
    )
