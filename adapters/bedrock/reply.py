"""Reading a Bedrock Converse answer into a :class:`adapters.base.ProviderResult`.

:func:`build_result` is shared with the streamed reply (:mod:`adapters.bedrock.stream`).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, ValidationError

from adapters.base import ProviderResult
from adapters.errors import ContentFiltered, MalformedResponse
from adapters.http_call import HttpReply
from adapters.vendor_reply import LenientModel
from schemas.chat import FinishReason, ToolCall

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


class Usage(LenientModel):
    # Bedrock's inputTokens leaves out cache reads and writes; ours counts all.
    inputTokens: int = Field(ge=0)
    outputTokens: int = Field(ge=0)
    cacheReadInputTokens: int = Field(default=0, ge=0)
    cacheWriteInputTokens: int = Field(default=0, ge=0)


class _Converse(LenientModel):
    output: _Output
    stopReason: str
    # Required: without it we cannot bill the call.
    usage: Usage


def parse_result(reply: HttpReply, *, asked_model: str) -> ProviderResult:
    """The result of a 2xx reply; raises MalformedResponse or ContentFiltered."""
    try:
        body = _Converse.model_validate(reply.body)
        tool_calls = [
            ToolCall(id=b.toolUse.toolUseId, name=b.toolUse.name, arguments=b.toolUse.input)
            for b in body.output.message.content
            if b.toolUse is not None
        ]
    except ValidationError as exc:
        raise reply.malformed("unexpected converse body") from exc
    return build_result(
        reply,
        stop_reason=body.stopReason,
        usage=body.usage,
        text="".join(b.text or "" for b in body.output.message.content),
        tool_calls=tool_calls,
        asked_model=asked_model,
    )


def build_result(
    reply: HttpReply,
    *,
    stop_reason: str,
    usage: Usage,
    text: str,
    tool_calls: list[ToolCall],
    asked_model: str,
) -> ProviderResult:
    """The result of a finished reply, whole or streamed; raises ContentFiltered or
    MalformedResponse where the stop reason says the output is unusable."""
    if stop_reason in _FILTERED:
        message = f"output blocked by Bedrock (stopReason={stop_reason})"
        raise reply.error(ContentFiltered, message)
    if stop_reason in _MALFORMED:
        raise reply.error(MalformedResponse, f"stopReason={stop_reason}")
    cached = usage.cacheReadInputTokens
    return ProviderResult(
        content=text,
        tool_calls=tool_calls,
        finish_reason=_STOP.get(stop_reason, "other"),
        input_tokens=usage.inputTokens + cached + usage.cacheWriteInputTokens,
        output_tokens=usage.outputTokens,
        cached_input_tokens=cached,
        provider_request_id=reply.request_id,
        # Converse does not echo the model; the id asked for is the one that answered.
        upstream_model=asked_model,
    )
