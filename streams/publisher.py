"""Send events to topics and wait until the broker has them.

Agents acknowledge an input event only after everything it caused is on the broker, so
every send here bypasses faust's attachment buffer (``force=True``) and awaits delivery.

Every event a worker writes passes here, so this is where a dead letter that carries a
raw event is masked under the config's PII policies (streams/dead_letters.py): no stage
can publish one around it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

import faust

from schemas.base import Event
from schemas.events import DeadLetter
from streams.dead_letters import LetterMask, masked


class Publisher:
    def __init__(self, topics: dict[str, faust.TopicT], letters: LetterMask | None = None) -> None:
        """``letters``: what dead letters are masked with (None: no PII policy)."""
        self._topics = topics
        self._letters = letters

    def encode(self, event: Event) -> bytes:
        """``event`` as it goes on the wire."""
        if self._letters is not None and isinstance(event, DeadLetter):
            event = masked(event, self._letters)
        return event.to_bytes()

    async def send(
        self, topic: str, event: Event, key: str | None, partition: int | None = None
    ) -> None:
        """``partition`` None lets the key choose (murmur2, like every Kafka client)."""
        fut = await self._topics[topic].send(
            key=key.encode() if key is not None else None,
            value=self.encode(event),
            partition=partition,
            force=True,
        )
        await fut

    async def send_record(
        self, topic: str, key: str, value: bytes | None, partition: int | None = None
    ) -> None:
        """A state record as it is (``None``: a tombstone for ``key``), awaited."""
        fut = await self._topics[topic].send(
            key=key.encode(), value=value, partition=partition, force=True
        )
        await fut

    async def enqueue(self, topic: str, event: Event, key: str | None) -> Awaitable[object]:
        """Hand ``event`` to the producer, in order after earlier ones, without waiting for
        the broker: the returned future completes once the broker has it."""
        fut: Awaitable[object] = await self._topics[topic].send(
            key=key.encode() if key is not None else None, value=self.encode(event), force=True
        )
        return fut

    async def send_all(self, *items: tuple[str, Event, str | None]) -> None:
        await asyncio.gather(*(self.send(topic, ev, key) for topic, ev, key in items))
