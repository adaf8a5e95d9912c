"""Reading Anthropic's streamed Messages reply: deltas as they come, then the result.

The events (named on the ``event:`` line): ``message_start`` (id, model, input usage),
per content block ``content_block_start`` / ``content_block_delta`` (``text_delta``,
``input_json_delta``) / ``content_block_stop``, ``message_delta`` (stop reason and
cumulative usage) and ``message_stop``, the end. ``ping`` keeps the connection alive;
``error`` is a failure after the 200 (an ``overloaded_error``, say), translated like an
error status's body. Other events (thinking blocks' deltas, new ones) are skipped, as
Anthropic asks clients to do.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TypeVar

import orjson
from pydantic import BaseModel, Field, ValidationError

from adapters.anthropic.errors import translate_error_event
from adapters.anthropic.reply import (
    STOP_REASONS,
    StopDetails,
    Usage,
    refusal_message,
    total_input_tokens,
)
from adapters.base import ProviderResult, StreamDelta, StreamPart, TextDelta, ToolCallDelta
from adapters.errors import ContentFiltered, MalformedResponse, StreamInterrupted
from adapters.http_call import HttpReply
from adapters.http_stream import StreamingReply
from adapters.sse import SseEvent, sse_events
from adapters.stream_assembly import StreamAssembler
from adapters.vendor_reply import LenientModel

M = TypeVar("M", bound=BaseModel)


class _StartedMessage(LenientModel):
    id: str | None = None
    model: str | None = None
    usage: Usage


class _MessageStart(LenientModel):
    message: _StartedMessage


class _Block(LenientModel):
    type: str
    text: str | None = None
    id: str | None = None
    name: str | None = None


class _BlockStart(LenientModel):
    index: int
    content_block: _Block


class _Delta(LenientModel):
    type: str
    text: str | None = None
    partial_json: str | None = None


class _BlockDelta(LenientModel):
    index: int
    delta: _Delta


class _Stop(LenientModel):
    stop_reason: str | None = None
    stop_details: StopDetails | None = None


class _DeltaUsage(LenientModel):
    output_tokens: int = Field(ge=0)
    # Newer API versions repeat the input counts here, cumulative like output_tokens.
    input_tokens: int | None = Field(default=None, ge=0)
    cache_creation_input_tokens: int | None = Field(default=None, ge=0)
    cache_read_input_tokens: int | None = Field(default=None, ge=0)


class _MessageDelta(LenientModel):
    delta: _Stop
    usage: _DeltaUsage


async def read_stream(streaming: StreamingReply, *, asked_model: str) -> AsyncIterator[StreamPart]:
    """Deltas, then the result at ``message_stop``; a body that ends first is
    :class:`StreamInterrupted`."""
    reader = _Reader(streaming.reply, asked_model)
    async for event in sse_events(streaming.lines()):
        if event.event == "message_stop":
            yield reader.result()
            return
        for delta in reader.read(event):
            yield delta
    raise reader.reply.error(StreamInterrupted, "the stream ended before message_stop")


class _Reader:
    def __init__(self, reply: HttpReply, asked_model: str) -> None:
        self.reply = reply
        self._asked_model = asked_model
        self._assembler = StreamAssembler(reply.provider)
        self._model: str | None = None
        self._usage: Usage | None = None
        self._stop_reason: str | None = None
        # Content block index -> tool call index: calls are numbered apart from text.
        self._calls: dict[int, int] = {}

    def read(self, event: SseEvent) -> list[StreamDelta]:
        match event.event:
            case "error":
                raise translate_error_event(self.reply, event.data)
            case "message_start":
                message = self._parse(event, _MessageStart).message
                self.reply = self.reply.with_request_id(message.id)
                self._model, self._usage = message.model, message.usage
            case "content_block_start":
                return self._block_start(self._parse(event, _BlockStart))
            case "content_block_delta":
                return self._block_delta(self._parse(event, _BlockDelta))
            case "message_delta":
                self._message_delta(self._parse(event, _MessageDelta))
        return []

    def _block_start(self, start: _BlockStart) -> list[StreamDelta]:
        block = start.content_block
        if block.type == "tool_use":
            index = self._calls[start.index] = len(self._calls)
            return [self._add(ToolCallDelta(index=index, id=block.id, name=block.name))]
        if block.type == "text" and block.text:
            return [self._add(TextDelta(text=block.text))]
        return []

    def _block_delta(self, event: _BlockDelta) -> list[StreamDelta]:
        delta = event.delta
        if delta.type == "text_delta" and delta.text:
            return [self._add(TextDelta(text=delta.text))]
        if delta.type == "input_json_delta" and delta.partial_json:
            index = self._calls.get(event.index)
            if index is None:
                raise self._malformed(f"tool input for block {event.index}, not a tool_use")
            return [self._add(ToolCallDelta(index=index, arguments=delta.partial_json))]
        return []

    def _message_delta(self, event: _MessageDelta) -> None:
        if event.delta.stop_reason == "refusal":
            raise self.reply.error(ContentFiltered, refusal_message(event.delta.stop_details))
        self._stop_reason = event.delta.stop_reason or self._stop_reason
        if self._usage is None:
            raise self._malformed("message_delta before message_start")
        counts = event.usage.model_dump(exclude_none=True)
        self._usage = self._usage.model_copy(update=counts)

    def result(self) -> ProviderResult:
        if self._usage is None:
            raise self._malformed("message_stop without message_start")
        return self._assembler.result(
            finish_reason=STOP_REASONS.get(self._stop_reason or "", "other"),
            input_tokens=total_input_tokens(self._usage),
            output_tokens=self._usage.output_tokens,
            cached_input_tokens=self._usage.cache_read_input_tokens or 0,
            provider_request_id=self.reply.request_id,
            upstream_model=self._model or self._asked_model,
        )

    def _add(self, delta: StreamDelta) -> StreamDelta:
        return self._assembler.add(delta)

    def _malformed(self, what: str) -> MalformedResponse:
        return self.reply.error(MalformedResponse, what)

    def _parse(self, event: SseEvent, model: type[M]) -> M:
        try:
            return model.model_validate(orjson.loads(event.data))
        except (orjson.JSONDecodeError, ValidationError) as exc:
            raise self._malformed(f"unexpected {event.event} event {event.data[:200]!r}") from exc
