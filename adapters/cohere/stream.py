"""Reading Cohere Chat v2's streamed reply: server-sent events, each naming its ``type``.

Text comes in ``content-delta`` events, the words said before a tool call in
``tool-plan-delta`` (yielded as text too: a whole reply's content is that plan when it
calls tools), a tool call opens with ``tool-call-start`` (id, name) and its JSON
arguments follow in ``tool-call-delta`` pieces. ``message-end`` closes the reply with
the finish reason and usage; a body that ends before it was cut.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TypeVar

import orjson
from pydantic import ValidationError

from adapters.base import StreamPart, TextDelta, ToolCallDelta
from adapters.cohere.reply import Citation, Usage, build_result
from adapters.errors import MalformedResponse, StreamInterrupted
from adapters.http_call import HttpReply
from adapters.http_stream import StreamingReply
from adapters.sse import sse_events
from adapters.stream_assembly import StreamAssembler
from adapters.vendor_reply import LenientModel

M = TypeVar("M", bound=LenientModel)


class _Function(LenientModel):
    name: str | None = None
    arguments: str | None = None


class _CallPiece(LenientModel):
    id: str | None = None
    function: _Function | None = None


class _ContentPiece(LenientModel):
    # Thinking models stream ``thinking`` pieces too; whole replies leave them out.
    text: str | None = None


class _DeltaMessage(LenientModel):
    content: _ContentPiece | None = None
    tool_plan: str | None = None
    tool_calls: _CallPiece | None = None
    citations: Citation | None = None


class _Delta(LenientModel):
    message: _DeltaMessage | None = None
    finish_reason: str | None = None
    usage: Usage | None = None


class _Event(LenientModel):
    type: str
    index: int = 0
    delta: _Delta | None = None


class _Start(LenientModel):
    # message-start's own delta holds empty lists where other events hold one piece.
    id: str | None = None


async def read_stream(streaming: StreamingReply, *, asked_model: str) -> AsyncIterator[StreamPart]:
    """Deltas as the events arrive, then the whole result at ``message-end``."""
    reply = streaming.reply
    assembler = StreamAssembler(reply.provider)
    plan: list[str] = []
    citations: list[Citation] = []
    async for sse in sse_events(streaming.lines()):
        raw = _decode(reply, sse.data)
        if raw.get("type") == "message-start":
            reply = reply.with_request_id(_validate(reply, _Start, raw).id)
            continue
        event = _validate(reply, _Event, raw)
        delta = event.delta or _Delta()
        message = delta.message or _DeltaMessage()
        if event.type == "content-delta" and message.content and message.content.text:
            yield assembler.add(TextDelta(text=message.content.text))
        elif event.type == "tool-plan-delta" and message.tool_plan:
            plan.append(message.tool_plan)
            yield TextDelta(text=message.tool_plan)
        elif event.type in ("tool-call-start", "tool-call-delta") and message.tool_calls:
            call = message.tool_calls
            function = call.function or _Function()
            yield assembler.add(
                ToolCallDelta(
                    index=event.index,
                    id=call.id,
                    name=function.name,
                    arguments=function.arguments or "",
                )
            )
        elif event.type == "citation-start" and message.citations:
            citations.append(message.citations)
        elif event.type == "message-end":
            yield build_result(
                reply,
                finish_reason=delta.finish_reason or "",
                usage=delta.usage,
                text="".join(assembler.text),
                tool_plan="".join(plan),
                tool_calls=assembler.tool_calls(),
                citations=citations,
                asked_model=asked_model,
            )
            return
    raise reply.error(StreamInterrupted, "the stream ended before message-end")


def _decode(reply: HttpReply, data: str) -> dict[str, object]:
    try:
        raw = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise _malformed(reply, data) from exc
    if not isinstance(raw, dict):
        raise _malformed(reply, data)
    return raw


def _validate(reply: HttpReply, model: type[M], raw: dict[str, object]) -> M:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise _malformed(reply, str(raw)) from exc


def _malformed(reply: HttpReply, data: str) -> MalformedResponse:
    return reply.error(MalformedResponse, f"unexpected stream event: {data[:200]!r}")
