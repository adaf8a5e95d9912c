"""What the adapter and emulator tests share: emulators started per test, fault
profiles, the statuses every wire must render, the tool the tests offer, and a way to
see what an adapter sends."""

from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest
from pydantic import TypeAdapter

from adapters.base import ProviderRequest, ProviderResult
from adapters.capabilities import check_supported
from adapters.credentials import Credentials
from adapters.http_client import make_http_client
from adapters.registry import ADAPTERS
from emulator.profile import EmulatorConfig, FaultProfile
from emulator.server import RunningEmulator, start
from schemas.chat import ToolSpec
from schemas.providers import ProviderConfig

StartEmulator = Callable[..., Awaitable[RunningEmulator]]

_PROVIDER_CONFIG: TypeAdapter[ProviderConfig] = TypeAdapter(ProviderConfig)

# The injected faults every wire renders in its vendor's error shape.
FAULT_STATUSES = [429, 500, 502, 503, 504, 529]

WEATHER = ToolSpec(
    name="get_weather",
    description="current weather",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}},
)


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


def provider_config(**fields: object) -> ProviderConfig:
    """The provider config of ``fields["format"]``, validated as the config file is."""
    return _PROVIDER_CONFIG.validate_python(fields)


def faulty(**profile: object) -> EmulatorConfig:
    """An emulator config whose every model has this fault profile."""
    return EmulatorConfig(default=FaultProfile.model_validate(profile))


async def complete_capturing(
    config: ProviderConfig, credentials: Credentials, request: ProviderRequest
) -> tuple[ProviderResult, list[httpx.Request]]:
    """Complete ``request`` through the adapter for ``config``, after the capability
    check every real call gets; the result, and the HTTP requests the adapter sent."""
    sent: list[httpx.Request] = []

    async def capture(outgoing: httpx.Request) -> None:
        sent.append(outgoing)

    client = make_http_client()
    client.event_hooks["request"] = [capture]
    adapter = ADAPTERS[config.format](config.format, config, client, credentials)
    check_supported(request, adapter.capabilities, config.format)
    try:
        result = await adapter.complete(request, timeout_s=5)
    finally:
        await client.aclose()
    return result, sent
