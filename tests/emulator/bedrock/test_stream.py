"""Bedrock ConverseStream: the emulator's event-stream messages framed, checked and parsed
by botocore against the service model's ``ConverseStreamOutput``, compared with the whole
Converse reply, and read by botocore's own client."""

import asyncio
from typing import Any

import botocore.session
import httpx
import orjson
import pytest
from botocore.config import Config
from botocore.eventstream import ChecksumMismatch, EventStreamBuffer, EventStreamMessage
from botocore.exceptions import ClientError
from botocore.parsers import EventStreamJSONParser

from adapters.bedrock.sigv4 import SigV4Signer
from emulator.bedrock.eventstream import encode_message, event, exception
from emulator.profile import EmulatorConfig
from emulator.server import RunningEmulator
from tests.emulated import StartEmulator, faulty
from tests.emulator.bedrock.test_conformance import (
    BODY,
    KEYS,
    MODEL,
    REGION,
    parse_reply,
    post_signed,
    shape_errors,
)

OPERATION = (
    botocore.session.get_session()
    .get_service_model("bedrock-runtime")
    .operation_model("ConverseStream")
)
# The event union: one member per event type and per exception sent in the stream.
STREAM = OPERATION.output_shape.members["stream"]
EVENT_HEADERS = {":content-type": "application/json", ":message-type": "event"}
TOOLS = {
    "tools": [
        {
            "toolSpec": {
                "name": "lookup",
                "inputSchema": {"json": {"type": "object", "properties": {"q": {}}}},
            }
        }
    ],
    "toolChoice": {"tool": {"name": "lookup"}},
}
SCHEMA = {"type": "object", "properties": {"capital": {"type": "string"}}}
JSON_OUTPUT = {
    "textFormat": {
        "type": "json_schema",
        "structure": {"jsonSchema": {"schema": orjson.dumps(SCHEMA).decode(), "name": "c"}},
    }
}


def messages_of(body: bytes) -> list[EventStreamMessage]:
    """Every message, CRCs checked; nothing may be left over."""
    buffer = EventStreamBuffer()
    buffer.add_data(body)
    messages = list(buffer)
    assert sum(m.prelude.total_length for m in messages) == len(body)
    return messages


def parsed(message: EventStreamMessage) -> dict[str, Any]:
    """The message as botocore's client hands it out: ``{eventType: {...}}``."""
    result: dict[str, Any] = EventStreamJSONParser().parse(message.to_response_dict(), STREAM)
    return result


async def post_stream(
    http: httpx.AsyncClient, emulator: RunningEmulator, body: dict[str, Any]
) -> httpx.Response:
    url = f"{emulator.base_url}/model/claude-emu/converse-stream"
    content = orjson.dumps(body)
    signer = SigV4Signer(KEYS, service="bedrock", region=REGION)
    headers = signer.sign(url, content, {"content-type": "application/json"})
    return await http.post(url, content=content, headers=headers)


