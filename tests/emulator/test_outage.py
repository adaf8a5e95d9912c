"""Provider outages (connections dropped without an answer) and counting calls on arrival."""

import asyncio
import time
from typing import Any

import httpx
import pytest

from emulator.server import RunningEmulator
from tests.emulated import StartEmulator

AUTH = {"authorization": "Bearer test-key"}


def body(model: str = "m") -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": "hello"}]}


async def post(http: httpx.AsyncClient, emulator: RunningEmulator, model: str) -> httpx.Response:
    return await http.post(
        f"{emulator.base_url}/v1/chat/completions", json=body(model), headers=AUTH
    )


async def outcomes(http: httpx.AsyncClient, emulator: RunningEmulator) -> dict[str, Any]:
    data: dict[str, Any] = (await http.get(f"{emulator.base_url}/_emulator/stats")).json()
    return data


async def test_outage_drops_calls_without_an_answer_and_counts_them(
    start_emulator: StartEmulator, http: httpx.AsyncClient
) -> None:
    emulator = await start_emulator()
    started = await http.post(f"{emulator.base_url}/_emulator/outage", json={"seconds": 60})
    assert (started.status_code, started.json()) == (200, {"outage_s": 60})

    for model in ("a", "a", "b"):
        with pytest.raises(httpx.TransportError):
            await post(http, emulator, model)
    snapshot = await outcomes(http, emulator)
    assert snapshot["requests"] == 3
    assert snapshot["models"]["a"] == {"requests": 2, "outcomes": {"outage": 2}}
    assert snapshot["models"]["b"]["outcomes"] == {"outage": 1}

    ended = await http.delete(f"{emulator.base_url}/_emulator/outage")
    assert ended.status_code == 200
    assert (await post(http, emulator, "a")).status_code == 200
    assert (await outcomes(http, emulator))["outcomes"] == {"outage": 3, "ok": 1}


async def test_outage_ends_by_itself(
    start_emulator: StartEmulator, http: httpx.AsyncClient
) -> None:
    emulator = await start_emulator()
    began = time.monotonic()
    await http.post(f"{emulator.base_url}/_emulator/outage", json={"seconds": 0.5})
    with pytest.raises(httpx.TransportError):
        await post(http, emulator, "m")
    deadline = began + 10
    while True:
        try:
            response = await post(http, emulator, "m")
            break
        except httpx.TransportError:
            assert time.monotonic() < deadline, "the outage did not end within 10 s"
            await asyncio.sleep(0.05)
    assert response.status_code == 200
    assert time.monotonic() - began >= 0.5


@pytest.mark.parametrize(
    "payload", [{}, {"seconds": "30"}, {"seconds": 0}, {"seconds": -1}, {"seconds": 1e6}, []]
)
async def test_bad_outage_requests_are_refused(
    start_emulator: StartEmulator, http: httpx.AsyncClient, payload: object
) -> None:
    emulator = await start_emulator()
    response = await http.post(f"{emulator.base_url}/_emulator/outage", json=payload)
    assert response.status_code == 400
    assert "seconds" in response.json()["error"]
    assert (await post(http, emulator, "m")).status_code == 200


async def test_call_abandoned_mid_upload_is_counted(
    start_emulator: StartEmulator, http: httpx.AsyncClient
) -> None:
    emulator = await start_emulator()
    reader, writer = await asyncio.open_connection(emulator.host, emulator.port)
    # Expect: 100-continue makes the server say when the handler is about to read the body,
    # so the connection is closed while the handler waits for it.
    writer.write(
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k\r\n"
        b"Content-Type: application/json\r\nContent-Length: 1000\r\n"
        b"Expect: 100-continue\r\n\r\n"
    )
    await writer.drain()
    assert (await asyncio.wait_for(reader.readline(), 10)).startswith(b"HTTP/1.1 100")
    writer.write(b'{"model": ')
    writer.close()
    await writer.wait_closed()
    deadline = time.monotonic() + 10
    while (await outcomes(http, emulator))["requests"] == 0:
        assert time.monotonic() < deadline, "the abandoned call was never counted"
        await asyncio.sleep(0.05)
    assert (await outcomes(http, emulator))["outcomes"] == {"client_gone": 1}


