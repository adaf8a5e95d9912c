"""What the adapters' stream tests share: running a stream to its end or to its error,
comparing it with ``complete`` on a twin emulator, and cutting streams in the emulator."""

from collections.abc import Callable

import httpx

from adapters.base import ChatAdapter, ProviderRequest, ProviderResult, StreamDelta, ToolCallDelta
from adapters.errors import ProviderError
from emulator.server import RunningEmulator
from tests.adapters.helpers import TIMEOUT_S
from tests.emulated import StartEmulator

# An adapter of one format for an emulator.
MakeAdapter = Callable[[RunningEmulator], ChatAdapter]


async def run_stream(
    adapter: ChatAdapter, request: ProviderRequest
) -> tuple[list[StreamDelta], ProviderResult]:
    """The deltas and the one result, checked to come last."""
    deltas: list[StreamDelta] = []
    results: list[ProviderResult] = []
    async for part in adapter.stream(request, timeout_s=TIMEOUT_S):
        assert not results, f"{part!r} came after the result"
        if isinstance(part, ProviderResult):
            results.append(part)
        else:
            deltas.append(part)
    assert len(results) == 1
    return deltas, results[0]


async def stream_error(
    adapter: ChatAdapter, request: ProviderRequest
) -> tuple[list[StreamDelta], ProviderError]:
    """The deltas that came before the stream failed, and its error; fails on a result."""
    deltas: list[StreamDelta] = []
    try:
        async for part in adapter.stream(request, timeout_s=TIMEOUT_S):
            assert not isinstance(part, ProviderResult), "the stream finished normally"
            deltas.append(part)
    except ProviderError as exc:
        return deltas, exc
    raise AssertionError("the stream ended without its result or an error")


async def complete_and_stream(
    start_emulator: StartEmulator,
    make: MakeAdapter,
    request: ProviderRequest,
) -> tuple[ProviderResult, list[StreamDelta], ProviderResult]:
    """``complete`` and ``stream`` of one request on two emulators of the same seed: each
    sees the prompt for the first time, and both hand out the same ids."""
    whole = await make(await start_emulator()).complete(request, timeout_s=TIMEOUT_S)
    deltas, streamed = await run_stream(make(await start_emulator()), request)
    return whole, deltas, streamed


def text_of(deltas: list[StreamDelta]) -> str:
    return "".join(d.text for d in deltas if not isinstance(d, ToolCallDelta))


def calls_of(deltas: list[StreamDelta]) -> list[ToolCallDelta]:
    return [d for d in deltas if isinstance(d, ToolCallDelta)]


async def cut_streams(emulator: RunningEmulator, model: str, after_frames: int) -> None:
    """Every streamed reply of ``model`` breaks after ``after_frames`` frames from now on."""
    async with httpx.AsyncClient() as http:
        response = await http.post(
            f"{emulator.base_url}/_emulator/cut",
            json={"model": model, "after_frames": after_frames, "seconds": 60},
        )
    response.raise_for_status()
