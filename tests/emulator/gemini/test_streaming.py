"""Gemini streamGenerateContent (``?alt=sse``): the emulator's chunks checked against the
official ``google-genai`` SDK's ``GenerateContentResponse`` field by field, read by the
SDK's own streaming client, and adding up to the reply the same request gets whole."""

from typing import Any

import httpx
import orjson
from google import genai
from google.genai import types as gt

from emulator.server import RunningEmulator
from tests.emulated import WEATHER, StartEmulator
from tests.emulator.gemini.test_conformance import AUTH, BODY, MODEL, assert_response_fits, post

TOOL_BODY: dict[str, Any] = {
    "contents": [{"role": "user", "parts": [{"text": "call get_weather for Lisbon"}]}],
    "tools": [
        {
            "functionDeclarations": [
                {"name": "get_weather", "parametersJsonSchema": WEATHER.parameters}
            ]
        }
    ],
}
JSON_BODY: dict[str, Any] = {
    **BODY,
    "generationConfig": {
        "responseMimeType": "application/json",
        "responseJsonSchema": {"type": "object", "properties": {"n": {"type": "integer"}}},
    },
}


def stream_url(emulator: RunningEmulator) -> str:
    return f"{emulator.base_url}/v1beta/models/{MODEL}:streamGenerateContent"


async def stream_chunks(
    http: httpx.AsyncClient, emulator: RunningEmulator, body: dict[str, Any]
) -> list[dict[str, Any]]:
    response = await http.post(stream_url(emulator), params={"alt": "sse"}, json=body, headers=AUTH)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/event-stream"
    text = response.text
    assert text.endswith("\r\n\r\n")
    chunks = []
    for frame in text.removesuffix("\r\n\r\n").split("\r\n\r\n"):
        # One data line per event, no event name: what the SDK's reader expects.
        assert frame.startswith("data: ") and "\n" not in frame
        chunk = orjson.loads(frame.removeprefix("data: "))
        assert_response_fits(chunk)
        chunks.append(chunk)
    *pieces, last = chunks
    assert all("finishReason" not in c["candidates"][0] for c in pieces)
    assert "finishReason" in last["candidates"][0]
    assert {c["responseId"] for c in chunks} == {last["responseId"]}
    return chunks


def assemble(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    """The whole reply the chunks describe: text pieces joined into one part."""
    parts: list[dict[str, Any]] = []
    for chunk in chunks:
        for part in chunk["candidates"][0]["content"]["parts"]:
            if "text" in part and parts and "text" in parts[-1]:
                parts[-1] = {**parts[-1], "text": parts[-1]["text"] + part["text"]}
            else:
                parts.append(part)
    last = chunks[-1]
    candidate = {**last["candidates"][0], "content": {"role": "model", "parts": parts}}
    return {**last, "candidates": [candidate]}


async def whole_reply(start_emulator: StartEmulator, body: dict[str, Any]) -> dict[str, Any]:
    """The unstreamed reply from a fresh emulator: ids and caching match a fresh one's."""
    async with httpx.AsyncClient() as http:
        response = await post(http, await start_emulator(), body)
    assert response.status_code == 200
    data: dict[str, Any] = response.json()
    return data


async def test_text_streams_in_chunks_and_adds_up_to_the_reply(
    start_emulator: StartEmulator, http: httpx.AsyncClient
) -> None:
    long_body = {**BODY, "generationConfig": {"maxOutputTokens": 60}}
    chunks = await stream_chunks(http, await start_emulator(), long_body)
    assert len(chunks) > 2
    for chunk in chunks[:-1]:
        [part] = chunk["candidates"][0]["content"]["parts"]
        assert part["text"]
        # Until the answer is done only the prompt is counted.
        assert set(chunk["usageMetadata"]) == {"promptTokenCount", "totalTokenCount"}
    assert assemble(chunks) == await whole_reply(start_emulator, long_body)


async def test_function_call_arrives_whole_in_the_last_chunk(
    start_emulator: StartEmulator, http: httpx.AsyncClient
) -> None:
    [chunk] = await stream_chunks(http, await start_emulator(), TOOL_BODY)
    candidate = chunk["candidates"][0]
    assert candidate["content"]["parts"] == [
        {"functionCall": {"name": "get_weather", "args": {"city": "example"}}}
    ]
    assert candidate["finishReason"] == "STOP"
    assert chunk == await whole_reply(start_emulator, TOOL_BODY)


async def test_json_output_and_cache_stream_like_the_reply(
    start_emulator: StartEmulator, http: httpx.AsyncClient
) -> None:
    chunks = await stream_chunks(http, await start_emulator(), JSON_BODY)
    assert assemble(chunks) == await whole_reply(start_emulator, JSON_BODY)
    text = assemble(chunks)["candidates"][0]["content"]["parts"][0]["text"]
    assert orjson.loads(text) == {"n": 1}
    long_body = {"contents": [{"role": "user", "parts": [{"text": "word " * 1200}]}]}
    emulator = await start_emulator()
    await stream_chunks(http, emulator, long_body)
    repeated = await stream_chunks(http, emulator, long_body)
    usage = repeated[-1]["usageMetadata"]
    assert 0 < usage["cachedContentTokenCount"] <= usage["promptTokenCount"]


async def test_sdk_streaming_client_reads_the_stream(start_emulator: StartEmulator) -> None:
    def client(emulator: RunningEmulator) -> genai.Client:
        options = gt.HttpOptions(base_url=emulator.base_url, api_version="v1beta")
        return genai.Client(api_key="test-key", http_options=options)

    streamed, whole = client(await start_emulator()), client(await start_emulator())
    weather = gt.FunctionDeclaration(name="get_weather", parameters_json_schema=WEATHER.parameters)
    for mode in ("AUTO", "ANY"):
        config = gt.GenerateContentConfig(
            max_output_tokens=60,
            tools=[gt.Tool(function_declarations=[weather])],
            tool_config=gt.ToolConfig(function_calling_config=gt.FunctionCallingConfig(mode=mode)),
            automatic_function_calling=gt.AutomaticFunctionCallingConfig(disable=True),
        )
        contents = "what is the weather like in Lisbon today, and tomorrow?"
        chunks = [
            chunk
            async for chunk in await streamed.aio.models.generate_content_stream(
                model=MODEL, contents=contents, config=config
            )
        ]
        reply = await whole.aio.models.generate_content(
            model=MODEL, contents=contents, config=config
        )
        assert "".join(c.text or "" for c in chunks) == (reply.text or "")
        assert chunks[-1].function_calls == reply.function_calls
        assert chunks[-1].usage_metadata == reply.usage_metadata
        assert chunks[-1].response_id == reply.response_id
        finished = [c.finish_reason for c in chunks[-1].candidates or []]
        assert finished == [c.finish_reason for c in reply.candidates or []]
    assert len(chunks) == 1  # ANY: the call, whole


async def test_streaming_needs_alt_sse(
    start_emulator: StartEmulator, http: httpx.AsyncClient
) -> None:
    emulator = await start_emulator()
    response = await http.post(stream_url(emulator), json=BODY, headers=AUTH)
    assert response.status_code == 400
    assert response.json()["error"]["status"] == "INVALID_ARGUMENT"
