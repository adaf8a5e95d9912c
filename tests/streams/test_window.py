"""The ordered-ack window: many in flight, offsets acknowledged strictly in arrival order.

faust hands an agent a stream; the window only uses ``noack()``, ``events()`` and
``ack(event)`` of it, so a small in-memory stream stands in for faust's here. The
broker-backed behaviour (crash, replay) is covered by tests/integration.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, cast

import pytest

from streams.window import run_windowed


@dataclass
class _Event:
    value: bytes


class _Stream:
    def __init__(self, values: list[bytes]) -> None:
        self._events = [_Event(v) for v in values]
        self.acked: list[bytes] = []

    def noack(self) -> _Stream:
        return self

    async def events(self) -> AsyncIterator[_Event]:
        for event in self._events:
            yield event
        # A live stream never ends: keep the agent alive until cancelled.
        await asyncio.Event().wait()

    async def ack(self, event: _Event) -> bool:
        self.acked.append(event.value)
        return True


async def _run_until(stream: _Stream, handle: Any, window: int, acked: int) -> None:
    task = asyncio.create_task(run_windowed(cast(Any, stream), handle, window))
    try:
        async with asyncio.timeout(10):
            while len(stream.acked) < acked:
                if task.done():
                    task.result()
                await asyncio.sleep(0.005)
    finally:
        task.cancel()


async def test_acks_follow_arrival_order_while_work_overlaps() -> None:
    values = [str(i).encode() for i in range(20)]
    stream = _Stream(values)
    running = 0
    peak = 0

    async def handle(raw: bytes) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.001 * (20 - int(raw)))  # later events finish first
        running -= 1

    await _run_until(stream, handle, window=8, acked=20)
    assert stream.acked == values
    assert 1 < peak <= 8


async def test_a_failed_handler_stops_acks_at_its_event_and_surfaces() -> None:
    stream = _Stream([b"0", b"1", b"boom", b"3"])

    async def handle(raw: bytes) -> None:
        if raw == b"boom":
            raise ValueError("handler bug")

    task = asyncio.create_task(run_windowed(cast(Any, stream), handle, 4))
    with pytest.raises(ValueError, match="handler bug"):
        async with asyncio.timeout(10):
            await task
    assert stream.acked == [b"0", b"1"]  # the failed event and those after it replay
