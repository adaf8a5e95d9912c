from collections.abc import AsyncIterator

import httpx
import pytest

# Imported so that pytest finds the fixture for the tests here.
from tests.emulated import start_emulator  # noqa: F401


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10.0) as client:
        yield client
