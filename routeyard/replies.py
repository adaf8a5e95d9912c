"""Waiting for one's own requests' outcomes and chunks on the shared topics.

One consumer per process reads ``llm.responses``, ``llm.dlq`` and ``llm.chunks`` from
their end, with no consumer group: every process sees every record and keeps only those
whose key is a request_id it is waiting for (docs/design/streaming.md, "Request-reply").
A record for someone else is dropped after reading its key, without decoding its value.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer
from pydantic import ValidationError

from schemas.chunks import ChunkEvent
from schemas.config import TopicsConfig
from schemas.events import DeadLetter
from schemas.responses import LLMResponse
from streams.topic_reader import partitions_of

log = logging.getLogger(__name__)

Reply = ChunkEvent | LLMResponse | DeadLetter


class TooManyPending(Exception):
    """This process already waits for as many requests as it may; try again later."""


@dataclass
class _Waiter:
    queue: asyncio.Queue[Reply] = field(default_factory=asyncio.Queue)


class ReplyBook:
    def __init__(self, bootstrap: str, topics: TopicsConfig, max_pending: int) -> None:
        self._bootstrap = bootstrap
        self._topics = topics
        self._kinds: dict[str, type[ChunkEvent] | type[LLMResponse] | type[DeadLetter]] = {
            topics.responses: LLMResponse,
            topics.dlq: DeadLetter,
            topics.chunks: ChunkEvent,
        }
        self.max_pending = max_pending
        self._waiting: dict[str, _Waiter] = {}
        self._consumer: AIOKafkaConsumer | None = None
        self._reader: asyncio.Task[None] | None = None
        self.ready = asyncio.Event()
        self.dropped_undecodable = 0

    @property
    def pending(self) -> int:
        return len(self._waiting)

    async def start(self) -> None:
        """Read from the topics' current ends; returns once positioned there."""
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="latest",
            fetch_max_wait_ms=50,
        )
        parts = await partitions_of(self._bootstrap, list(self._kinds))
        await consumer.start()
        try:
            consumer.assign(parts)
            await consumer.seek_to_end(*parts)
            # Resolving the positions now means every record published after this
            # returns is read: a request published next cannot be answered unseen.
            for tp in parts:
                await consumer.position(tp)
        except BaseException:
            await consumer.stop()
            raise
        self._consumer = consumer
        self._reader = asyncio.create_task(self._read(consumer))
        self.ready.set()

    async def stop(self) -> None:
        self.ready.clear()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if self._consumer is not None:
            await self._consumer.stop()

    @contextlib.contextmanager
    def expect(self, request_id: str) -> Iterator[AsyncIterator[Reply]]:
        """Register ``request_id`` before publishing it; iterate its replies in order."""
        if len(self._waiting) >= self.max_pending:
            raise TooManyPending(f"{self.max_pending} requests already waiting here")
        waiter = _Waiter()
        self._waiting[request_id] = waiter
        try:
            yield _replies(waiter.queue)
        finally:
            self._waiting.pop(request_id, None)

    async def _read(self, consumer: AIOKafkaConsumer) -> None:
        while True:
            batches = await consumer.getmany(timeout_ms=500, max_records=2000)
            for tp, records in batches.items():
                kind = self._kinds[tp.topic]
                for record in records:
                    key = record.key.decode() if record.key is not None else None
                    waiter = self._waiting.get(key) if key is not None else None
                    if waiter is None or record.value is None:
                        continue
                    try:
                        reply = kind.from_bytes(record.value)
                    except ValidationError:
                        self.dropped_undecodable += 1
                        log.warning("undecodable %s record for %s dropped", tp.topic, key)
                        continue
                    waiter.queue.put_nowait(reply)


async def _replies(queue: asyncio.Queue[Reply]) -> AsyncIterator[Reply]:
    while True:
        yield await queue.get()
