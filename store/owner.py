"""The one thread that talks to the store in the analytics process.

The embedded engine lets one process open its folder and wants its calls on one thread;
the usage sink's inserts and the query API's reads both go through :meth:`StoreOwner.run`,
so they take turns instead of racing inside the engine. The store is opened and migrated
on first use, which lets the process start while the store is away.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from store.backends import StoreUnavailable
from store.usage import UsageStore

T = TypeVar("T")


class StoreOwner:
    def __init__(self, open_store: Callable[[], UsageStore], raw_retention_days: int) -> None:
        self._open_store = open_store
        self._retention = raw_retention_days
        self._store: UsageStore | None = None
        self._schema_ready = False
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="usage-store")
        self._closed = False

    async def run(self, work: Callable[[UsageStore], T]) -> T:
        """``work(store)`` on the store's thread; StoreUnavailable when it cannot run."""
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, self._call, work)
        except RuntimeError as exc:  # the executor refuses work once closed
            if not self._closed:
                raise
            raise StoreUnavailable("the store is closed: the process is stopping") from exc

    def _call(self, work: Callable[[UsageStore], T]) -> T:
        if self._store is None:
            self._store = self._open_store()
        if not self._schema_ready:
            self._store.ensure_schema(self._retention)
            self._schema_ready = True
        return work(self._store)

    @property
    def description(self) -> str:
        return self._store.backend.description if self._store is not None else "not open yet"

    def close(self) -> None:
        self._closed = True
        self._executor.shutdown(wait=True)
        if self._store is not None:
            self._store.backend.close()
