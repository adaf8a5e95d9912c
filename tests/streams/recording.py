"""Stand-ins the stage tests share: a publisher that records instead of sending to Kafka,
and an outcome ledger that decides without reading a broker."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from schemas.base import Event
from streams.outcome_ledger import OutcomeLedger


class RecordingPublisher:
    """Stands in for the Kafka publisher: keeps what would have been sent, in order."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, Event, str | None]] = []
        # topic -> how many sends to it still fail, as a broker error would.
        self.failures: dict[str, int] = {}

    async def send(self, topic: str, event: Event, key: str | None) -> None:
        # Round-trip through the wire format, as the real publisher would encode it.
        type(event).from_bytes(event.to_bytes())
        if self.failures.get(topic, 0) > 0:
            self.failures[topic] -= 1
            raise ConnectionError(f"broker refused a send to {topic}")
        self.sent.append((topic, event, key))

    async def enqueue(self, topic: str, event: Event, key: str | None) -> Awaitable[object]:
        """Recorded at once, in order; the returned future says the broker has it."""
        await self.send(topic, event, key)
        done: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    async def send_all(self, *items: tuple[str, Event, str | None]) -> None:
        for item in items:
            await self.send(*item)

    def on(self, topic: str) -> list[Any]:
        return [event for t, event, _ in self.sent if t == topic]


def ready_ledger() -> OutcomeLedger:
    """A ledger with nothing answered yet; these tests never start its broker reader."""
    ledger = OutcomeLedger("unused:9092", [], horizon_s=3600, capacity=1000)
    ledger.ready.set()
    return ledger
