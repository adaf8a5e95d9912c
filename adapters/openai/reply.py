"""Reading a Chat Completions answer into a :class:`adapters.base.ProviderResult`.

The models here ignore unknown fields (vendors add them all the time) and accept the
variants compatible servers send: content as a list of chunks (Mistral), arguments as
an object instead of a JSON string, DeepSeek's ``prompt_cache_hit_tokens`` next to
OpenAI's ``prompt_tokens_details.cached_tokens``, and Perplexity's citations.
"""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import Field, ValidationError

from adapters.base import ProviderResult
from adapters.errors import ContentFiltered
from adapters.http_call import HttpReply
from adapters.vendor_reply import LenientModel
from schemas.chat import FinishReason, ToolCall

_FINISH: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    # The pre-tools name for the same thing; some compatible servers still send it.
    "function_call": "tool_calls",
    # Mistral: the output ran into the model's context window, truncated as by max_tokens.
    "model_length": "length",
    # TGI: the model ended its turn.
    "eos_token": "stop",
}


class _Function(LenientModel):
    name: str
    arguments: str | dict[str, Any] = "{}"


class _ToolCall(LenientModel):
    id: str | None = None
    function: _Function


class _Chunk(LenientModel):
    type: str
    text: str | None = None


class _Message(LenientModel):
    content: str | list[_Chunk] | None = None
    refusal: str | None = None
    tool_calls: list[_ToolCall] | None = None


class _Choice(LenientModel):
    message: _Message
    finish_reason: str | None = None


class _PromptDetails(LenientModel):
    cached_tokens: int | None = Field(default=None, ge=0)


class _Usage(LenientModel):
    prompt_tokens: int = Field(ge=0)
    completion_tokens: int = Field(ge=0)
    prompt_tokens_details: _PromptDetails | None = None
    prompt_cache_hit_tokens: int | None = Field(default=None, ge=0)

    @property
    def cached_tokens(self) -> int:
        details = self.prompt_tokens_details
        cached = (details.cached_tokens if details else None) or self.prompt_cache_hit_tokens
        return min(cached or 0, self.prompt_tokens)


class _SearchResult(LenientModel):
    url: str | None = None


class _Completion(LenientModel):
    id: str | None = None
    model: str | None = None
    choices: list[_Choice] = Field(min_length=1)
    # Required: without it we cannot bill the call, and a retry is no better than
    # treating it as a broken reply.
    usage: _Usage
    citations: list[str] | None = None
    search_results: list[_SearchResult] | None = None

    def source_urls(self) -> list[str]:
        return source_urls(self.citations, self.search_results)


def source_urls(
    citations: list[str] | None, search_results: list[_SearchResult] | None
) -> list[str]:
    """Perplexity's sources: the citations, then any other search result's URL."""
    urls = list(citations or [])
    urls += [r.url for r in search_results or [] if r.url]
    return list(dict.fromkeys(urls))


def finish_reason(raw: str | None) -> FinishReason:
    return _FINISH.get(raw or "", "other")


def parse_result(reply: HttpReply, *, asked_model: str) -> ProviderResult:
    """The result of a 2xx reply; raises MalformedResponse or ContentFiltered."""
    try:
        body = _Completion.model_validate(reply.body)
    except ValidationError as exc:
        raise reply.malformed("unexpected completion body") from exc
    reply = reply.with_request_id(body.id)
    choice = body.choices[0]
    if choice.finish_reason == "content_filter" or choice.message.refusal:
        message = choice.message.refusal or "output blocked by the provider's content filter"
        raise reply.error(ContentFiltered, message)
    try:
        tool_calls = [_tool_call(c, i) for i, c in enumerate(choice.message.tool_calls or [])]
        return ProviderResult(
            content=text_of(choice.message.content),
            tool_calls=tool_calls,
            finish_reason=finish_reason(choice.finish_reason),
            input_tokens=body.usage.prompt_tokens,
            output_tokens=body.usage.completion_tokens,
            cached_input_tokens=body.usage.cached_tokens,
            citations=body.source_urls(),
            provider_request_id=reply.request_id,
            upstream_model=body.model or asked_model,
        )
    except (ValidationError, ValueError) as exc:
        raise reply.malformed("unusable tool call") from exc


def text_of(content: str | list[_Chunk] | None) -> str:
    if isinstance(content, list):
        # Reasoning models put "thinking" chunks next to the answer's text chunks.
        return "".join(c.text or "" for c in content if c.type == "text")
    return content or ""


def _tool_call(call: _ToolCall, index: int) -> ToolCall:
    arguments = call.function.arguments
    if isinstance(arguments, str):
        # A model can emit broken JSON here; orjson's error is a ValueError.
        arguments = orjson.loads(arguments or "{}")
        if not isinstance(arguments, dict):
            raise ValueError("tool call arguments are not a JSON object")
    # A few servers leave ids out; the result must still be answerable by id.
    call_id = call.id or f"call_{index}"
    return ToolCall(id=call_id, name=call.function.name, arguments=arguments)
