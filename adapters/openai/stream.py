"""Reading a streamed Chat Completions answer: ``chat.completion.chunk`` SSE events.

Each chunk's delta becomes :class:`TextDelta` / :class:`ToolCallDelta` (a tool call's id
and name only in its first delta, whatever the service repeats). Usage is taken from
whichever chunk carries it, the last one winning: OpenAI's usage-only chunk asked for
with ``stream_options``, Mistral's finish chunk, Perplexity's running total on every
chunk. The stream is complete at ``data: [DONE]``, or, for a preset whose service sends
none (Perplexity), at the end of a body that brought the finish reason; a body ending
before that is :class:`StreamInterrupted`, never a short answer.

A service that streams no usage at all (LM Studio) gets its tokens estimated from the
text sent and received, with a warning: 0 would bill the call as free and let it past
every budget. A server that ignores ``stream`` and answers one JSON completion is read
as that completion.
"""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import orjson
from pydantic import ValidationError

from adapters import json_body
from adapters.base import (
    ProviderRequest,
    ProviderResult,
    StreamDelta,
    StreamPart,
    TextDelta,
    ToolCallDelta,
)
from adapters.errors import ContentFiltered, MalformedResponse, ProviderError, StreamInterrupted
from adapters.http_call import HttpReply
from adapters.http_stream import StreamingReply
from adapters.openai.errors import translate_error
from adapters.openai.presets import Preset
from adapters.openai.reply import (
    _Chunk,
    _SearchResult,
    _Usage,
    finish_reason,
    parse_result,
    source_urls,
    text_of,
)
from adapters.sse import sse_events
from adapters.stream_assembly import StreamAssembler
from adapters.vendor_reply import LenientModel
from schemas.chat import ToolCall

log = logging.getLogger(__name__)
E = TypeVar("E", bound=ProviderError)

_DONE = "[DONE]"
_SNIPPET_CHARS = 200
# For the estimate when no usage came: what English text averages per token, what a
# chat template adds per message, and what OpenAI bills a 1024x1024 image.
_BYTES_PER_TOKEN = 4
_TOKENS_PER_MESSAGE = 4
_IMAGE_TOKENS = 765


class _DeltaFunction(LenientModel):
    name: str | None = None
    # Mistral sends whole arguments as an object at times.
    arguments: str | dict[str, Any] | None = None


class _DeltaToolCall(LenientModel):
    # Some servers send each call whole and leave the index out: its place decides.
    index: int | None = None
    id: str | None = None
    function: _DeltaFunction | None = None


class _Delta(LenientModel):
    content: str | list[_Chunk] | None = None
    refusal: str | None = None
    tool_calls: list[_DeltaToolCall] | None = None


class _ChunkChoice(LenientModel):
    index: int = 0
    delta: _Delta | None = None
    finish_reason: str | None = None


class _CompletionChunk(LenientModel):
    id: str | None = None
    model: str | None = None
    # Empty in OpenAI's usage chunk and Azure's prompt-filter chunk; null from some vLLMs.
    choices: list[_ChunkChoice] | None = None
    usage: _Usage | None = None
    citations: list[str] | None = None
    search_results: list[_SearchResult] | None = None


@dataclass
class _Stream:
    """What the chunks so far said, beyond the deltas themselves."""

    reply: HttpReply
    assembler: StreamAssembler
    finish: str | None = None
    usage: _Usage | None = None
    model: str | None = None
    response_id: str | None = None
    citations: list[str] | None = None
    search_results: list[_SearchResult] | None = None
    refusal: list[str] = field(default_factory=list)
    named: set[int] = field(default_factory=set)

    def read(self, chunk: _CompletionChunk) -> list[StreamDelta]:
        self.model = self.model or chunk.model
        self.response_id = self.response_id or chunk.id
        self.usage = chunk.usage or self.usage
        self.citations = chunk.citations or self.citations
        self.search_results = chunk.search_results or self.search_results
        deltas: list[StreamDelta] = []
        # n is never above 1 here: the first choice is the answer.
        for choice in chunk.choices or []:
            if choice.index != 0:
                continue
            if choice.delta is not None:
                deltas += self._deltas(choice.delta)
            if choice.finish_reason:
                self.finish = choice.finish_reason
                self._check_filtered()
        return [self.assembler.add(d) for d in deltas]

    def _deltas(self, delta: _Delta) -> list[StreamDelta]:
        found: list[StreamDelta] = []
        text = text_of(delta.content)
        if text:
            found.append(TextDelta(text=text))
        if delta.refusal:
            self.refusal.append(delta.refusal)
        for position, call in enumerate(delta.tool_calls or []):
            index = position if call.index is None else call.index
            arguments = call.function.arguments if call.function else None
            if isinstance(arguments, dict):
                arguments = json_body.dumps(arguments).decode()
            if index in self.named:
                if arguments:
                    found.append(ToolCallDelta(index=index, arguments=arguments))
                continue
            self.named.add(index)
            found.append(
                ToolCallDelta(
                    index=index,
                    # As complete() does: a call must be answerable by id.
                    id=call.id or f"call_{index}",
                    name=call.function.name if call.function else None,
                    arguments=arguments or "",
                )
            )
        return found

    def _check_filtered(self) -> None:
        if self.finish == "content_filter" or self.refusal:
            message = "".join(self.refusal) or "output blocked by the provider's content filter"
            raise self.error(ContentFiltered, message)

    def error(self, cls: type[E], message: str) -> E:
        """``cls`` about this stream, naming the response id when no header did."""
        return self.reply.with_request_id(self.response_id).error(cls, message)

    def result(self, request: ProviderRequest) -> ProviderResult:
        reply = self.reply.with_request_id(self.response_id)
        try:
            tool_calls = self.assembler.tool_calls()
        except MalformedResponse as exc:
            raise reply.error(MalformedResponse, exc.message) from exc
        usage = self.usage
        if usage is None:
            log.warning("%s streamed no usage: tokens estimated from text", reply.provider)
            input_tokens = _input_estimate(request)
            output_tokens = _output_estimate(self.assembler.text, tool_calls)
            cached = 0
        else:
            input_tokens = usage.prompt_tokens
            output_tokens = usage.completion_tokens
            cached = usage.cached_tokens
        return ProviderResult(
            content="".join(self.assembler.text),
            tool_calls=tool_calls,
            finish_reason=finish_reason(self.finish),
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cached_input_tokens=cached,
            citations=source_urls(self.citations, self.search_results),
            provider_request_id=reply.request_id,
            upstream_model=self.model or request.upstream_model,
        )


