"""Reading an Ollama ``/api/chat`` answer into a :class:`adapters.base.ProviderResult`.

Ollama's tool calls have no ids: ours are derived from each call's position, name and
arguments, so the same answer always yields the same ids. A streamed reply is a run of
the same ``ChatResponse`` objects (:mod:`adapters.ollama.stream`), the last one ``done``.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, ValidationError

from adapters.base import ProviderResult
from adapters.http_call import HttpReply
from adapters.vendor_reply import LenientModel, derived_call_id
from schemas.chat import FinishReason, ToolCall

# Ollama's calls have no ids; ours are derived from each call (see derived_call_id).
CALL_ID_PREFIX = "call_"

_DONE: dict[str, FinishReason] = {"stop": "stop", "length": "length"}


class _Function(LenientModel):
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)


class _ToolCall(LenientModel):
    function: _Function


class _Message(LenientModel):
    content: str = ""
    tool_calls: list[_ToolCall] | None = None


class Chat(LenientModel):
    model: str | None = None
    message: _Message
    done: bool
    done_reason: str | None = None
    # Left out when the server evaluated nothing new (a fully cached prompt).
    prompt_eval_count: int = 0
    eval_count: int = 0


def parse_result(reply: HttpReply, *, asked_model: str) -> ProviderResult:
    """The result of a 2xx reply; raises MalformedResponse."""
    try:
        body = Chat.model_validate(reply.body)
        calls = body.message.tool_calls or []
        tool_calls = [tool_call(i, c) for i, c in enumerate(calls)]
    except ValidationError as exc:
        raise reply.malformed("unexpected chat body") from exc
    if not body.done:
        # A non-streaming reply is always the final one; anything else is cut short.
        raise reply.malformed("unexpected chat body")
    return build_result(
        reply, body, content=body.message.content, tool_calls=tool_calls, asked_model=asked_model
    )


def build_result(
    reply: HttpReply,
    last: Chat,
    *,
    content: str,
    tool_calls: list[ToolCall],
    asked_model: str,
) -> ProviderResult:
    """The result whose final (``done``) object is ``last``: counts and reasons are
    read from it, content and calls are the whole reply's."""
    finish = "tool_calls" if tool_calls else _DONE.get(last.done_reason or "", "other")
    return ProviderResult(
        content=content,
        tool_calls=tool_calls,
        finish_reason=finish,
        input_tokens=last.prompt_eval_count,
        output_tokens=last.eval_count,
        provider_request_id=reply.request_id,
        upstream_model=last.model or asked_model,
    )


def tool_call(index: int, call: _ToolCall) -> ToolCall:
    function = call.function
    return ToolCall.model_validate(
        {
            "id": derived_call_id(CALL_ID_PREFIX, index, function.name, function.arguments),
            "name": function.name,
            "arguments": function.arguments,
        }
    )
