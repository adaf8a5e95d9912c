"""The one dispatcher of a gateway worker, shared by the dispatch agent and triage.

Triage makes first attempts inline (docs/design/inline_dispatch.md), so both agents call
providers through one :class:`~streams.dispatch.Dispatcher`: one HTTP client, one bound
on calls in flight, one memory of started attempts. faust starts and stops agents in no
set order, so the client is opened by the first agent that uses it and closed when the
last one is done: a call still running in either agent never meets a closed client.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager

import httpx

from adapters.http_client import make_http_client
from streams.dispatch import Dispatcher


class SharedDispatcher:
    def __init__(self, build: Callable[[httpx.AsyncClient], Dispatcher]) -> None:
        """``build`` makes the dispatcher around the HTTP client opened for it."""
        self._build = build
        self._lock = asyncio.Lock()
        self._users = 0
        self._stack: AsyncExitStack | None = None
        self._dispatcher: Dispatcher | None = None

    @asynccontextmanager
    async def use(self) -> AsyncIterator[Dispatcher]:
        async with self._lock:
            if self._dispatcher is None:
                stack = AsyncExitStack()
                http = await stack.enter_async_context(make_http_client())
                self._stack, self._dispatcher = stack, self._build(http)
            self._users += 1
            dispatcher = self._dispatcher
        try:
            yield dispatcher
        finally:
            async with self._lock:
                self._users -= 1
                if self._users == 0 and self._stack is not None:
                    stack, self._stack, self._dispatcher = self._stack, None, None
                    await stack.aclose()