@pytest.mark.parametrize(
    "body",
    [BODY, {**BODY, "toolConfig": TOOLS}, {**BODY, "outputConfig": JSON_OUTPUT}],
    ids=["text", "tool_use", "json_schema"],
)
async def test_events_fit_the_output_union_and_add_up_to_the_whole_reply(
    start_emulator: StartEmulator, http: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    whole = (await post_signed(http, await start_emulator(), body)).json()
    response = await post_stream(http, await start_emulator(), body)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/vnd.amazon.eventstream"
    assert response.headers["x-amzn-RequestId"].startswith("req_")
    events: list[tuple[str, dict[str, Any]]] = []
    for message in messages_of(response.content):
        kind = message.headers[":event-type"]
        assert message.headers == {":event-type": kind, **EVENT_HEADERS}
        payload = orjson.loads(message.payload)
        assert shape_errors(payload, STREAM.members[kind]) == [], (kind, payload)
        assert parsed(message) == {kind: payload}
        events.append((kind, payload))
    kinds = [kind for kind, _ in events]
    assert kinds[0] == "messageStart" and kinds[-2:] == ["messageStop", "metadata"]
    assert events[-2][1] == {"stopReason": whole["stopReason"]}
    assert events[-1][1] == {"usage": whole["usage"], "metrics": whole["metrics"]}

    blocks: dict[int, dict[str, Any]] = {}
    for kind, payload in events:
        if kind == "contentBlockStart":
            blocks[payload["contentBlockIndex"]] = {"toolUse": {**payload["start"]["toolUse"]}}
        elif kind == "contentBlockDelta":
            block = blocks.setdefault(payload["contentBlockIndex"], {"text": ""})
            delta = payload["delta"]
            if "text" in delta:
                block["text"] += delta["text"]
            else:
                tool = block["toolUse"]
                tool["input"] = tool.get("input", "") + delta["toolUse"]["input"]
    for block in blocks.values():
        if "toolUse" in block:
            assert len([k for k, p in events if k == "contentBlockDelta"]) > 1
            block["toolUse"]["input"] = orjson.loads(block["toolUse"]["input"])
    assert [blocks[i] for i in sorted(blocks)] == whole["output"]["message"]["content"]
    stops = [p["contentBlockIndex"] for k, p in events if k == "contentBlockStop"]
    assert stops == sorted(blocks)


async def test_the_streaming_body_is_checked_as_converse_stream_input(
    start_emulator: StartEmulator, http: httpx.AsyncClient
) -> None:
    emulator = await start_emulator()
    response = await post_stream(http, emulator, {**BODY, "inferenceConfig": {"max_tokens": 5}})
    assert response.status_code == 400
    error = parse_reply(response, OPERATION.output_shape)["Error"]
    assert error["Code"] == "ValidationException"
    assert "inferenceConfig.max_tokens" in error["Message"]


def test_botocore_parses_what_the_encoder_writes() -> None:
    # The encoder's framing and CRCs, read back by the parser AWS's SDK uses.
    large = {"contentBlockIndex": 0, "delta": {"text": "é" * 70_000}}
    [text] = messages_of(event("contentBlockDelta", large))
    assert parsed(text) == {"contentBlockDelta": large}
    [thrown] = messages_of(exception("throttlingException", "slow down"))
    assert thrown.to_response_dict()["status_code"] == 400
    assert EventStreamJSONParser().parse(thrown.to_response_dict(), STREAM)["Error"] == {
        "Code": "throttlingException",
        "Message": "slow down",
    }
    raw = encode_message({":message-type": "event", ":event-type": "messageStart"}, b"{}")
    with pytest.raises(ChecksumMismatch):
        messages_of(raw[:-1] + bytes([raw[-1] ^ 1]))


async def test_botocore_client_round_trip(start_emulator: StartEmulator) -> None:
    emulator = await start_emulator(
        EmulatorConfig(models={"busy": faulty(error_rates={429: 1.0}).default})
    )
    client = botocore.session.get_session().create_client(
        "bedrock-runtime",
        region_name=REGION,
        endpoint_url=emulator.base_url,
        aws_access_key_id=KEYS.access_key,
        aws_secret_access_key=KEYS.secret_key,
        config=Config(retries={"total_max_attempts": 1}),
    )

    def converse_stream(model: str) -> list[dict[str, Any]]:
        reply = client.converse_stream(
            modelId=model,
            messages=[{"role": "user", "content": [{"text": "name three rivers"}]}],
            inferenceConfig={"maxTokens": 4},
        )
        return list(reply["stream"])

    # botocore is synchronous and the emulator runs on this loop: call from a thread.
    events = await asyncio.to_thread(converse_stream, MODEL)
    text = "".join(
        e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e
    )
    assert text.startswith("name three")
    assert events[-2] == {"messageStop": {"stopReason": "max_tokens"}}
    assert events[-1]["metadata"]["usage"]["outputTokens"] == 4
    with pytest.raises(ClientError) as caught:
        await asyncio.to_thread(converse_stream, "busy")
    assert caught.value.response["Error"]["Code"] == "ThrottlingException"
    client.close()
