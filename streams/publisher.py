"""Send events to topics and wait until the broker has them.

Agents acknowledge an input event only after everything it caused is on the broker, so
every send here awaits delivery.

Sends go to the app's producer directly, not through ``Topic.send``: faust's path builds a
``PendingMessage`` and a ``FutureMessage`` per event, runs its sensors and chains a second
future, which cost about as much CPU as the produce itself (measured with py-spy, issue
15). faust's path ended in the same ``producer.send``, so events keep the order in which
they are sent, as before.

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
        # The app's producer, looked up at the first send: it exists once the app runs.
        self._producer: faust.types.ProducerT | None = None

    def encode(self, event: Event) -> bytes:
        """``event`` as it goes on the wire."""
        if self._letters is not None and isinstance(event, DeadLetter):
            event = masked(event, self._letters)
        return event.to_bytes()

    async def _produce(
        self, topic: str, key: bytes | None, value: bytes | None, partition: int | None
    ) -> Awaitable[object]:
        """Hand one record to the producer; the result completes once the broker has it."""
        producer = self._producer
        if producer is None:
            # Only a topic of the app's is sent to (a KeyError otherwise, as before).
            producer = self._producer = self._topics[topic].app.producer
        elif topic not in self._topics:
            raise KeyError(topic)
        return await producer.send(topic, key, value, partition, None, None)

    async def send(
        self, topic: str, event: Event, key: str | None, partition: int | None = None
    ) -> None:
        """``partition`` None lets the key choose (murmur2, like every Kafka client)."""
        value = self.encode(event)
        await (
            await self._produce(topic, key.encode() if key is not None else None, value, partition)
        )

    async def send_record(
        self, topic: str, key: str, value: bytes | None, partition: int | None = None
    ) -> None:
        """A state record as it is (``None``: a tombstone for ``key``), awaited."""
        await (await self._produce(topic, key.encode(), value, partition))

    async def enqueue(self, topic: str, event: Event, key: str | None) -> Awaitable[object]:
        """Hand ``event`` to the producer, in order after earlier ones, without waiting for
        the broker: the returned future completes once the broker has it."""
        value = self.encode(event)
        return await self._produce(topic, key.encode() if key is not None else None, value, None)

    async def send_all(self, *items: tuple[str, Event, str | None]) -> None:
        await asyncio.gather(*(self.send(topic, ev, key) for topic, ev, key in items))
