"""Reading Gemini's streamed reply (``streamGenerateContent?alt=sse``).

Each SSE event's data is a ``GenerateContentResponse``: text arrives in pieces, a
function call whole in one part, and the chunk with the candidate's ``finishReason``
carries the whole usage. Gemini has no closing event: the answer is done when a chunk
has given a finish reason and the body has then ended cleanly; a body that ends
without one was cut. A failure after the 200 arrives as a chunk holding Google's error
object (``{"error": {"code", "status", ...}}``), translated as that status would be.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import orjson
from pydantic import ValidationError

from adapters.base import StreamPart, TextDelta, ToolCallDelta
from adapters.errors import MalformedResponse, StreamInterrupted
from adapters.gemini.errors import translate_error
from adapters.gemini.reply import (
    Chunk,
    Usage,
    check_blocked,
    finish_reason,
    token_counts,
    tool_call,
)
from adapters.http_call import HttpReply
from adapters.http_stream import StreamingReply
from adapters.sse import sse_events
from adapters.stream_assembly import StreamAssembler


async def read_stream(streaming: StreamingReply, *, asked_model: str) -> AsyncIterator[StreamPart]:
    """Deltas, then the result once the body ends after a finish reason."""
    reply = streaming.reply
    assembler = StreamAssembler(reply.provider)
    finish: str | None = None
    usage: Usage | None = None
    model_version: str | None = None
    calls = 0
    async for event in sse_events(streaming.lines()):
        chunk = _chunk(reply, event.data)
        reply = reply.with_request_id(chunk.response_id)
        check_blocked(reply, chunk)
        usage = chunk.usage_metadata or usage
        model_version = chunk.model_version or model_version
        if not chunk.candidates:
            continue
        candidate = chunk.candidates[0]
        for part in candidate.content.parts:
            if part.function_call is not None:
                try:
                    call = tool_call(part.function_call, calls)
                except ValidationError as exc:
                    raise reply.error(MalformedResponse, "unusable functionCall") from exc
                arguments = orjson.dumps(call.arguments).decode()
                yield assembler.add(
                    ToolCallDelta(index=calls, id=call.id, name=call.name, arguments=arguments)
                )
                calls += 1
            elif part.text and not part.thought:
                # Thought summaries are the model's reasoning, not its answer.
                yield assembler.add(TextDelta(text=part.text))
        finish = candidate.finish_reason or finish
    if finish is None:
        raise reply.error(StreamInterrupted, "the stream ended before a finishReason")
    if usage is None:
        raise reply.error(MalformedResponse, "the stream carried no usageMetadata")
    counts = token_counts(usage)
    yield assembler.result(
        finish_reason=finish_reason(finish, called=calls > 0),
        input_tokens=counts.input,
        output_tokens=counts.output,
        cached_input_tokens=counts.cached,
        provider_request_id=reply.request_id,
        upstream_model=model_version or asked_model,
    )


def _chunk(reply: HttpReply, data: str) -> Chunk:
    raw = data.encode()
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise reply.error(MalformedResponse, f"chunk is not JSON: {data[:200]!r}") from exc
    if isinstance(body, dict) and isinstance(error := body.get("error"), dict):
        # The error's own code stands in for the status the stream began with.
        code = error.get("code")
        status = code if isinstance(code, int) and not isinstance(code, bool) else reply.status
        raise translate_error(dataclasses.replace(reply, status=status, body=body, raw=raw))
    try:
        return Chunk.model_validate(body)
    except ValidationError as exc:
        raise reply.error(MalformedResponse, f"unexpected chunk: {data[:200]!r}") from exc
