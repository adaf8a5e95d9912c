"""Reading Ollama's streamed ``/api/chat`` reply: one JSON ``ChatResponse`` per line.

Each line adds a piece of ``message.content``; tool calls arrive whole (given ids
derived as a whole reply's are, numbered across the reply); the line with
``done: true`` carries the counts and the reason and closes the reply. A line holding
only ``{"error": ...}`` is the server failing mid-generation.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import orjson
from pydantic import ValidationError

from adapters import json_body
from adapters.base import StreamPart, TextDelta, ToolCallDelta
from adapters.errors import MalformedResponse, StreamInterrupted
from adapters.http_call import HttpReply
from adapters.http_stream import StreamingReply
from adapters.ollama.errors import stream_error
from adapters.ollama.reply import Chat, build_result, tool_call
from schemas.chat import ToolCall


async def read_stream(streaming: StreamingReply, *, asked_model: str) -> AsyncIterator[StreamPart]:
    """Deltas line by line, then the whole result at the ``done`` line."""
    reply = streaming.reply
    text: list[str] = []
    calls: list[ToolCall] = []
    async for line in streaming.lines():
        if not line.strip():
            continue
        chunk = _parse(reply, line)
        if chunk.message.content:
            text.append(chunk.message.content)
            yield TextDelta(text=chunk.message.content)
        for whole in chunk.message.tool_calls or []:
            try:
                call = tool_call(len(calls), whole)
            except ValidationError as exc:
                raise _malformed(reply, line) from exc
            # A whole call: one delta, its arguments complete.
            arguments = json_body.dumps(call.arguments).decode()
            yield ToolCallDelta(index=len(calls), id=call.id, name=call.name, arguments=arguments)
            calls.append(call)
        if chunk.done:
            content = "".join(text)
            yield build_result(
                reply, chunk, content=content, tool_calls=calls, asked_model=asked_model
            )
            return
    raise reply.error(StreamInterrupted, "the stream ended before its done line")


def _parse(reply: HttpReply, line: str) -> Chat:
    try:
        raw = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise _malformed(reply, line) from exc
    error = raw.get("error") if isinstance(raw, dict) else None
    if isinstance(error, str):
        raise stream_error(reply, error)
    try:
        return Chat.model_validate(raw)
    except ValidationError as exc:
        raise _malformed(reply, line) from exc


def _malformed(reply: HttpReply, line: str) -> MalformedResponse:
    return reply.error(MalformedResponse, f"unexpected stream line: {line[:200]!r}")
