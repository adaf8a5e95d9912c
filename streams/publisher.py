"""Send events to topics and wait until the broker has them.

Agents acknowledge an input event only after everything it caused is on the broker, so
every send here bypasses faust's attachment buffer (``force=True``) and awaits delivery.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

import faust

from schemas.base import Event


class Publisher:
    def __init__(self, topics: dict[str, faust.TopicT]) -> None:
        self._topics = topics

    async def send(
        self, topic: str, event: Event, key: str | None, partition: int | None = None
    ) -> None:
        """``partition`` None lets the key choose (murmur2, like every Kafka client)."""
        fut = await self._topics[topic].send(
            key=key.encode() if key is not None else None,
            value=event.to_bytes(),
            partition=partition,
            force=True,
        )
        await fut

    async def enqueue(self, topic: str, event: Event, key: str | None) -> Awaitable[object]:
        """Hand ``event`` to the producer, in order after earlier ones, without waiting for
        the broker: the returned future completes once the broker has it."""
        fut: Awaitable[object] = await self._topics[topic].send(
            key=key.encode() if key is not None else None, value=event.to_bytes(), force=True
        )
        return fut

    async def send_all(self, *items: tuple[str, Event, str | None]) -> None:
        await asyncio.gather(*(self.send(topic, ev, key) for topic, ev, key in items))
