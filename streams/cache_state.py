"""The cache books of the cache-topic partitions this worker owns, kept on a compacted
topic (docs/design/cache.md; the same scheme as streams/tenant_state.py).

Partition *p* of ``llm.cache`` has one :class:`~policy.cache_book.CacheBook` per route
(and a :class:`~policy.semantic_cache.SemanticShelf` for semantic routes) here, and one
record per key on partition *p* of ``llm.cache-state``:

- **load**: at assignment, the state partition is read from the beginning to its end
  offset (the last record per key wins, a tombstone drops the key); the shelves are
  rebuilt from the entries' prompts; cache events of *p* wait on :meth:`ready`;
- **persist**: a handler that published an event's outputs awaits :meth:`persisted`; the
  writer snapshots every key changed since its last round (a tombstone for a key with no
  entry or flight left) at most once per ``interval_s``, and resolves the waiters when
  the broker has them;
- **rebalance**: writes stop at revocation and resume at the next assignment; the books
  of lost partitions are dropped.

The lifecycle is :class:`streams.partition_states.PartitionStates`'s.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import ValidationError

from policy.cache_book import CacheBook, partition_limits
from policy.semantic_cache import Embed, SemanticShelf
from schemas.cache import CacheConfig, CacheRecord
from schemas.config import GatewayConfig
from streams.partition_states import OwnedPartition, PartitionStates
from streams.topic_reader import read_compacted

log = logging.getLogger(__name__)

# Sends one record to the state topic: (partition, key, value; None is a tombstone).
RecordSender = Callable[[int, str, bytes | None], Awaitable[None]]


class CachePartition(OwnedPartition):
    """One owned partition's books and shelves, by route."""

    def __init__(self, config: GatewayConfig, embedder: Callable[[], tuple[Embed, int]]) -> None:
        super().__init__()
        self._config = config
        self._embedder = embedder
        self.books: dict[str, CacheBook] = {}
        self.shelves: dict[str, SemanticShelf] = {}

    def cache_of(self, route: str) -> CacheConfig:
        found = self._config.route(route)
        # A route renamed or stripped of its cache keeps serving what it holds, with the
        # default bounds, until its entries expire.
        return found.cache if found is not None and found.cache is not None else CacheConfig()

    def book(self, route: str) -> CacheBook:
        found = self.books.get(route)
        if found is None:
            limits = partition_limits(self.cache_of(route), self._config.topics.partitions)
            found = self.books[route] = CacheBook(route, limits)
        return found

    def shelf(self, route: str) -> SemanticShelf:
        found = self.shelves.get(route)
        if found is None:
            embed, dim = self._embedder()
            found = self.shelves[route] = SemanticShelf(embed, dim)
        return found

    def restore(self, value: bytes) -> None:
        record = CacheRecord.from_bytes(value)
        book = self.book(record.route)
        key = book.restore(value)
        entry = record.entry
        if entry is not None and entry.prompt and entry.scope and book.entry(key, time.time()):
            self.shelf(record.route).add(entry.scope, key, entry.prompt)


class CacheStates(PartitionStates[CachePartition, int]):
    """Written per partition: every key changed since the last round."""

    what = "cache state"

    def __init__(
        self,
        config: GatewayConfig,
        bootstrap: str,
        send: RecordSender,
        embedder: Callable[[], tuple[Embed, int]],
        interval_s: float,
    ) -> None:
        super().__init__(interval_s)
        self._config = config
        self._bootstrap = bootstrap
        self._topic = config.topics.cache_state
        self._send = send
        self._embedder = embedder
        self.records_written = 0

    # -- the stage's side ------------------------------------------------------------

    async def ready(self, partition: int) -> CachePartition:
        """The partition's books, once loaded (it may be assigned a moment later)."""
        return await self.owned_part(partition)

    def owned(self) -> list[tuple[int, CachePartition]]:
        return [(p, part) for p, part in self._parts.items() if part.ready.is_set()]

    async def persisted(self, partition: int) -> None:
        """Return once the partition's changes up to this call are on the broker."""
        await self.wait_written(partition)

    def touch(self) -> None:
        """Something changed outside a handler (expiry): write it in the next round."""
        self._wake_writer(self._parts)

    # -- the lifecycle's hooks -------------------------------------------------------

    def _new_partition(self) -> CachePartition:
        return CachePartition(self._config, self._embedder)

    def _partition_of(self, key: int) -> int:
        return key

    async def _read(self, partitions: list[int]) -> dict[int, dict[str, bytes]]:
        return await read_compacted(self._bootstrap, self._topic, partitions)

    def _restore(self, partition: int, part: CachePartition, found: Any) -> int:
        records: dict[str, bytes] = found or {}
        restored = 0
        for key, value in records.items():
            try:
                part.restore(value)
            except (ValidationError, ValueError) as exc:
                # Written by a newer or broken writer: only what replays rebuild is lost.
                log.error("unreadable cache record %s on partition %d: %s", key, partition, exc)
                continue
            restored += 1
        for book in part.books.values():
            book.take_dirty()  # as loaded: nothing to write back
        return restored

    async def _write(self, partition: int, futs: list[asyncio.Future[None]]) -> None:
        part = self._parts.get(partition)
        live = [f for f in futs if not f.done()]
        if part is None:
            for fut in live:
                fut.cancel()
            return
        sends = []
        taken: list[tuple[CacheBook, list[str]]] = []
        for route, book in part.books.items():
            shelf = part.shelves.get(route)
            keys = book.take_dirty()
            taken.append((book, keys))
            for key in keys:
                if shelf is not None and not book.holds(key):
                    shelf.remove(key)  # evicted or expired
                sends.append(self._send(partition, key, book.snapshot(key)))
        try:
            await asyncio.gather(*sends)
        except Exception as exc:
            for book, keys in taken:
                book.mark_dirty(keys)  # the retried handler's round writes them again
            self._resolve(live, exc)
            return
        self.records_written += len(sends)
        self._resolve(live, None)