async def test_a_forced_status_hits_one_model_for_its_seconds(
    start_emulator: StartEmulator, http: httpx.AsyncClient
) -> None:
    emulator = await start_emulator()
    forced = {"model": "a", "status": 503, "seconds": 0.5}
    started = await http.post(f"{emulator.base_url}/_emulator/fault", json=forced)
    assert (started.status_code, started.json()) == (200, forced)
    began = time.monotonic()
    assert (await post(http, emulator, "a")).status_code == 503
    assert (await post(http, emulator, "b")).status_code == 200  # other models are fine
    deadline = began + 10
    while (await post(http, emulator, "a")).status_code == 503:
        assert time.monotonic() < deadline, "the forced status never ended"
        await asyncio.sleep(0.1)
    assert time.monotonic() - began >= 0.5
    counted = (await outcomes(http, emulator))["models"]["a"]["outcomes"]
    assert counted["error_503"] >= 1 and counted["ok"] == 1


async def timed_post(
    http: httpx.AsyncClient, emulator: RunningEmulator, model: str
) -> tuple[int, float]:
    began = time.monotonic()
    status = (await post(http, emulator, model)).status_code
    return status, time.monotonic() - began


async def test_a_forced_latency_slows_one_model_for_its_seconds(
    start_emulator: StartEmulator, http: httpx.AsyncClient
) -> None:
    # The default profile answers at once (fixed 0 ms), so 300 ms can only be the override.
    emulator = await start_emulator()
    slowed = {"model": "a", "ms": 300, "seconds": 1.5}
    started = await http.post(f"{emulator.base_url}/_emulator/latency", json=slowed)
    assert (started.status_code, started.json()) == (200, slowed)
    began = time.monotonic()
    status, took = await timed_post(http, emulator, "a")
    assert status == 200 and took >= 0.3, f"a call to a took {took:.3f}s, want >= 0.3s"
    status, took = await timed_post(http, emulator, "b")
    assert status == 200 and took < 0.3, f"a call to b took {took:.3f}s, want < 0.3s"
    deadline = began + 10
    while (await timed_post(http, emulator, "a"))[1] >= 0.3:
        assert time.monotonic() < deadline, "the forced latency never ended"
    assert time.monotonic() - began >= 1.5


@pytest.mark.parametrize(
    "payload",
    [
        {"model": "a", "ms": 100},
        {"model": "a", "ms": 0, "seconds": 1},
        {"model": "a", "ms": 600_001, "seconds": 1},
        {"model": "a", "ms": "100", "seconds": 1},
        {"model": "a", "ms": 100, "seconds": 0},
        {"model": "a", "ms": 100, "seconds": 3601},
        {"model": "", "ms": 100, "seconds": 1},
        {"model": 7, "ms": 100, "seconds": 1},
        [],
    ],
)
async def test_bad_latency_requests_are_refused(
    start_emulator: StartEmulator, http: httpx.AsyncClient, payload: object
) -> None:
    emulator = await start_emulator()
    answer = await http.post(f"{emulator.base_url}/_emulator/latency", json=payload)
    assert answer.status_code == 400
    assert answer.json()["error"]
    status, took = await timed_post(http, emulator, "a")
    assert status == 200 and took < 0.1, "a refused request still slowed the model"


@pytest.mark.parametrize(
    "body", [{"model": "a", "status": 418, "seconds": 1}, {"model": "a", "seconds": 1}]
)
async def test_a_forced_status_needs_an_error_status(
    start_emulator: StartEmulator, http: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    emulator = await start_emulator()
    answer = await http.post(f"{emulator.base_url}/_emulator/fault", json=body)
    assert answer.status_code == 400
