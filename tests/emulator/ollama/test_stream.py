"""Ollama /api/chat streaming: the emulator's lines checked against the ollama package's
``ChatResponse``, against the whole reply to the same request, and read by the package's
own client."""

from typing import Any

import httpx
import ollama
import orjson
import pytest
from ollama._types import ChatResponse

from adapters.base import ProviderRequest
from adapters.ollama.payload import build_payload
from emulator.server import RunningEmulator
from schemas.chat import ChatMessage
from tests.emulated import StartEmulator
from tests.emulator.ollama.test_conformance import WEATHER, full_request
from tests.emulator.sdk_fields import model_errors


async def post(
    emulator: RunningEmulator, http: httpx.AsyncClient, body: dict[str, Any]
) -> httpx.Response:
    return await http.post(f"{emulator.base_url}/api/chat", json=body)


def lines_of(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/x-ndjson")
    assert response.content.endswith(b"\n")
    return [orjson.loads(line) for line in response.content.split(b"\n")[:-1]]


@pytest.mark.parametrize(
    "request_",
    [
        full_request(response_format=None),
        full_request(messages=[ChatMessage(role="user", content="call get_weather")]),
        full_request(messages=[ChatMessage(role="user", content="json please")], tools=[]),
    ],
    ids=["text", "tool_call", "json"],
)
async def test_lines_fit_the_package_and_add_up_to_the_whole_reply(
    start_emulator: StartEmulator, http: httpx.AsyncClient, request_: ProviderRequest
) -> None:
    payload = build_payload(request_, provider="ollama")
    whole = (await post(await start_emulator(), http, payload)).json()
    lines = lines_of(await post(await start_emulator(), http, {**payload, "stream": True}))
    for data in lines:
        assert model_errors(data, ChatResponse) == [], data
        ChatResponse.model_validate(data)
    *pieces, last = lines
    assert pieces and not any(p["done"] for p in pieces)
    assert last["done"] is True and last["message"] == {"role": "assistant", "content": ""}
    # The last line carries what the whole reply does, but for the message itself.
    assert {**last, "message": whole["message"]} == whole
    assert "".join(p["message"]["content"] for p in pieces) == whole["message"]["content"]
    calls = [c for p in pieces for c in p["message"].get("tool_calls", [])]
    assert calls == whole["message"].get("tool_calls", [])


async def test_a_body_without_stream_streams(
    start_emulator: StartEmulator, http: httpx.AsyncClient
) -> None:
    # Ollama's own default: a client that leaves the field out gets lines.
    body = {"model": "llama-emu", "messages": [{"role": "user", "content": "hi there"}]}
    lines = lines_of(await post(await start_emulator(), http, body))
    assert len(lines) > 1 and lines[-1]["done"] is True


async def test_the_package_reads_the_stream(start_emulator: StartEmulator) -> None:
    emulator = await start_emulator()
    async with ollama.AsyncClient(host=emulator.base_url) as client:
        parts = [
            part
            async for part in await client.chat(
                model="llama-emu",
                messages=[{"role": "user", "content": "tell me about Lisbon"}],
                stream=True,
            )
        ]
        assert all(isinstance(p, ChatResponse) for p in parts)
        assert "".join(p.message.content or "" for p in parts).startswith("tell me about Lisbon")
        assert parts[-1].done and parts[-1].done_reason == "stop" and parts[-1].eval_count
        calls = [
            call
            async for part in await client.chat(
                model="llama-emu",
                messages=[{"role": "user", "content": "use get_weather"}],
                tools=[{"type": "function", "function": WEATHER.model_dump()}],
                stream=True,
            )
            for call in part.message.tool_calls or []
        ]
        assert [(c.function.name, c.function.arguments) for c in calls] == [
            ("get_weather", {"city": "example"})
        ]
