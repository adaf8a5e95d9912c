"""Many events in flight on one agent, offsets acknowledged strictly in order.

faust-streaming's ``concurrency>1`` can commit offsets past unfinished events
(faust-streaming issue 606). Instead each agent runs with concurrency 1, starts a task per
event, and acknowledges events in the order they arrived: an offset is only committed once
every event before it has finished, so a crash replays work but never skips it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, cast

from faust.types import EventT, StreamT

Handler = Callable[[bytes], Coroutine[Any, Any, None]]


async def run_windowed(stream: StreamT[Any], handle: Handler, max_in_flight: int) -> None:
    """Run ``handle`` on every event's raw value with up to ``max_in_flight`` unacked.

    Returns only by cancellation, or raises the first handler failure: the failed event
    and every event after it stay unacknowledged, so they are replayed after a restart.
    """
    # StreamT does not declare noack(); every stream faust hands an agent has it.
    manual = cast(Any, stream).noack()
    window: asyncio.Queue[tuple[EventT[Any], asyncio.Task[None]]] = asyncio.Queue()
    # A slot is held from an event's start until its ack, so at most max_in_flight
    # events are started-but-unacknowledged; a full window stops the consumer.
    slots = asyncio.Semaphore(max_in_flight)

    async def feed() -> None:
        async for event in manual.events():
            value = event.value
            raw = value if isinstance(value, bytes) else bytes(value or b"")
            await slots.acquire()
            window.put_nowait((event, asyncio.create_task(handle(raw))))

    async def ack_in_order() -> None:
        while True:
            event, task = await window.get()
            await task
            await manual.ack(event)
            slots.release()

    feeder = asyncio.create_task(feed())
    acker = asyncio.create_task(ack_in_order())
    try:
        done, _ = await asyncio.wait({feeder, acker}, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            task.result()  # a handler failure surfaces here, in the agent
    finally:
        feeder.cancel()
        acker.cancel()
        while not window.empty():
            _, task = window.get_nowait()
            task.cancel()
