"""A streamed provider call: its deltas onto the chunks topic, in order, as they arrive.

Each delta is handed to the producer without waiting for the broker, so a slow
acknowledgement never holds up the provider's stream; all of them are awaited before the
call's outcome is published, so a reader sees every chunk before the outcome on the
request's partition (docs/design/streaming.md).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable

from adapters.base import StreamDelta, TextDelta
from adapters.errors import StreamInterrupted
from schemas.chunks import ChunkEvent, ToolCallChunk
from schemas.events import DispatchEvent
from streams.model_client import ModelCall
from streams.publisher import Publisher
from streams.redaction import CallScope


class ChunkPublisher:
    """One call's chunks: numbered from 0, remembered until flushed."""

    def __init__(self, publisher: Publisher, topic: str, ev: DispatchEvent, call_id: str) -> None:
        self._publisher = publisher
        self._topic = topic
        self._ev = ev
        self._call_id = call_id
        self._pending: list[Awaitable[object]] = []
        self._started = time.perf_counter()
        self.published = 0
        self.ttft_ms = 0.0

    async def publish(self, delta: StreamDelta) -> None:
        if self.published == 0:
            self.ttft_ms = round((time.perf_counter() - self._started) * 1000, 3)
        ev = self._ev
        chunk = ChunkEvent(
            request_id=ev.request_id,
            call_id=self._call_id,
            attempt=ev.attempt,
            seq=self.published,
            model=ev.model,
            text=delta.text if isinstance(delta, TextDelta) else "",
            tool_call=None
            if isinstance(delta, TextDelta)
            else ToolCallChunk(
                index=delta.index, id=delta.id, name=delta.name, arguments=delta.arguments
            ),
        )
        self._pending.append(await self._publisher.enqueue(self._topic, chunk, ev.request_id))
        self.published += 1

    async def flush(self) -> None:
        """Until the broker has every chunk published so far."""
        pending, self._pending = self._pending, []
        await asyncio.gather(*pending)


async def streamed_call(models: CallScope, ev: DispatchEvent, chunks: ChunkPublisher) -> ModelCall:
    """The call made in streaming mode (through the attempt's redaction scope); returns
    once its last chunk is on the broker."""
    async for part in models.stream(ev.model, ev.request):
        if isinstance(part, ModelCall):
            await chunks.flush()
            return part
        await chunks.publish(part)
    # Adapters end every stream with its result or an error; this is a bug guard.
    raise StreamInterrupted("the stream ended without its result", provider=ev.model)
