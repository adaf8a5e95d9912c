"""Reading an Anthropic Messages answer into a :class:`adapters.base.ProviderResult`."""

from __future__ import annotations

from typing import Any

from pydantic import Field, ValidationError

from adapters.base import ProviderResult
from adapters.errors import ContentFiltered
from adapters.http_call import HttpReply
from adapters.vendor_reply import LenientModel
from schemas.chat import ToolCall
from schemas.events import FinishReason

STOP_REASONS: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    # The output ran into the context window: truncated, as with max_tokens.
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
}


class _Block(LenientModel):
    type: str
    text: str | None = None
    # tool_use blocks
    id: str | None = None
    name: str | None = None
    input: dict[str, Any] | None = None


class Usage(LenientModel):
    input_tokens: int = Field(ge=0)
    output_tokens: int = Field(ge=0)
    # Null or absent when prompt caching played no part.
    cache_creation_input_tokens: int | None = Field(default=None, ge=0)
    cache_read_input_tokens: int | None = Field(default=None, ge=0)


class StopDetails(LenientModel):
    category: str | None = None
    explanation: str | None = None


class _Message(LenientModel):
    id: str | None = None
    model: str | None = None
    content: list[_Block]
    stop_reason: str | None = None
    stop_details: StopDetails | None = None
    usage: Usage


def parse_result(reply: HttpReply, *, asked_model: str) -> ProviderResult:
    """The result of a 2xx reply; raises MalformedResponse or ContentFiltered."""
    try:
        body = _Message.model_validate(reply.body)
    except ValidationError as exc:
        raise reply.malformed("unexpected message body") from exc
    reply = reply.with_request_id(body.id)
    if body.stop_reason == "refusal":
        raise reply.error(ContentFiltered, refusal_message(body.stop_details))
    try:
        tool_calls = [
            ToolCall(id=b.id or "", name=b.name or "", arguments=b.input or {})
            for b in body.content
            if b.type == "tool_use"
        ]
    except ValidationError as exc:
        raise reply.malformed("unusable tool_use block") from exc
    return ProviderResult(
        content="".join(b.text or "" for b in body.content if b.type == "text"),
        tool_calls=tool_calls,
        finish_reason=STOP_REASONS.get(body.stop_reason or "", "other"),
        input_tokens=total_input_tokens(body.usage),
        output_tokens=body.usage.output_tokens,
        cached_input_tokens=body.usage.cache_read_input_tokens or 0,
        provider_request_id=reply.request_id,
        upstream_model=body.model or asked_model,
    )


def total_input_tokens(usage: Usage) -> int:
    # Anthropic's input_tokens leaves out the cached part, read or written.
    cached = (usage.cache_read_input_tokens or 0) + (usage.cache_creation_input_tokens or 0)
    return usage.input_tokens + cached


def refusal_message(details: StopDetails | None) -> str:
    message = "the model declined to answer (stop_reason=refusal)"
    if details is not None and details.category:
        message += f", category {details.category}"
    if details is not None and details.explanation:
        message += f": {details.explanation}"
    return message
