"""State that follows a topic's partitions: loaded when a partition is assigned, written
back to a compacted topic, dropped when the partition is lost (docs/design/state.md).

:class:`PartitionStates` is the lifecycle shared by the tenant books of admission
(streams/tenant_state.py) and the cache books (streams/cache_state.py); a subclass says how
a partition's state is read and restored, and how one waiting key is written:

- **load**: at assignment, each new partition's state is read (retried while the broker is
  away); the stage's events of that partition wait on :meth:`PartitionStates.owned_part`;
- **persist**: a handler that has published an event's outputs awaits
  :meth:`PartitionStates.wait_written` for its key; the writer runs :meth:`_write` for
  every key with waiters at most once per ``interval_s``;
- **rebalance**: writes stop at revocation and resume at the next assignment; the state of
  lost partitions is dropped and their waiters cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Hashable, Iterable
from typing import Any, Generic, TypeVar

log = logging.getLogger(__name__)

_LOAD_RETRY_S = 2.0


class OwnedPartition:
    """What every partition's state has: whether it is loaded, and the task loading it."""

    def __init__(self) -> None:
        self.ready = asyncio.Event()
        self.loader: asyncio.Task[None] | None = None


P = TypeVar("P", bound=OwnedPartition)
K = TypeVar("K", bound=Hashable)


class PartitionStates(ABC, Generic[P, K]):
    what = "state"
    """Named in the log lines."""

    def __init__(self, interval_s: float) -> None:
        self._interval_s = interval_s
        self._parts: dict[int, P] = {}
        self._waiting: dict[K, list[asyncio.Future[None]]] = {}
        self._wake = asyncio.Event()
        self._writing = asyncio.Event()  # set while writes are allowed

    # -- what a subclass provides ------------------------------------------------------

    @abstractmethod
    def _new_partition(self) -> P: ...

    @abstractmethod
    def _partition_of(self, key: K) -> int: ...

    @abstractmethod
    async def _read(self, partitions: list[int]) -> dict[int, Any]:
        """Each partition's stored state, as :meth:`_restore` takes it."""

    @abstractmethod
    def _restore(self, partition: int, part: P, found: Any) -> int:
        """Fill ``part`` from what :meth:`_read` found; returns how many records."""

    @abstractmethod
    async def _write(self, key: K, futs: list[asyncio.Future[None]]) -> None:
        """Write ``key``'s state and resolve ``futs`` (see :meth:`_resolve`)."""

    # -- the stage's side ------------------------------------------------------------

    async def owned_part(self, partition: int) -> P:
        """The partition's state once loaded (it may be assigned a moment later)."""
        while True:
            part = self._parts.get(partition)
            if part is not None:
                await part.ready.wait()
                if self._parts.get(partition) is part:
                    return part
            else:
                # Not assigned yet (the stream delivered before our signal ran): look again.
                await asyncio.sleep(0.05)

    async def wait_written(self, key: K) -> None:
        """Return once a write of ``key`` begun after this call is on the broker."""
        fut = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(key, []).append(fut)
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
            for key in [k for k in self._waiting if self._partition_of(k) == p]:
                for fut in self._waiting.pop(key):
                    fut.cancel()
        new = {p: self._new_partition() for p in owned if p not in self._parts}
        self._parts.update(new)
        if new:
            task = asyncio.create_task(self._load(new))
            for part in new.values():
                part.loader = task
        self._writing.set()

    async def _load(self, parts: dict[int, P]) -> None:
        t0 = time.monotonic()
        partitions = sorted(parts)
        while True:
            try:
                found = await self._read(partitions)
                break
            except Exception as exc:  # broker away: these partitions' events wait
                log.warning("loading %s of %s failed, retrying: %r", self.what, partitions, exc)
                await asyncio.sleep(_LOAD_RETRY_S)
        records = 0
        for p in partitions:
            part = parts[p]
            if self._parts.get(p) is not part:
                # Lost meanwhile (and perhaps assigned again: that assignment loads anew,
                # since another worker may have written the partition's state since).
                continue
            records += self._restore(p, part, found.get(p))
            part.ready.set()
        log.info(
            "%s of partitions %s loaded: %d records in %.2fs",
            self.what,
            partitions,
            records,
            time.monotonic() - t0,
        )

    # -- writing ---------------------------------------------------------------------

    async def run(self) -> None:
        """Write the keys with waiters, at most once per interval per round."""
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

    def _wake_writer(self, keys: Iterable[K]) -> None:
        """Write ``keys`` in the next round even with no handler waiting."""
        for key in keys:
            self._waiting.setdefault(key, [])
        self._wake.set()

    @staticmethod
    def _resolve(futs: list[asyncio.Future[None]], error: BaseException | None) -> None:
        for fut in futs:
            if fut.done():
                continue
            if error is None:
                fut.set_result(None)
            else:
                fut.set_exception(error)

    async def stop(self) -> None:
        for part in self._parts.values():
            if part.loader is not None:
                part.loader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await part.loader
