import asyncio
import socket

import httpx
import orjson
import pytest

from adapters.http_client import make_http_client
from emulator.profile import EmulatorConfig, FaultProfile
from emulator.server import RunningEmulator
from tests.adapters.helpers import Stats
from tests.emulated import StartEmulator

BODY = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


async def hanging_requests(client: httpx.AsyncClient, emulator: RunningEmulator, n: int) -> None:
    """Fire ``n`` requests that the emulator never answers, until they all time out."""

    async def one() -> None:
        with pytest.raises(httpx.TimeoutException):
            await client.post(
                f"{emulator.base_url}/v1/chat/completions",
                json=BODY,
                headers={"authorization": "Bearer k"},
                timeout=1.0,
            )

    await asyncio.gather(*(one() for _ in range(n)))


async def test_default_client_is_not_capped_at_aiohttp_default(
    start_emulator: StartEmulator, stats: Stats
) -> None:
    # aiohttp's own default is 100 connections; every request past that would wait
    # in the pool and time out without ever reaching the server.
    emulator = await start_emulator(EmulatorConfig(default=FaultProfile(hang_rate=1.0)))
    client = make_http_client()
    try:
        await hanging_requests(client, emulator, 150)
    finally:
        await client.aclose()
    assert (await stats(emulator))["outcomes"] == {"hang": 150}


async def test_max_connections_caps_requests_in_flight(
    start_emulator: StartEmulator, stats: Stats
) -> None:
    emulator = await start_emulator(EmulatorConfig(default=FaultProfile(hang_rate=1.0)))
    client = make_http_client(max_connections=2)
    try:
        await hanging_requests(client, emulator, 5)
    finally:
        await client.aclose()
    assert (await stats(emulator))["outcomes"] == {"hang": 2}


def test_rejects_non_positive_cap() -> None:
    with pytest.raises(ValueError, match="max_connections"):
        make_http_client(max_connections=0)


# A provider call's plain post (a bytes body, headers, a timeout) goes straight to the
# aiohttp session (adapters/http_client.py); these hold on that path too.
async def direct_post(client: httpx.AsyncClient, url: str, timeout: float) -> httpx.Response:
    return await client.post(
        url,
        content=orjson.dumps(BODY),
        headers={"content-type": "application/json", "authorization": "Bearer k"},
        timeout=timeout,
    )


async def test_direct_post_is_capped_and_times_out_as_httpx(
    start_emulator: StartEmulator, stats: Stats
) -> None:
    emulator = await start_emulator(EmulatorConfig(default=FaultProfile(hang_rate=1.0)))
    client = make_http_client(max_connections=2)
    url = f"{emulator.base_url}/v1/chat/completions"

    async def one() -> None:
        with pytest.raises(httpx.TimeoutException):
            await direct_post(client, url, 1.0)

    try:
        await asyncio.gather(*(one() for _ in range(5)))
    finally:
        await client.aclose()
    assert (await stats(emulator))["outcomes"] == {"hang": 2}


async def test_direct_post_reads_the_reply_and_keeps_no_cookies(
    start_emulator: StartEmulator,
) -> None:
    emulator = await start_emulator(EmulatorConfig())
    client = make_http_client()
    try:
        reply = await direct_post(client, f"{emulator.base_url}/v1/chat/completions", 5.0)
    finally:
        await client.aclose()
    assert reply.status_code == 200
    assert reply.json()["choices"][0]["message"]["content"]
    assert reply.headers["content-type"].startswith("application/json")
    assert not client.cookies


async def test_direct_post_to_a_closed_port_raises_an_httpx_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = make_http_client()
    try:
        with pytest.raises(httpx.RequestError):
            await direct_post(client, f"http://127.0.0.1:{port}/v1/chat/completions", 5.0)
    finally:
        await client.aclose()
