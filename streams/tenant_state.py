"""Tenant books of the admission partitions this worker owns, kept on a compacted topic.

Each partition *p* of the admission topic has its books (one per tenant) here and its
snapshots on partition *p* of the state topic (docs/design/state.md):

- **load**: when *p* is assigned and was not held, its books are rebuilt from the state
  topic (beginning to the end offset at assignment: the last snapshot per tenant wins);
  admission events of *p* wait on :meth:`TenantStates.ready` meanwhile;
- **persist**: a handler that has published an event's outputs awaits
  :meth:`TenantStates.persisted`; a writer snapshots every tenant with waiters at most once
  per ``interval_s`` and resolves them when the broker has the snapshot;
- **rebalance**: snapshot writes stop at revocation and resume at the next assignment;
  books of lost partitions are dropped.

The lifecycle is :class:`streams.partition_states.PartitionStates`'s.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from pydantic import ValidationError

from policy.admission import TenantBook
from schemas.admission import TenantSnapshot
from streams.partition_states import OwnedPartition, PartitionStates
from streams.topic_reader import partitions_of, read_compacted

log = logging.getLogger(__name__)

# Sends one snapshot to the state topic: (partition, tenant, snapshot), awaited.
SnapshotSender = Callable[[int, str, TenantSnapshot], Awaitable[None]]


async def read_snapshots(
    bootstrap: str, topic: str, partitions: Iterable[int] | None = None
) -> dict[int, dict[str, TenantSnapshot]]:
    """The last snapshot per tenant on each partition of ``topic`` (all when None)."""
    if partitions is None:
        partitions = [tp.partition for tp in await partitions_of(bootstrap, [topic])]
    result: dict[int, dict[str, TenantSnapshot]] = {}
    for partition, records in (await read_compacted(bootstrap, topic, partitions)).items():
        snaps = result[partition] = {}
        for key, value in records.items():
            try:
                snap = TenantSnapshot.from_bytes(value)
            except ValidationError as exc:
                # Written by a newer or broken writer: skipping it only loses state that
                # the replay of uncommitted events rebuilds, so say so and go on.
                log.error("unreadable snapshot of %s on %s[%d]: %s", key, topic, partition, exc)
                continue
            snaps[snap.tenant] = snap
    return result


class _Partition(OwnedPartition):
    def __init__(self) -> None:
        super().__init__()
        self.books: dict[str, TenantBook] = {}


class TenantStates(PartitionStates[_Partition, tuple[int, str]]):
    what = "tenant state"

    def __init__(self, bootstrap: str, topic: str, send: SnapshotSender, interval_s: float) -> None:
        super().__init__(interval_s)
        self._bootstrap = bootstrap
        self._topic = topic
        self._send = send
        self.snapshots_written = 0

    # -- the stage's side ------------------------------------------------------------

    async def ready(self, partition: int) -> None:
        """Wait until the books of ``partition`` are loaded (it may be assigned later)."""
        await self.owned_part(partition)

    def book(self, partition: int, tenant: str) -> TenantBook:
        books = self._parts[partition].books
        found = books.get(tenant)
        if found is None:
            found = books[tenant] = TenantBook(tenant)
        return found

    async def persisted(self, partition: int, tenant: str) -> None:
        """Return once a snapshot of ``tenant`` taken after this call is on the broker."""
        await self.wait_written((partition, tenant))

    # -- the lifecycle's hooks -------------------------------------------------------

    def _new_partition(self) -> _Partition:
        return _Partition()

    def _partition_of(self, key: tuple[int, str]) -> int:
        return key[0]

    async def _read(self, partitions: list[int]) -> dict[int, dict[str, TenantSnapshot]]:
        return await read_snapshots(self._bootstrap, self._topic, partitions)

    def _restore(self, partition: int, part: _Partition, found: Any) -> int:
        snaps: dict[str, TenantSnapshot] = found or {}
        part.books = {t: TenantBook.from_snapshot(s) for t, s in snaps.items()}
        return len(snaps)

    async def _write(self, key: tuple[int, str], futs: list[asyncio.Future[None]]) -> None:
        partition, tenant = key
        part = self._parts.get(partition)
        live = [f for f in futs if not f.done()]
        if part is None or tenant not in part.books:
            for fut in live:
                fut.cancel()
            return
        snap = part.books[tenant].snapshot(partition)
        try:
            await self._send(partition, tenant, snap)
        except Exception as exc:
            self._resolve(live, exc)
            return
        self.snapshots_written += 1
        self._resolve(live, None)
