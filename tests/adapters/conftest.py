from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest

from adapters.base import ChatAdapter, ProviderRequest
from adapters.bedrock.adapter import BedrockAdapter
from adapters.credentials import AwsKeys, Credentials
from adapters.http_client import make_http_client
from adapters.registry import ADAPTERS
from emulator.server import RunningEmulator
from schemas.events import ChatMessage, GenerationParams
from schemas.providers import BedrockProvider, WireFormat
from tests.adapters.bedrock.helpers import KEYS
from tests.emulated import (
    provider_config,
    # Imported so that pytest finds the fixture for the tests here.
    start_emulator,  # noqa: F401
)


@pytest.fixture
async def http_client() -> AsyncIterator[httpx.AsyncClient]:
    client = make_http_client()
    yield client
    await client.aclose()


def base_url(fmt: WireFormat, emulator: RunningEmulator) -> str:
    # The OpenAI convention includes the version prefix; Anthropic's does not.
    return f"{emulator.base_url}/v1" if fmt == "openai" else emulator.base_url


@pytest.fixture
def adapter_for(
    http_client: httpx.AsyncClient,
) -> Callable[..., ChatAdapter]:
    def make(
        fmt: WireFormat, emulator: RunningEmulator, api_key: str | None = "test-key"
    ) -> ChatAdapter:
        config = provider_config(format=fmt, base_url=base_url(fmt, emulator))
        return ADAPTERS[fmt](f"{fmt}-emu", config, http_client, Credentials(api_key=api_key))

    return make


@pytest.fixture
def chat() -> Callable[..., ProviderRequest]:
    def make(
        text: str = "tell me about the weather in Lisbon today",
        *,
        model: str = "model-a",
        system: str | None = None,
        **params: object,
    ) -> ProviderRequest:
        messages = [ChatMessage(role="system", content=system)] if system else []
        messages.append(ChatMessage(role="user", content=text))
        return ProviderRequest(
            upstream_model=model,
            messages=messages,
            params=GenerationParams.model_validate(params),
        )

    return make


@pytest.fixture
def stats(
    http_client: httpx.AsyncClient,
) -> Callable[[RunningEmulator], Awaitable[dict[str, object]]]:
    async def fetch(emulator: RunningEmulator) -> dict[str, object]:
        response = await http_client.get(f"{emulator.base_url}/_emulator/stats")
        response.raise_for_status()
        data: dict[str, object] = response.json()
        return data

    return fetch


@pytest.fixture
def bedrock(http_client: httpx.AsyncClient) -> Callable[..., ChatAdapter]:
    """A Bedrock adapter for ``base_url``, signing with ``keys`` (None: unsigned)."""

    def make(base_url: str, keys: AwsKeys | None = KEYS) -> ChatAdapter:
        config = BedrockProvider(format="bedrock", base_url=base_url, region="eu-west-1")
        return BedrockAdapter("bedrock-emu", config, http_client, Credentials(aws=keys))

    return make


@pytest.fixture
def adapter(
    adapter_for: Callable[..., ChatAdapter], bedrock: Callable[..., ChatAdapter]
) -> Callable[..., ChatAdapter]:
    """The adapter for a format, with its credential or (``keyed=False``) without."""

    def make(fmt: str, emulator: RunningEmulator, *, keyed: bool = True) -> ChatAdapter:
        if fmt == "bedrock":
            return bedrock(emulator.base_url) if keyed else bedrock(emulator.base_url, keys=None)
        return adapter_for(fmt, emulator) if keyed else adapter_for(fmt, emulator, api_key=None)

    return make
