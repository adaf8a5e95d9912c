"""Many events in flight on one agent; offsets acknowledged in order per partition.

faust-streaming's ``concurrency>1`` can commit offsets past unfinished events
(faust-streaming issue 606). Instead each agent runs with concurrency 1 and a
:class:`Window` starts a task per event:

- **Two bounds.** ``max_in_flight`` bounds handlers running at once (provider calls);
  ``max_unacked`` bounds events that finished but wait for a slower predecessor on
  their partition before their offset may be acknowledged. A hung call holds one
  in-flight slot and delays its own partition's commits; it never stops other events
  from being processed.
- **Acks in order per partition.** An offset is acknowledged only once every earlier
  event of the same partition has finished, so a crash replays work but never skips it.
- **Poison events.** A handler that raises is retried ``handler_tries`` times with a short
  backoff; then ``on_poison`` turns the event into a dead letter and the stream moves on.
  If ``on_poison`` itself fails (e.g. the broker is unreachable) the failure is not about
  one event: it surfaces from :meth:`Window.run` and stops the worker, whose successor
  replays from the last committed offset.
- **Rebalances.** faust seeks every assigned partition back to its committed offset after
  a rebalance, so unacknowledged events are delivered again. Their running tasks are kept
  aside and adopted by the redelivered event with the same offset (no work is redone);
  tasks of partitions that moved to another worker are cancelled, so a rebalance never
  waits on a hung call (the app runs with ``stream_wait_empty=False``). No ack is given
  while a rebalance is under way (``acks_paused``).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import traceback
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass
from typing import Any, cast

from faust.types import EventT, StreamT

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Source:
    """Where an input event sits: what a dead letter for it names."""

    topic: str
    partition: int
    offset: int


Handler = Callable[[bytes, Source], Coroutine[Any, Any, None]]


PoisonHandler = Callable[[bytes, Source, Exception], Awaitable[None]]

_Key = tuple[str, int, int]
_TP = tuple[str, int]


class Window:
    def __init__(
        self,
        handle: Handler,
        *,
        max_in_flight: int,
        max_unacked: int,
        on_poison: PoisonHandler,
        handler_tries: int = 3,
        retry_backoff_s: float = 0.2,
        acks_paused: Callable[[], bool] = lambda: False,
        slots: asyncio.Semaphore | None = None,
    ) -> None:
        """``slots``: the semaphore bounding handlers in flight, when it is shared with
        work started elsewhere (default: one of ``max_in_flight`` of its own)."""
        if handler_tries < 1:
            raise ValueError("handler_tries must be at least 1")
        self._handle = handle
        self._acks_paused = acks_paused
        self._on_poison = on_poison
        self._tries = handler_tries
        self._backoff_s = retry_backoff_s
        self._running = slots if slots is not None else asyncio.Semaphore(max_in_flight)
        self._unacked = asyncio.Semaphore(max_unacked)
        # Per partition, the events not acknowledged yet, in arrival order.
        self._pending: dict[_TP, deque[tuple[EventT[Any], _Key]]] = {}
        self._tasks: dict[_Key, asyncio.Task[None]] = {}
        # Tasks of events dropped by a rebalance, waiting for their redelivery.
        self._orphans: dict[_Key, asyncio.Task[None]] = {}
        self._ready: asyncio.Queue[_TP] = asyncio.Queue()
        self._fatal: asyncio.Future[None] | None = None
        self._stream: Any = None
        # Bumped at each revocation; events fed before it are not ours to ack any more.
        self._generation = 0
        self.poisoned = 0

    # -- the agent's side ------------------------------------------------------------

    async def run(self, stream: StreamT[Any]) -> None:
        """Consume ``stream`` until cancelled; raises a failure that is not about one event."""
        # StreamT does not declare noack(); every stream faust hands an agent has it.
        self._stream = cast(Any, stream).noack()
        self._fatal = asyncio.get_running_loop().create_future()
        feeder = asyncio.create_task(self._feed())
        acker = asyncio.create_task(self._ack_ready())
        try:
            done, _ = await asyncio.wait(
                {feeder, acker, self._fatal}, return_when=asyncio.FIRST_COMPLETED
            )
            for finished in done:
                finished.result()
        finally:
            feeder.cancel()
            acker.cancel()
            for task in [*self._tasks.values(), *self._orphans.values()]:
                task.cancel()

    def on_revoked(self) -> None:
        """A rebalance began: unacknowledged events will be delivered again."""
        self._generation += 1
        for events in self._pending.values():
            for _ in events:
                self._unacked.release()
        self._pending.clear()
        # Finished orphans of the previous rebalance were never redelivered: forget them.
        self._orphans = {k: t for k, t in self._orphans.items() if not t.done()}
        self._orphans.update(self._tasks)
        self._tasks.clear()

    def on_assigned(self, assigned: Iterable[tuple[str, int]]) -> None:
        """Cancel work of partitions that another worker owns now."""
        kept = set(assigned)
        for key in [k for k in self._orphans if (k[0], k[1]) not in kept]:
            self._orphans.pop(key).cancel()

    @property
    def in_flight(self) -> int:
        return sum(not t.done() for t in (*self._tasks.values(), *self._orphans.values()))

    @property
    def unacked(self) -> int:
        return sum(len(events) for events in self._pending.values())

    # -- internals -------------------------------------------------------------------

    async def _feed(self) -> None:
        async for event in self._stream.events():
            message = event.message
            tp: _TP = (message.topic, message.partition)
            key: _Key = (message.topic, message.partition, message.offset)
            if key in self._tasks:
                # Delivered twice without a rebalance between: the first copy is acked.
                continue
            generation = self._generation
            await self._unacked.acquire()
            if generation != self._generation:
                self._unacked.release()  # redelivered after the rebalance: see below
                continue
            task = self._orphans.pop(key, None)
            if task is None:
                await self._running.acquire()
                if generation != self._generation:
                    # A rebalance came while this event waited for a slot: it will be
                    # delivered again, and acking this copy out of order could let faust
                    # commit past the redelivered ones.
                    self._running.release()
                    self._unacked.release()
                    continue
                value = event.value
                raw = value if isinstance(value, bytes) else bytes(value or b"")
                task = asyncio.create_task(self._process(raw, Source(*key)))
            self._tasks[key] = task
            self._pending.setdefault(tp, deque()).append((event, key))
            task.add_done_callback(functools.partial(self._on_done, tp))

    async def _process(self, raw: bytes, source: Source) -> None:
        try:
            for attempt in range(1, self._tries + 1):
                try:
                    await self._handle(raw, source)
                    return
                except Exception as exc:
                    if attempt < self._tries:
                        # Type and stack only: an exception's message can quote the
                        # event (pydantic quotes input values), and the log is not
                        # masked; the dead letter carries the message (masked under a
                        # PII policy).
                        log.warning(
                            "handler failed on %s:%d@%d (try %d of %d), retrying: %s",
                            source.topic,
                            source.partition,
                            source.offset,
                            attempt,
                            self._tries,
                            type(exc).__name__,
                        )
                        await asyncio.sleep(self._backoff_s * 2 ** (attempt - 1))
                        continue
                    log.error(
                        "handler failed %d times on %s:%d@%d; dead-lettering the event:"
                        " %s, raised at\n%s",
                        attempt,
                        source.topic,
                        source.partition,
                        source.offset,
                        type(exc).__name__,
                        "".join(traceback.format_tb(exc.__traceback__)),
                    )
                    self.poisoned += 1
                    # Not guarded: if even the dead letter cannot be written, the worker
                    # has a problem beyond this event and must stop.
                    await self._on_poison(raw, source, exc)
        finally:
            self._running.release()

    def _on_done(self, tp: _TP, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None and self._fatal is not None and not self._fatal.done():
            self._fatal.set_exception(exc)
            return
        self._ready.put_nowait(tp)

    async def _ack_ready(self) -> None:
        while True:
            tp = await self._ready.get()
            if self._acks_paused():
                # A rebalance has begun: faust already forgot the partitions' acked offsets,
                # and these events will be delivered again; an ack now could let it commit
                # past an earlier offset once the partition is back. Look again shortly:
                # events delivered after the revocation are acked once it is over.
                await asyncio.sleep(0.1)
                self._ready.put_nowait(tp)
                continue
            events = self._pending.get(tp)
            while events:
                event, key = events[0]
                task = self._tasks.get(key)
                if task is None or not task.done():
                    break
                events.popleft()
                del self._tasks[key]
                await self._stream.ack(event)
                self._unacked.release()
            if events is not None and not events:
                del self._pending[tp]
