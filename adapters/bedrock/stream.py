"""Reading Bedrock's ConverseStream reply: AWS event-stream messages, parsed by botocore.

botocore's :class:`~botocore.eventstream.EventStreamBuffer` cuts the body into messages
and checks their CRCs; each ``event`` message names its member of
``ConverseStreamOutput`` in ``:event-type`` and carries it as JSON. Text arrives in
``contentBlockDelta`` events; a tool use block opens with ``contentBlockStart`` (id,
name) and its JSON input follows in pieces. ``messageStop`` gives the stop reason and
``metadata`` after it the usage: that closes the reply. ``exception`` messages
(``throttlingException`` and the like) are errors raised mid-stream.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import TypeVar

import orjson
from botocore.eventstream import EventStreamBuffer, EventStreamMessage, ParserError
from pydantic import ValidationError

from adapters.base import StreamPart, TextDelta, ToolCallDelta
from adapters.bedrock.errors import translate_stream_exception
from adapters.bedrock.reply import Usage, build_result
from adapters.errors import MalformedResponse, StreamInterrupted
from adapters.http_call import HttpReply
from adapters.http_stream import StreamingReply
from adapters.stream_assembly import StreamAssembler
from adapters.vendor_reply import LenientModel

M = TypeVar("M", bound=LenientModel)


class _ToolStart(LenientModel):
    toolUseId: str
    name: str


class _Start(LenientModel):
    toolUse: _ToolStart | None = None


class _BlockStart(LenientModel):
    contentBlockIndex: int
    start: _Start


class _ToolInput(LenientModel):
    input: str = ""


class _Delta(LenientModel):
    # A union: text, a piece of tool input, or a kind the result does not carry.
    text: str | None = None
    toolUse: _ToolInput | None = None


class _BlockDelta(LenientModel):
    contentBlockIndex: int
    delta: _Delta


class _MessageStop(LenientModel):
    stopReason: str


class _Metadata(LenientModel):
    usage: Usage


class _Exception(LenientModel):
    message: str = ""


async def read_stream(streaming: StreamingReply, *, asked_model: str) -> AsyncIterator[StreamPart]:
    """Deltas as the events arrive, then the whole result at ``metadata``."""
    reply = streaming.reply
    buffer = EventStreamBuffer()
    assembler = StreamAssembler(reply.provider)
    # Content block index -> the tool call's index among the reply's calls.
    tool_blocks: dict[int, int] = {}
    stop_reason: str | None = None
    async for chunk in streaming.chunks():
        buffer.add_data(chunk)
        for message in _messages(reply, buffer):
            kind, payload = _event(reply, message)
            if kind == "contentBlockStart":
                start = _parse(reply, _BlockStart, kind, payload)
                if start.start.toolUse is not None:
                    index = tool_blocks.setdefault(start.contentBlockIndex, len(tool_blocks))
                    tool = start.start.toolUse
                    yield assembler.add(
                        ToolCallDelta(index=index, id=tool.toolUseId, name=tool.name)
                    )
            elif kind == "contentBlockDelta":
                piece = _parse(reply, _BlockDelta, kind, payload)
                if piece.delta.text:
                    yield assembler.add(TextDelta(text=piece.delta.text))
                elif piece.delta.toolUse is not None:
                    call_index = tool_blocks.get(piece.contentBlockIndex)
                    if call_index is None:
                        raise _malformed(reply, kind, payload)
                    delta = ToolCallDelta(index=call_index, arguments=piece.delta.toolUse.input)
                    yield assembler.add(delta)
            elif kind == "messageStop":
                stop_reason = _parse(reply, _MessageStop, kind, payload).stopReason
            elif kind == "metadata":
                if stop_reason is None:
                    raise _malformed(reply, kind, payload)
                yield build_result(
                    reply,
                    stop_reason=stop_reason,
                    usage=_parse(reply, _Metadata, kind, payload).usage,
                    text="".join(assembler.text),
                    tool_calls=assembler.tool_calls(),
                    asked_model=asked_model,
                )
                return
    ending = "metadata" if stop_reason is not None else "messageStop"
    raise reply.error(StreamInterrupted, f"the stream ended before {ending}")


def _messages(reply: HttpReply, buffer: EventStreamBuffer) -> Iterator[EventStreamMessage]:
    try:
        yield from buffer
    except ParserError as exc:
        raise reply.error(MalformedResponse, f"broken event-stream message: {exc}") from exc


def _event(reply: HttpReply, message: EventStreamMessage) -> tuple[str, bytes]:
    """The event's name and JSON payload; raises the error an exception message carries."""
    headers = message.headers
    message_type = headers.get(":message-type")
    if message_type == "event":
        return str(headers.get(":event-type", "")), message.payload
    if message_type == "exception":
        name = str(headers.get(":exception-type", ""))
        detail = _parse(reply, _Exception, name, message.payload).message
        raise translate_stream_exception(reply, name, detail)
    if message_type == "error":
        # An unmodelled failure: its code and message travel in headers, not the payload.
        code = str(headers.get(":error-code", ""))
        raise translate_stream_exception(reply, code, str(headers.get(":error-message", "")))
    raise reply.error(MalformedResponse, f"event-stream message of type {message_type!r}")


def _parse(reply: HttpReply, model: type[M], kind: str, payload: bytes) -> M:
    try:
        return model.model_validate(orjson.loads(payload))
    except (orjson.JSONDecodeError, ValidationError) as exc:
        raise _malformed(reply, kind, payload) from exc


def _malformed(reply: HttpReply, kind: str, payload: bytes) -> MalformedResponse:
    text = payload[:200].decode("utf-8", errors="replace")
    return reply.error(MalformedResponse, f"unexpected {kind} event: {text!r}")