async def read_stream(
    streaming: StreamingReply, request: ProviderRequest, preset: Preset
) -> AsyncIterator[StreamPart]:
    """The deltas of a 2xx streamed reply, then its result."""
    reply = streaming.reply
    if _media_type(reply) == "application/json":
        async for part in _whole_reply(streaming, request):
            yield part
        return
    state = _Stream(reply, StreamAssembler(reply.provider))
    done = False
    unreadable: tuple[str, orjson.JSONDecodeError] | None = None
    async for event in sse_events(streaming.lines()):
        if unreadable is not None:
            # More came after it: the chunk itself was broken.
            raise state.error(MalformedResponse, unreadable[0]) from unreadable[1]
        if event.data.strip() == _DONE:
            done = True
            break
        try:
            raw = orjson.loads(event.data)
        except orjson.JSONDecodeError as exc:
            unreadable = (f"unreadable chunk: {event.data[:_SNIPPET_CHARS]!r}", exc)
            continue
        error = _stream_error(raw, event.data, state, preset)
        if error is not None:
            raise error
        try:
            chunk = _CompletionChunk.model_validate(raw)
        except ValidationError as exc:
            what = f"unexpected chunk: {event.data[:_SNIPPET_CHARS]!r}"
            raise state.error(MalformedResponse, what) from exc
        for delta in state.read(chunk):
            yield delta
    if unreadable is not None:
        # The body ended inside its last event: cut short, not a bad chunk.
        raise state.error(StreamInterrupted, "stream ended inside a chunk") from unreadable[1]
    if not (done or (not preset.stream_ends_with_done and state.finish is not None)):
        closing = "[DONE]" if preset.stream_ends_with_done else "its finish reason"
        raise state.error(StreamInterrupted, f"stream ended before {closing}")
    yield state.result(request)


def _stream_error(raw: object, data: str, state: _Stream, preset: Preset) -> ProviderError | None:
    """An error sent as a chunk, mid-stream (OpenAI, OpenRouter, vLLM), translated as
    the same error would be as a reply: with the status it names, or else a 500's."""
    if not isinstance(raw, dict) or (raw.get("error") is None and raw.get("object") != "error"):
        return None
    detail = raw.get("error")
    code = detail.get("code") if isinstance(detail, dict) else raw.get("code")
    status = code if type(code) is int and 400 <= code < 600 else 500
    reply = state.reply.with_request_id(state.response_id)
    as_reply = replace(reply, status=status, body=raw, raw=data.encode())
    return translate_error(as_reply, preset)


async def _whole_reply(
    streaming: StreamingReply, request: ProviderRequest
) -> AsyncIterator[StreamPart]:
    raw = "\n".join([line async for line in streaming.lines()]).encode()
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        body = None
    result = parse_result(
        replace(streaming.reply, body=body, raw=raw), asked_model=request.upstream_model
    )
    if result.content:
        yield TextDelta(text=result.content)
    for index, call in enumerate(result.tool_calls):
        arguments = json_body.dumps(call.arguments).decode()
        yield ToolCallDelta(index=index, id=call.id, name=call.name, arguments=arguments)
    yield result


def _media_type(reply: HttpReply) -> str:
    content_type: str = reply.headers.get("content-type", "")
    return content_type.split(";")[0].strip().lower()


def _input_estimate(request: ProviderRequest) -> int:
    size = 0
    images = 0
    for message in request.messages:
        size += len(message.text.encode())
        images += len(message.images)
        for call in message.tool_calls:
            size += len(call.name) + len(json_body.dumps(call.arguments))
    for tool in request.tools:
        size += len(tool.name) + len((tool.description or "").encode())
        size += len(json_body.dumps(tool.parameters))
    messages = len(request.messages)
    return (
        math.ceil(size / _BYTES_PER_TOKEN) + _TOKENS_PER_MESSAGE * messages + _IMAGE_TOKENS * images
    )


def _output_estimate(text: list[str], tool_calls: list[ToolCall]) -> int:
    size = sum(len(piece.encode()) for piece in text)
    size += sum(len(c.name) + len(json_body.dumps(c.arguments)) for c in tool_calls)
    return math.ceil(size / _BYTES_PER_TOKEN)
