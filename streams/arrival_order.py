"""Let the events of each partition reach a stage's books in the order they arrived.

The admission and cache books advance a confirmed offset over the offsets they have seen
(``TenantBook.confirm``, ``CacheBook.confirm``), and a snapshot of it tells the next
owner which events to skip. That is sound only if each event registers with its book in
offset order: a later offset confirmed before an earlier one is even registered makes
the book call the earlier one decided, so its own handler skips it, unanswered, with no
crash at all (and a snapshot tells the next owner the same).

The window starts one task per event in offset order, but a handler waits (for the
outcome ledger, for the partition's books to load) before it reaches its book, and those
waits do not wake tasks in the order they began: the partition may be assigned between
two events, and a task that polls for it wakes after one that arrived later. A
:class:`ArrivalOrder` turn, taken before the first wait, restores the order::

    async with order.turn(partition):   # the place in line is taken here, synchronously
        await ledger.ready.wait()
        await states.ready(partition)
        decision = book.admit(...)       # registers the offset
    await publish(decision)              # concurrent again

A turn ends when its task leaves the block, by any way (cancelled, raised), but the next
turn starts only when every earlier one has ended too.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class ArrivalOrder:
    def __init__(self) -> None:
        # Per partition, the end of the last turn handed out (done when it and every
        # earlier turn have ended).
        self._last: dict[int, asyncio.Future[None]] = {}

    @asynccontextmanager
    async def turn(self, partition: int) -> AsyncIterator[None]:
        before = self._last.get(partition)
        mine: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._last[partition] = mine
        try:
            if before is not None and not before.done():
                # asyncio.wait, not await: cancelling this task must not cancel the turn
                # of the task ahead.
                await asyncio.wait([before])
            yield
        finally:
            if before is None or before.done():
                _end(mine)
            else:
                # Cancelled while waiting: the turns behind still wait for the one ahead.
                before.add_done_callback(lambda _: _end(mine))
            if self._last.get(partition) is mine and mine.done():
                del self._last[partition]

    def waiting(self, partition: int) -> bool:
        """Whether a turn on ``partition`` has not ended yet."""
        last = self._last.get(partition)
        return last is not None and not last.done()


def _end(turn: asyncio.Future[None]) -> None:
    if not turn.done():
        turn.set_result(None)
