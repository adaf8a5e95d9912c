"""Cohere Chat v2 streaming: the emulator's events checked against the SDK's
``V2ChatStreamResponse`` union, against the whole reply to the same request, and read by
the SDK's own ``chat_stream``."""

import typing
from typing import Any

import cohere
import httpx
import pytest
from cohere.v2.types.v2chat_stream_response import V2ChatStreamResponse

from adapters.base import ProviderRequest
from adapters.cohere.payload import build_payload
from emulator.server import RunningEmulator
from schemas.chat import ChatMessage, ResponseFormat
from tests.emulated import WEATHER, StartEmulator
from tests.emulator.cohere.test_conformance import AUTH, full_request, sdk_client
from tests.emulator.sdk_fields import model_errors

# Cohere's message-start shows the empty message these fill (its streaming guide prints
# them), though the SDK's ChatMessageStartEventDeltaMessage declares only its role.
START_EXTRAS = {
    f"$.delta.message.{key}: not a field of ChatMessageStartEventDeltaMessage"
    for key in ("content", "tool_plan", "tool_calls", "citations")
}
# The union's members by their ``type`` discriminator.
EVENT_TYPES: dict[str, type[Any]] = {
    member.model_fields["type"].default: member
    for member in typing.get_args(typing.get_args(V2ChatStreamResponse)[0])
}


def sse_events(body: bytes) -> list[tuple[str, dict[str, Any]]]:
    """(event name, data) of each event; every event must be whole, blank line included."""
    assert body.endswith(b"\n\n")
    events = []
    for block in body.decode().split("\n\n")[:-1]:
        fields = dict(line.split(": ", 1) for line in block.split("\n"))
        assert set(fields) == {"event", "data"}, block
        events.append((fields["event"], httpx.Response(200, content=fields["data"]).json()))
    return events


async def post(
    emulator: RunningEmulator, http: httpx.AsyncClient, body: dict[str, Any]
) -> httpx.Response:
    return await http.post(f"{emulator.base_url}/v2/chat", json=body, headers=AUTH)


@pytest.mark.parametrize(
    "request_",
    [
        full_request(),
        full_request(messages=[ChatMessage(role="user", content="call get_weather")]),
        full_request(
            messages=[ChatMessage(role="user", content="json please")],
            tools=[],
            response_format=ResponseFormat(type="json_object"),
        ),
    ],
    ids=["text", "tool_call", "json"],
)
async def test_events_fit_the_sdk_union_and_add_up_to_the_whole_reply(
    start_emulator: StartEmulator, http: httpx.AsyncClient, request_: ProviderRequest
) -> None:
    payload = build_payload(request_, provider="cohere")
    whole = (await post(await start_emulator(), http, payload)).json()
    response = await post(await start_emulator(), http, {**payload, "stream": True})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["x-debug-trace-id"].startswith("req_")
    events = sse_events(response.content)
    for name, data in events:
        assert name == data["type"]
        assert set(model_errors(data, EVENT_TYPES[name])) - START_EXTRAS == set(), data
        assert type(EVENT_TYPES[name].model_validate(data)) is EVENT_TYPES[name]
    kinds = [name for name, _ in events]
    assert kinds[0] == "message-start" and kinds.count("message-start") == 1
    assert kinds[-1] == "message-end" and kinds.count("message-end") == 1
    assert events[0][1]["id"] == whole["id"]
    end = events[-1][1]["delta"]
    assert (end["finish_reason"], end["usage"]) == (whole["finish_reason"], whole["usage"])

    message = whole["message"]
    deltas = [data["delta"]["message"] for name, data in events if name.endswith("-delta")]
    if "tool_calls" in message:
        [call] = message["tool_calls"]
        [start] = [data for name, data in events if name == "tool-call-start"]
        opened = start["delta"]["message"]["tool_calls"]
        assert (opened["id"], opened["function"]["name"]) == (call["id"], "get_weather")
        arguments = [d["tool_calls"]["function"]["arguments"] for d in deltas if "tool_calls" in d]
        assert len(arguments) > 1
        assert "".join(arguments) == call["function"]["arguments"]
        assert "".join(d["tool_plan"] for d in deltas if "tool_plan" in d) == message["tool_plan"]
        assert kinds[-2] == "tool-call-end"
    else:
        pieces = [d["content"]["text"] for d in deltas]
        assert len(pieces) > 1
        assert "".join(pieces) == message["content"][0]["text"]
        assert kinds[1] == "content-start" and kinds[-2] == "content-end"


async def test_the_sdk_reads_the_stream(
    start_emulator: StartEmulator, http: httpx.AsyncClient
) -> None:
    emulator = await start_emulator()
    client = sdk_client(emulator, http)
    messages: list[cohere.ChatMessageV2] = [
        cohere.UserChatMessageV2(content="tell me about Lisbon")
    ]
    events = [e async for e in client.chat_stream(model="command-emu", messages=messages)]
    # The SDK skips, with a warning, any event it cannot build: none may be missing.
    raw = await post(emulator, http, {"model": "command-emu", "stream": True, "messages": [
        {"role": "user", "content": "tell me about Lisbon"}]})  # fmt: skip
    assert len(events) == len(sse_events(raw.content))
    assert isinstance(events[0], cohere.MessageStartV2ChatStreamResponse)
    text = "".join(
        e.delta.message.content.text or ""
        for e in events
        if isinstance(e, cohere.ContentDeltaV2ChatStreamResponse)
        and e.delta
        and e.delta.message
        and e.delta.message.content
    )
    assert text.startswith("tell me about Lisbon")
    end = events[-1]
    assert isinstance(end, cohere.MessageEndV2ChatStreamResponse)
    assert end.delta and end.delta.finish_reason == "COMPLETE"
    assert end.delta.usage and end.delta.usage.billed_units

    tool = cohere.ToolV2(
        function=cohere.ToolV2Function(name="get_weather", parameters=WEATHER.parameters)
    )
    calls = [
        e
        async for e in client.chat_stream(
            model="command-emu",
            messages=[cohere.UserChatMessageV2(content="use get_weather")],
            tools=[tool],
        )
    ]
    arguments = "".join(
        e.delta.message.tool_calls.function.arguments or ""
        for e in calls
        if isinstance(e, cohere.ToolCallDeltaV2ChatStreamResponse)
        and e.delta
        and e.delta.message
        and e.delta.message.tool_calls
        and e.delta.message.tool_calls.function
    )
    assert arguments == '{"city":"example"}'


async def test_stream_must_be_a_boolean(
    start_emulator: StartEmulator, http: httpx.AsyncClient
) -> None:
    emulator = await start_emulator()
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": "yes"}
    response = await post(emulator, http, body)
    assert response.status_code == 400
    assert "stream" in response.json()["message"]
