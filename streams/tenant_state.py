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
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable

from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import ValidationError

from policy.admission import TenantBook
from schemas.admission import TenantSnapshot
from streams.topic_reader import partitions_of

log = logging.getLogger(__name__)

# Sends one snapshot to the state topic: (partition, tenant, snapshot), awaited.
SnapshotSender = Callable[[int, str, TenantSnapshot], Awaitable[None]]

_LOAD_RETRY_S = 2.0


class _Partition:
    def __init__(self) -> None:
        self.books: dict[str, TenantBook] = {}
        self.ready = asyncio.Event()
        self.loader: asyncio.Task[None] | None = None


async def read_snapshots(
    bootstrap: str, topic: str, partitions: Iterable[int] | None = None
) -> dict[int, dict[str, TenantSnapshot]]:
    """The last snapshot per tenant on each partition of ``topic`` (all when None)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False
    )
    try:
        await consumer.start()
        if partitions is None:
            partitions = [tp.partition for tp in await partitions_of(bootstrap, [topic])]
        tps = [TopicPartition(topic, p) for p in partitions]
        result: dict[int, dict[str, TenantSnapshot]] = {tp.partition: {} for tp in tps}
        if not tps:
            return result
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        behind = {tp for tp in tps if ends[tp] > 0}
        while behind:
            batches = await consumer.getmany(*behind, timeout_ms=500, max_records=5000)
            for tp, messages in batches.items():
                for message in messages:
                    if message.value is None:
                        continue
                    try:
                        snap = TenantSnapshot.from_bytes(message.value)
                    except ValidationError as exc:
                        # Written by a newer or broken writer: skipping it only loses state
                        # that the replay of uncommitted events rebuilds, so say so and go on.
                        log.error("unreadable snapshot at %s@%d: %s", tp, message.offset, exc)
                        continue
                    result[tp.partition][snap.tenant] = snap
            for tp in list(behind):
                if await consumer.position(tp) >= ends[tp]:
                    behind.discard(tp)
        return result
    finally:
        await consumer.stop()


class TenantStates:
    def __init__(self, bootstrap: str, topic: str, send: SnapshotSender, interval_s: float) -> None:
        self._bootstrap = bootstrap
        self._topic = topic
        self._send = send
        self._interval_s = interval_s
        self._parts: dict[int, _Partition] = {}
        self._waiting: dict[tuple[int, str], list[asyncio.Future[None]]] = {}
        self._wake = asyncio.Event()
        self._writing = asyncio.Event()  # set while snapshot writes are allowed
        self.snapshots_written = 0

    # -- the stage's side ------------------------------------------------------------

    async def ready(self, partition: int) -> None:
        """Wait until the books of ``partition`` are loaded (it may be assigned later)."""
        while True:
            part = self._parts.get(partition)
            if part is not None:
                await part.ready.wait()
                if self._parts.get(partition) is part:
                    return
            else:
                # Not assigned yet (the stream delivered before our signal ran): look again.
                await asyncio.sleep(0.05)

    def book(self, partition: int, tenant: str) -> TenantBook:
        books = self._parts[partition].books
        found = books.get(tenant)
        if found is None:
            found = books[tenant] = TenantBook(tenant)
        return found

    async def persisted(self, partition: int, tenant: str) -> None:
        """Return once a snapshot of ``tenant`` taken after this call is on the broker."""
        fut = asyncio.get_running_loop().create_future()
        self._waiting.setdefault((partition, tenant), []).append(fut)
        self._wake.set()
        await fut

    # -- rebalances ------------------------------------------------------------------

    def on_revoked(self) -> None:
        self._writing.clear()

    def on_assigned(self, partitions: Iterable[int]) -> None:
        owned = set(partitions)
        for p in [p for p in self._parts if p not in owned]:
            part = self._parts.pop(p)
            if part.loader is not None:
                part.loader.cancel()
            for key in [k for k in self._waiting if k[0] == p]:
                for fut in self._waiting.pop(key):
                    fut.cancel()
        new = {p: _Partition() for p in owned if p not in self._parts}
        self._parts.update(new)
        if new:
            task = asyncio.create_task(self._load(new))
            for part in new.values():
                part.loader = task
        self._writing.set()

    # -- loading ---------------------------------------------------------------------

    async def _load(self, parts: dict[int, _Partition]) -> None:
        t0 = time.monotonic()
        partitions = sorted(parts)
        while True:
            try:
                found = await read_snapshots(self._bootstrap, self._topic, partitions)
                break
            except Exception as exc:  # broker away: admission of these partitions waits
                log.warning("loading tenant state of %s failed, retrying: %r", partitions, exc)
                await asyncio.sleep(_LOAD_RETRY_S)
        tenants = 0
        for p, snaps in found.items():
            part = parts[p]
            if self._parts.get(p) is not part:
                # Lost meanwhile (and perhaps assigned again: that assignment loads anew,
                # since another worker may have written the partition's state since).
                continue
            part.books = {t: TenantBook.from_snapshot(s) for t, s in snaps.items()}
            tenants += len(snaps)
            part.ready.set()
        log.info(
            "tenant state of partitions %s loaded: %d tenants in %.2fs",
            sorted(partitions),
            tenants,
            time.monotonic() - t0,
        )

    # -- writing ---------------------------------------------------------------------

    async def run(self) -> None:
        """Write snapshots for waiting handlers, at most once per interval per round."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self._writing.wait()
            started = time.monotonic()
            batch, self._waiting = self._waiting, {}
            await asyncio.gather(*(self._write(key, futs) for key, futs in batch.items()))
            rest = self._interval_s - (time.monotonic() - started)
            if rest > 0:
                await asyncio.sleep(rest)

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
            for fut in live:
                if not fut.done():
                    fut.set_exception(exc)
            return
        self.snapshots_written += 1
        for fut in live:
            if not fut.done():
                fut.set_result(None)

    async def stop(self) -> None:
        for part in self._parts.values():
            if part.loader is not None:
                part.loader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await part.loader
