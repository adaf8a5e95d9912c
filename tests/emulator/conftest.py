from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest

from emulator.profile import EmulatorConfig
from emulator.server import RunningEmulator, start

StartEmulator = Callable[..., Awaitable[RunningEmulator]]


@pytest.fixture
async def start_emulator() -> AsyncIterator[StartEmulator]:
    """Start emulators on free ports for this test; all are stopped afterwards."""
    running: list[RunningEmulator] = []

    async def _start(config: EmulatorConfig | None = None) -> RunningEmulator:
        emulator = await start(config or EmulatorConfig(), "127.0.0.1", 0)
        running.append(emulator)
        return emulator

    yield _start
    for emulator in running:
        await emulator.stop()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10.0) as client:
        yield client
