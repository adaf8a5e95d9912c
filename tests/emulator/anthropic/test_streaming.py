"""Anthropic Messages streaming: the emulator's events checked against the official SDK's
``RawMessageStreamEvent`` union key by key, read by the SDK's own streaming client, and
assembled into exactly the message the same request gets unstreamed."""

from typing import Any

import anthropic
import httpx
import orjson
import pytest
from anthropic.types import Message, RawMessageStreamEvent
from anthropic.types.message_create_params import MessageCreateParamsStreaming
from anthropic.types.shared import ErrorResponse
from pydantic import TypeAdapter

from emulator.server import RunningEmulator
from tests.emulated import StartEmulator
from tests.emulator.anthropic.test_conformance import AUTH, BODY, WEATHER_TOOL, post
from tests.emulator.sdk_fields import model_errors, params_errors

EVENT: TypeAdapter[RawMessageStreamEvent] = TypeAdapter(RawMessageStreamEvent)
TOOL_BODY: dict[str, Any] = {
    **BODY,
    "messages": [{"role": "user", "content": "call get_weather for Lisbon"}],
    "tools": [WEATHER_TOOL],
}
SCHEMA_BODY: dict[str, Any] = {
    **BODY,
    "output_config": {
        "format": {
            "type": "json_schema",
            "schema": {"type": "object", "properties": {"city": {"type": "string"}}},
        }
    },
}
Events = list[tuple[str, dict[str, Any]]]


def parse_frames(body: str) -> Events:
    """Each frame as (event name, data); every frame is an ``event:`` and a ``data:`` line."""
    assert body.endswith("\n\n")
    events: Events = []
    for frame in body.removesuffix("\n\n").split("\n\n"):
        event_line, data_line = frame.split("\n")
        name = event_line.removeprefix("event: ")
        data = orjson.loads(data_line.removeprefix("data: "))
        assert event_line == f"event: {name}" and data_line.startswith("data: ")
        assert data["type"] == name
        events.append((name, data))
    return events


async def stream_events(
    http: httpx.AsyncClient, emulator: RunningEmulator, body: dict[str, Any]
) -> Events:
    response = await post(http, emulator, {**body, "stream": True})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert response.headers["request-id"].startswith("req_")
    events = parse_frames(response.text)
    for name, data in events:
        if name == "ping":
            assert data == {"type": "ping"}  # a keep-alive the SDK skips, not in the union
            continue
        assert model_errors(data, RawMessageStreamEvent) == [], name
        EVENT.validate_python(data)
    names = [name for name, _ in events]
    assert names[0] == "message_start"
    assert names[-2:] == ["message_delta", "message_stop"]
    return events


def assemble(events: Events) -> dict[str, Any]:
    """The whole message the events describe, built the way the API documents it."""
    message: dict[str, Any] = {}
    json_pieces: dict[int, list[str]] = {}
    for name, data in events:
        if name == "message_start":
            message = data["message"]
        elif name == "content_block_start":
            assert data["index"] == len(message["content"])
            message["content"].append(data["content_block"])
        elif name == "content_block_delta":
            block, delta = message["content"][data["index"]], data["delta"]
            if delta["type"] == "text_delta":
                block["text"] += delta["text"]
            else:
                json_pieces.setdefault(data["index"], []).append(delta["partial_json"])
        elif name == "content_block_stop" and data["index"] in json_pieces:
            text = "".join(json_pieces[data["index"]])
            message["content"][data["index"]]["input"] = orjson.loads(text)
        elif name == "message_delta":
            message.update(data["delta"])
            message["usage"].update(data["usage"])
    return message


async def whole_reply(start_emulator: StartEmulator, body: dict[str, Any]) -> dict[str, Any]:
    """The unstreamed reply from a fresh emulator: ids and caching match a fresh one's."""
    async with httpx.AsyncClient() as http:
        response = await post(http, await start_emulator(), body)
    assert response.status_code == 200
    data: dict[str, Any] = response.json()
    return data


def test_streaming_request_fits_the_sdk_params() -> None:
    assert params_errors({**BODY, "stream": True}, MessageCreateParamsStreaming) == []


