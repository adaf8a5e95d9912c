"""The worker's one dispatcher: built once for the agents that use it, its HTTP client
open until the last of them is done."""

from __future__ import annotations

import asyncio

import httpx

from schemas.config_loader import load_config
from streams.dispatch import Dispatcher
from streams.model_client import ModelClient
from streams.shared_dispatcher import SharedDispatcher
from tests.paths import EXAMPLE_CONFIG
from tests.streams.recording import RecordingPublisher, ready_ledger


def _shared() -> tuple[SharedDispatcher, list[httpx.AsyncClient]]:
    config = load_config(EXAMPLE_CONFIG)
    clients: list[httpx.AsyncClient] = []

    def build(http: httpx.AsyncClient) -> Dispatcher:
        clients.append(http)
        models = ModelClient(config, http)
        return Dispatcher(config, models, RecordingPublisher(), ready_ledger())  # type: ignore[arg-type]

    return SharedDispatcher(build), clients


async def test_two_users_share_one_dispatcher_and_the_last_closes_its_client() -> None:
    shared, clients = _shared()
    first_done = asyncio.Event()
    seen: list[Dispatcher] = []

    async def first() -> None:
        async with shared.use() as dispatcher:
            seen.append(dispatcher)
        first_done.set()

    async def second() -> None:
        async with shared.use() as dispatcher:
            seen.append(dispatcher)
            await first_done.wait()
            # The other agent stopped; this one's calls still have an open client.
            assert not clients[0].is_closed

    await asyncio.gather(second(), first())
    assert len(clients) == 1 and seen[0] is seen[1]
    assert clients[0].is_closed


async def test_a_new_user_after_the_last_one_left_gets_a_fresh_client() -> None:
    shared, clients = _shared()
    async with shared.use():
        pass
    async with shared.use():
        assert not clients[1].is_closed
    assert len(clients) == 2 and all(c.is_closed for c in clients)
