"""OpenAI-compatible Chat Completions: ``POST {base_url}/chat/completions``.

``base_url`` includes the API version prefix, as with the OpenAI SDK
(``https://api.openai.com/v1``), so any server speaking the same dialect (vLLM,
Azure's v1 surface, the emulator) works unchanged.
"""

from __future__ import annotations

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from adapters.base import ProviderRequest, ProviderResult
from adapters.capabilities import Capabilities
from adapters.errors import (
    AuthenticationFailed,
    ContentFiltered,
    ContextWindowExceeded,
    MalformedResponse,
    ProviderError,
)
from adapters.http_call import HttpReply, post_json
from adapters.retry_after import parse_retry_after
from adapters.status import error_for_status
from schemas.events import FinishReason

_FINISH: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    # The pre-tools name for the same thing; some compatible servers still send it.
    "function_call": "tool_calls",
}

# error.code values that say more than the status does.
_CODE_ERRORS: dict[str, type[ProviderError]] = {
    "context_length_exceeded": ContextWindowExceeded,
    # Azure OpenAI rejects a prompt its filter flags with 400 and this code.
    "content_filter": ContentFiltered,
    # Out of credit: a 429 by status, but waiting does not help.
    "insufficient_quota": AuthenticationFailed,
}


class _Reply(BaseModel):
    # Vendors add response fields all the time; ignoring extras keeps us parsing.
    model_config = ConfigDict(extra="ignore", frozen=True)


class _Message(_Reply):
    content: str | None = None
    refusal: str | None = None


class _Choice(_Reply):
    message: _Message
    finish_reason: str | None = None


class _Usage(_Reply):
    prompt_tokens: int = Field(ge=0)
    completion_tokens: int = Field(ge=0)


class _Completion(_Reply):
    id: str | None = None
    model: str | None = None
    choices: list[_Choice] = Field(min_length=1)
    # Required: without it we cannot bill the call, and a retry is no better than
    # treating it as a broken reply.
    usage: _Usage


class _ErrorDetail(_Reply):
    message: str = ""
    type: str | None = None
    # Some compatible servers put the HTTP status here as a number.
    code: str | int | None = None


class _ErrorBody(_Reply):
    error: _ErrorDetail


class OpenAICompatAdapter:
    """Adapter for providers speaking OpenAI's Chat Completions dialect."""

    def __init__(
        self, provider: str, base_url: str, client: httpx.AsyncClient, api_key: str | None
    ) -> None:
        self.provider = provider
        # Text only until the tools/images/JSON mapping lands.
        self.capabilities = Capabilities(
            frozenset({"system_prompt", "temperature", "top_p", "stop"}), streaming=True
        )
        self._url = base_url.rstrip("/") + "/chat/completions"
        self._client = client
        self._headers = {"authorization": f"Bearer {api_key}"} if api_key else {}

    async def complete(self, request: ProviderRequest, *, timeout_s: float) -> ProviderResult:
        reply = await post_json(
            self._client,
            self._url,
            headers=self._headers,
            payload=build_payload(request),
            timeout_s=timeout_s,
            provider=self.provider,
        )
        request_id = reply.headers.get("x-request-id")
        if not 200 <= reply.status < 300:
            raise self._error(reply, request_id)
        return self._result(reply, request_id, request.upstream_model)

    def _result(self, reply: HttpReply, request_id: str | None, asked_model: str) -> ProviderResult:
        try:
            body = _Completion.model_validate(reply.body)
        except ValidationError as exc:
            raise MalformedResponse(
                f"unexpected completion body: {reply.snippet()!r}",
                provider=self.provider,
                status_code=reply.status,
                provider_request_id=request_id,
            ) from exc
        request_id = request_id or body.id
        choice = body.choices[0]
        if choice.finish_reason == "content_filter" or choice.message.refusal:
            raise ContentFiltered(
                choice.message.refusal or "output blocked by the provider's content filter",
                provider=self.provider,
                status_code=reply.status,
                provider_request_id=request_id,
            )
        return ProviderResult(
            content=choice.message.content or "",
            finish_reason=_FINISH.get(choice.finish_reason or "", "other"),
            input_tokens=body.usage.prompt_tokens,
            output_tokens=body.usage.completion_tokens,
            provider_request_id=request_id,
            upstream_model=body.model or asked_model,
        )

    def _error(self, reply: HttpReply, request_id: str | None) -> ProviderError:
        cls = error_for_status(reply.status)
        message = reply.snippet()
        try:
            detail = _ErrorBody.model_validate(reply.body).error
        except ValidationError:
            pass  # not the documented error shape: the status alone decides
        else:
            message = detail.message or message
            if 400 <= reply.status < 500 and isinstance(detail.code, str):
                cls = _CODE_ERRORS.get(detail.code, cls)
        return cls(
            message,
            provider=self.provider,
            status_code=reply.status,
            provider_request_id=request_id,
            retry_after_s=parse_retry_after(reply.headers),
        )


def build_payload(request: ProviderRequest) -> dict[str, object]:
    """The request body; optional parameters are sent only when set."""
    payload: dict[str, object] = {
        "model": request.upstream_model,
        "messages": [{"role": m.role, "content": m.content} for m in request.messages],
    }
    params = request.params
    if params.max_tokens is not None:
        payload["max_tokens"] = params.max_tokens
    if params.temperature is not None:
        payload["temperature"] = params.temperature
    if params.top_p is not None:
        payload["top_p"] = params.top_p
    if params.stop:
        payload["stop"] = list(params.stop)
    return payload
