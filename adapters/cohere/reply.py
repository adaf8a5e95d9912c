"""Reading a Cohere Chat v2 answer into a :class:`adapters.base.ProviderResult`.

Tool call arguments arrive as a JSON string; a generation that failed still comes back
as a 200 whose ``finish_reason`` says how, and is raised as the matching error.
:func:`build_result` is shared with the streamed reply (:mod:`adapters.cohere.stream`).
"""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import ValidationError

from adapters.base import ProviderResult
from adapters.errors import (
    ContentFiltered,
    MalformedResponse,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
)
from adapters.http_call import HttpReply
from adapters.vendor_reply import LenientModel
from schemas.chat import FinishReason, ToolCall

_FINISH: dict[str, FinishReason] = {
    "COMPLETE": "stop",
    "STOP_SEQUENCE": "stop",
    "MAX_TOKENS": "length",
    # The reply ran into the model's context length: truncated, as with max_tokens.
    "ERROR_LIMIT": "length",
    "TOOL_CALL": "tool_calls",
}

# Citation sources whose url field is a web address worth passing on.
_WEB = ("https://", "http://")


class _Function(LenientModel):
    name: str
    # A JSON document as a string, as in OpenAI's format.
    arguments: str = "{}"


class _ToolCall(LenientModel):
    id: str
    function: _Function


class _Content(LenientModel):
    type: str
    text: str | None = None


class _Source(LenientModel):
    document: dict[str, Any] | None = None
    tool_output: dict[str, Any] | None = None


class Citation(LenientModel):
    sources: list[_Source] | None = None


class _Message(LenientModel):
    content: list[_Content] | None = None
    tool_plan: str | None = None
    tool_calls: list[_ToolCall] | None = None
    citations: list[Citation] | None = None


class _Counts(LenientModel):
    # The SDK types these as numbers; whole tokens in practice.
    input_tokens: float | None = None
    output_tokens: float | None = None


class Usage(LenientModel):
    billed_units: _Counts | None = None
    tokens: _Counts | None = None
    cached_tokens: float | None = None


class _Chat(LenientModel):
    id: str | None = None
    finish_reason: str
    message: _Message
    # Required: without it we cannot bill the call.
    usage: Usage


def parse_result(reply: HttpReply, *, asked_model: str) -> ProviderResult:
    """The result of a 2xx reply; raises MalformedResponse, or the error a failed
    generation's finish reason names."""
    try:
        body = _Chat.model_validate(reply.body)
        tool_calls = [_tool_call(c) for c in body.message.tool_calls or []]
    except (ValidationError, orjson.JSONDecodeError) as exc:
        raise reply.malformed("unexpected chat body") from exc
    message = body.message
    return build_result(
        reply.with_request_id(body.id),
        finish_reason=body.finish_reason,
        usage=body.usage,
        text="".join(c.text or "" for c in message.content or [] if c.type == "text"),
        tool_plan=message.tool_plan or "",
        tool_calls=tool_calls,
        citations=message.citations or [],
        asked_model=asked_model,
    )


def build_result(
    reply: HttpReply,
    *,
    finish_reason: str,
    usage: Usage | None,
    text: str,
    tool_plan: str,
    tool_calls: list[ToolCall],
    citations: list[Citation],
    asked_model: str,
) -> ProviderResult:
    """The result of a finished reply, whole or streamed; raises the error a failed
    generation's finish reason names, or MalformedResponse without usage."""
    if finish_reason in ("ERROR", "ERROR_TOXIC", "TIMEOUT"):
        raise reply.error(
            _failed_generation(finish_reason),
            f"generation ended with finish_reason={finish_reason}",
        )
    # Billed units are what Cohere's prices apply to; ``tokens`` also counts the
    # prompt template Cohere wraps around the messages.
    counts = usage and (usage.billed_units or usage.tokens)
    if not counts or counts.input_tokens is None or counts.output_tokens is None:
        raise reply.error(MalformedResponse, "the reply carries no token usage")
    return ProviderResult(
        # With tool calls the model's words are in tool_plan; sent back as history,
        # that text goes to tool_plan again (see adapters.cohere.payload).
        content=text or (tool_plan if tool_calls else ""),
        tool_calls=tool_calls,
        finish_reason=_FINISH.get(finish_reason, "other"),
        input_tokens=int(counts.input_tokens),
        output_tokens=int(counts.output_tokens),
        cached_input_tokens=int((usage and usage.cached_tokens) or 0),
        citations=citation_urls(citations),
        provider_request_id=reply.request_id,
        # Cohere's reply does not name the model.
        upstream_model=asked_model,
    )


def _tool_call(call: _ToolCall) -> ToolCall:
    arguments = orjson.loads(call.function.arguments or "{}")
    return ToolCall.model_validate(
        {"id": call.id, "name": call.function.name, "arguments": arguments}
    )


def _failed_generation(finish_reason: str) -> type[ProviderError]:
    if finish_reason == "ERROR_TOXIC":
        # The SDK documents it as "the model generated a reply that was deemed toxic".
        return ContentFiltered
    if finish_reason == "TIMEOUT":
        return ProviderTimeout
    # "Something went wrong when generating the reply": the provider's fault.
    return ProviderUnavailable


def citation_urls(citations: list[Citation]) -> list[str]:
    """Web addresses the cited documents or tool outputs carry in a ``url`` field.

    Cohere's sources are otherwise identified by ids it makes up per call (e.g.
    ``doc:0``), which mean nothing outside the response, so those are left out.
    """
    urls: list[str] = []
    for citation in citations:
        for source in citation.sources or []:
            for fields in (source.document, source.tool_output):
                url = (fields or {}).get("url")
                if isinstance(url, str) and url.startswith(_WEB) and url not in urls:
                    urls.append(url)
    return urls
