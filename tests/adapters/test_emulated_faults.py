"""The faults every adapter meets the same way, checked for each against the emulator:
a hung upstream, a body cut short, a missing credential and an over-long prompt."""

import time

import pytest

from adapters.errors import (
    AuthenticationFailed,
    ContextWindowExceeded,
    MalformedResponse,
    ProviderTimeout,
)
from tests.adapters.helpers import TIMEOUT_S, AdapterFor, Chat, Stats
from tests.emulated import StartEmulator, faulty

FORMATS = ["openai", "anthropic", "gemini", "cohere", "ollama", "bedrock"]

# How each format's emulated upstream words these errors, at the start of the message.
MISSING_KEY: dict[str, tuple[int, str]] = {
    "openai": (401, "You didn't provide an API key."),
    "anthropic": (401, "x-api-key header is required"),
    # Google and AWS refuse a missing credential with 403.
    "gemini": (403, "Method doesn't allow unregistered callers"),
    "cohere": (401, "no api key supplied"),
    "bedrock": (403, "MissingAuthenticationTokenException: "),
}
TOO_LONG = {
    "openai": "This model's maximum context length is 10 tokens.",
    "anthropic": "prompt is too long",
    "gemini": "The input token count (",
    "cohere": "too many tokens:",
    "ollama": "prompt too long; exceeded max context length",
    "bedrock": "ValidationException: ",
}


@pytest.mark.parametrize("fmt", FORMATS)
async def test_hang_times_out_at_the_deadline(
    start_emulator: StartEmulator, adapter: AdapterFor, chat: Chat, stats: Stats, fmt: str
) -> None:
    emulator = await start_emulator(faulty(hang_rate=1.0, hang_s=120))
    started = time.monotonic()
    with pytest.raises(ProviderTimeout):
        await adapter(fmt, emulator).complete(chat(), timeout_s=0.3)
    assert time.monotonic() - started < 3.0
    snapshot = await stats(emulator)
    assert snapshot["outcomes"] == {"hang": 1}
    assert snapshot["models"]["model-a"]["outcomes"] == {"hang": 1}


@pytest.mark.parametrize("fmt", FORMATS)
async def test_truncated_body_is_malformed(
    start_emulator: StartEmulator, adapter: AdapterFor, chat: Chat, fmt: str
) -> None:
    emulator = await start_emulator(faulty(malformed_rate=1.0))
    with pytest.raises(MalformedResponse) as caught:
        await adapter(fmt, emulator).complete(chat(), timeout_s=TIMEOUT_S)
    assert caught.value.retryable


@pytest.mark.parametrize("fmt", sorted(MISSING_KEY))
async def test_missing_key_is_authentication_failed(
    start_emulator: StartEmulator, adapter: AdapterFor, chat: Chat, fmt: str
) -> None:
    emulator = await start_emulator()
    status, message = MISSING_KEY[fmt]
    with pytest.raises(AuthenticationFailed) as caught:
        await adapter(fmt, emulator, keyed=False).complete(chat(), timeout_s=TIMEOUT_S)
    assert caught.value.status_code == status
    assert caught.value.message.startswith(message)


@pytest.mark.parametrize("fmt", FORMATS)
async def test_prompt_too_long_is_context_window(
    start_emulator: StartEmulator, adapter: AdapterFor, chat: Chat, fmt: str
) -> None:
    emulator = await start_emulator(faulty(context_window=10))
    with pytest.raises(ContextWindowExceeded) as caught:
        await adapter(fmt, emulator).complete(chat("word " * 40), timeout_s=TIMEOUT_S)
    assert caught.value.status_code == 400
    assert caught.value.message.startswith(TOO_LONG[fmt])
    assert not caught.value.retryable