async def test_text_streams_in_pieces_and_adds_up_to_the_reply(
    start_emulator: StartEmulator, http: httpx.AsyncClient
) -> None:
    events = await stream_events(http, await start_emulator(), BODY)
    start = events[0][1]["message"]
    assert (start["content"], start["stop_reason"], start["usage"]["output_tokens"]) == (
        [],
        None,
        1,
    )
    texts = [d["delta"]["text"] for n, d in events if n == "content_block_delta"]
    assert len(texts) > 2
    whole = await whole_reply(start_emulator, BODY)
    assert assemble(events) == whole
    assert "".join(texts) == whole["content"][0]["text"]
    [delta] = [d for n, d in events if n == "message_delta"]
    assert delta["usage"] == {"output_tokens": whole["usage"]["output_tokens"]}


async def test_tool_input_arrives_as_json_split_anywhere(
    start_emulator: StartEmulator, http: httpx.AsyncClient
) -> None:
    events = await stream_events(http, await start_emulator(), TOOL_BODY)
    [(_, started)] = [(n, d) for n, d in events if n == "content_block_start"]
    block = started["content_block"]
    assert (block["type"], block["name"], block["input"]) == ("tool_use", "get_weather", {})
    assert block["id"].startswith("toolu_")
    pieces = [d["delta"]["partial_json"] for n, d in events if n == "content_block_delta"]
    assert pieces[0] == ""  # the API opens every tool input with an empty piece
    assert len(pieces) > 3
    # Cut mid-token: a piece on its own is not a JSON document.
    assert not any(p.startswith("{") and p.endswith("}") for p in pieces)
    assert orjson.loads("".join(pieces)) == {"city": "example"}
    assert assemble(events) == await whole_reply(start_emulator, TOOL_BODY)


async def test_json_output_and_cache_reads_stream_like_the_reply(
    start_emulator: StartEmulator, http: httpx.AsyncClient
) -> None:
    events = await stream_events(http, await start_emulator(), SCHEMA_BODY)
    assert orjson.loads(assemble(events)["content"][0]["text"]) == {"city": "example"}
    long_body = {**BODY, "messages": [{"role": "user", "content": "word " * 1200}]}
    emulator = await start_emulator()
    await stream_events(http, emulator, long_body)
    repeated = assemble(await stream_events(http, emulator, long_body))
    assert repeated["usage"]["cache_read_input_tokens"] > 0


async def test_sdk_streaming_client_reads_the_stream(start_emulator: StartEmulator) -> None:
    streamed = await start_emulator()
    client = anthropic.AsyncAnthropic(base_url=streamed.base_url, api_key="test-key", max_retries=0)
    whole = anthropic.AsyncAnthropic(
        base_url=(await start_emulator()).base_url, api_key="test-key", max_retries=0
    )
    try:
        for tool_choice in ("auto", "any"):
            kwargs: dict[str, Any] = {
                "model": "claude-emu",
                "max_tokens": 64,
                "messages": [{"role": "user", "content": "what is the weather in Lisbon"}],
                "tools": [WEATHER_TOOL],
                "tool_choice": {"type": tool_choice},
            }
            async with client.messages.stream(**kwargs) as stream:
                texts = [text async for text in stream.text_stream]
                final = await stream.get_final_message()
            created = await whole.messages.create(**kwargs)
            assert final.model_dump() == created.model_dump()
            assert "".join(texts) == "".join(b.text for b in created.content if b.type == "text")
        raw = await client.messages.create(
            model="claude-emu", max_tokens=16, messages=[{"role": "user", "content": "hi"}],
            stream=True,
        )  # fmt: skip
        kinds = [event.type async for event in raw]
        assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    finally:
        await client.close()
        await whole.close()


async def test_stream_must_be_a_boolean(
    start_emulator: StartEmulator, http: httpx.AsyncClient
) -> None:
    response = await post(http, await start_emulator(), {**BODY, "stream": "yes"})
    assert response.status_code == 400
    error = ErrorResponse.model_validate(response.json()).error
    assert (error.type, error.message) == (
        "invalid_request_error",
        "stream: Input should be a valid boolean",
    )


@pytest.mark.parametrize("stream", [False, None])
async def test_unstreamed_requests_get_a_whole_message(
    start_emulator: StartEmulator, http: httpx.AsyncClient, stream: bool | None
) -> None:
    body = BODY if stream is None else {**BODY, "stream": stream}
    response = await http.post(
        f"{(await start_emulator()).base_url}/v1/messages", json=body, headers=AUTH
    )
    assert response.headers["content-type"].startswith("application/json")
    Message.model_validate(response.json())
