"""Usage sink: batch usage events into the store; an event is done only once inserted.

Each event's handler waits for the batch that holds it to be inserted, so the window
acknowledges its offset only after a successful insert. While the store is down the
batch is retried with capped backoff and the window fills up, which stops consumption:
nothing is lost and memory stays bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from pydantic import ValidationError

from schemas.config import TopicsConfig, UsageSinkConfig
from schemas.events import UsageEvent
from store import StoreUnavailable
from store.owner import StoreOwner
from streams.dead_letters import schema_invalid
from streams.publisher import Publisher

log = logging.getLogger(__name__)

_MAX_BACKOFF_S = 30.0


def fold_started(events: list[UsageEvent]) -> list[UsageEvent]:
    """The rows to write: a ``started`` row is dropped when its call's completion is here too.

    Both halves of a call usually arrive milliseconds apart on the same partition, so
    this roughly halves the rows. The completion alone says everything the view would
    show; a started row is kept only while its call's end is unknown in this batch.
    """
    completed = {e.call_id for e in events if e.outcome != "started"}
    return [e for e in events if e.outcome != "started" or e.call_id not in completed]


class UsageBatcher:
    def __init__(self, owner: StoreOwner, settings: UsageSinkConfig) -> None:
        self.owner = owner
        self.settings = settings
        self._pending: list[tuple[UsageEvent, asyncio.Future[None]]] = []
        self._full = asyncio.Event()
        self.inserted_rows = 0
        self.folded_rows = 0  # started rows not written: their completion was in the batch
        self.held_rows = 0  # rows the store already had: replays of inserted events
        self.failed_inserts = 0

    async def add(self, event: UsageEvent) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((event, done))
        if len(self._pending) >= self.settings.batch_size:
            self._full.set()
        await done

    async def run(self) -> None:
        """Flush forever: when a batch fills up or the interval passes."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._full.wait(), self.settings.flush_interval_s)
            self._full.clear()
            if self._pending:
                batch = self._pending[: self.settings.batch_size]
                del self._pending[: len(batch)]
                await self._insert_until_done(batch)
                if len(self._pending) >= self.settings.batch_size:
                    self._full.set()

    async def drain(self, max_tries: int = 3) -> None:
        """On shutdown: insert what is pending, so a stopped worker leaves a complete store.

        Those events are not acknowledged any more (the window is gone), so they are
        replayed on the next start, where the store's insert finds and skips their rows.
        """
        while self._pending:
            batch = self._pending[: self.settings.batch_size]
            del self._pending[: len(batch)]
            if not await self._insert_until_done(batch, max_tries):
                return

    async def _insert_until_done(
        self, batch: list[tuple[UsageEvent, asyncio.Future[None]]], max_tries: int | None = None
    ) -> bool:
        events = fold_started([e for e, _ in batch])
        backoff = 0.5
        tries = 0
        while True:
            tries += 1
            try:
                written = await self.owner.run(lambda store: store.insert(events))
                break
            except StoreUnavailable as exc:
                self.failed_inserts += 1
                if max_tries is not None and tries >= max_tries:
                    log.error(
                        "usage insert of %d rows failed %d times; they stay on the topic"
                        " and are replayed at the next start: %s",
                        len(events),
                        tries,
                        exc,
                    )
                    return False
                log.warning(
                    "usage insert of %d rows failed, retrying in %.1fs: %s",
                    len(events),
                    backoff,
                    exc,
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, _MAX_BACKOFF_S)
        self.inserted_rows += written
        self.folded_rows += len(batch) - len(events)
        self.held_rows += len(events) - written
        log.info("usage sink inserted %d rows (%d in all)", written, self.inserted_rows)
        for _, done in batch:
            if not done.done():
                done.set_result(None)
        return True


class UsageSink:
    def __init__(
        self,
        topics: TopicsConfig,
        batcher: UsageBatcher,
        publisher: Publisher,
        observe: Callable[[UsageEvent], None] | None = None,
    ) -> None:
        """``observe``: sees every decoded event, before its insert (the alert monitor)."""
        self.topics = topics
        self.batcher = batcher
        self.publisher = publisher
        self.observe = observe

    async def handle(self, raw: bytes) -> None:
        try:
            event = UsageEvent.from_bytes(raw)
        except ValidationError as exc:
            letter = schema_invalid("usage_sink", raw, "usage event", exc)
            await self.publisher.send(self.topics.dlq, letter, None)
            return
        if self.observe is not None:
            self.observe(event)
        await self.batcher.add(event)
