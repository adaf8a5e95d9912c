"""The OpenAI family's streamed replies checked against the openai SDK: every frame
against its ``ChatCompletionChunk`` type, key by key, and the SDK's own streaming client
reading the emulator's streams into the same answer as the non-streamed call."""

from typing import Any

import httpx
import openai
import orjson
import pytest
from openai.types.chat import ChatCompletionChunk
from openai.types.chat.chat_completion_message_function_tool_call import (
    ChatCompletionMessageFunctionToolCall,
)
from openai.types.shared import ErrorObject

from emulator.server import RunningEmulator
from tests.emulated import StartEmulator
from tests.emulator.sdk_fields import model_errors

AUTH = {"authorization": "Bearer test-key"}
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
        },
    },
}
DIALECTS = [
    ("/v1/chat/completions", AUTH),
    ("/openai/deployments/gpt-emu/chat/completions?api-version=2024-10-21", {"api-key": "k"}),
    ("/chat/completions", AUTH),
]
PERPLEXITY = "/chat/completions"
# Perplexity's additions to the OpenAI chunk; the openai SDK does not know them.
PERPLEXITY_EXTRAS = ("citations", "search_results")


def body(prompt: str, **extra: Any) -> dict[str, Any]:
    return {"model": "gpt-emu", "messages": [{"role": "user", "content": prompt}], **extra}


async def post(
    emulator: RunningEmulator, path: str, payload: dict[str, Any], headers: dict[str, str]
) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.post(f"{emulator.base_url}{path}", json=payload, headers=headers)


def frames_of(response: httpx.Response) -> list[bytes]:
    """The SSE events, each checked to be one ``data:`` line and its blank line."""
    assert response.headers["content-type"].startswith("text/event-stream")
    raw = response.content
    assert raw.endswith(b"\n\n")
    frames = raw[:-2].split(b"\n\n")
    for frame in frames:
        assert frame.startswith(b"data: ") and b"\n" not in frame, frame
    return frames


def chunks_of(frames: list[bytes], *, extras: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """The chunks, each validated strictly against the SDK's ChatCompletionChunk."""
    chunks = []
    for frame in frames:
        chunk = orjson.loads(frame.removeprefix(b"data: "))
        known = {k: v for k, v in chunk.items() if k not in extras}
        assert model_errors(known, ChatCompletionChunk) == [], chunk
        ChatCompletionChunk.model_validate(chunk)
        chunks.append(chunk)
    return chunks


def test_the_strict_check_notices_a_stray_or_wrong_field() -> None:
    choice = {"index": 0, "delta": {"content": "x"}, "finish_reason": None}
    good = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
            "choices": [choice]}  # fmt: skip
    assert chunks_of([b"data: " + orjson.dumps(good)])
    stray = orjson.loads(orjson.dumps(good))
    stray["choices"][0]["delta"]["contents"] = "x"
    wrong = {**good, "object": "chat.completion"}
    for bad in (stray, wrong):
        with pytest.raises(AssertionError):
            chunks_of([b"data: " + orjson.dumps(bad)])


@pytest.mark.parametrize(("path", "headers"), DIALECTS)
@pytest.mark.parametrize("include_usage", [True, False])
async def test_text_stream_frames(
    start_emulator: StartEmulator, path: str, headers: dict[str, str], include_usage: bool
) -> None:
    emulator = await start_emulator()
    prompt = body("what is the capital of Portugal")
    whole = (await post(emulator, path, prompt, headers)).json()
    options = {"stream_options": {"include_usage": True}} if include_usage else {}
    streamed = await post(emulator, path, {**prompt, "stream": True, **options}, headers)
    assert streamed.status_code == 200
    frames = frames_of(streamed)
    perplexity = path == PERPLEXITY
    if not perplexity:
        assert frames.pop() == b"data: [DONE]"
    chunks = chunks_of(frames, extras=PERPLEXITY_EXTRAS if perplexity else ())
    # One id and timestamp for the whole stream, as OpenAI sends.
    assert len({(c["id"], c["created"]) for c in chunks}) == 1
    assert chunks[0]["id"].startswith("chatcmpl-")
    if include_usage and not perplexity:
        usage_chunk = chunks.pop()
        assert usage_chunk["choices"] == []
        # A short prompt: no cached tokens on either call, so the usage is the same.
        assert usage_chunk["usage"] == whole["usage"]
    if perplexity:
        # The running usage on every chunk, complete on the last; sources on each.
        assert chunks[-1]["usage"] == whole["usage"]
        assert all(c["citations"] == whole["citations"] for c in chunks)
    else:
        assert all(c.get("usage", "absent") == (None if include_usage else "absent")
                   for c in chunks)  # fmt: skip
    first, *middle, finish = (c["choices"][0] for c in chunks)
    assert first["delta"] == {"role": "assistant", "content": "", "refusal": None}
    assert (finish["delta"], finish["finish_reason"]) == ({}, "stop")
    assert all(c["finish_reason"] is None and set(c["delta"]) == {"content"} for c in middle)
    assert len(middle) >= 2
    assert (
        "".join(c["delta"]["content"] for c in middle) == whole["choices"][0]["message"]["content"]
    )


async def test_tool_call_stream_frames(start_emulator: StartEmulator) -> None:
    emulator = await start_emulator()
    prompt = body("use get_weather", tools=[WEATHER_TOOL])
    path = "/v1/chat/completions"
    whole = (await post(emulator, path, prompt, AUTH)).json()
    options = {"stream": True, "stream_options": {"include_usage": True}}
    frames = frames_of(await post(emulator, path, {**prompt, **options}, AUTH))
    assert frames.pop() == b"data: [DONE]"
    *chunks, usage = chunks_of(frames)
    assert usage["usage"]["completion_tokens"] == whole["usage"]["completion_tokens"]
    first, *middle, finish = (c["choices"][0] for c in chunks)
    [named] = first["delta"]["tool_calls"]
    [expected] = whole["choices"][0]["message"]["tool_calls"]
    assert first["delta"]["role"] == "assistant"
    assert named == {"index": 0, "id": expected["id"], "type": "function",
                     "function": {"name": "get_weather", "arguments": ""}}  # fmt: skip
    # The arguments in several pieces, each with only the index and its fragment.
    pieces = [c["delta"]["tool_calls"] for c in middle]
    assert len(pieces) >= 2
    assert all(p == [{"index": 0, "function": {"arguments": p[0]["function"]["arguments"]}}]
               for p in pieces)  # fmt: skip
    arguments = "".join(p[0]["function"]["arguments"] for p in pieces)
    assert orjson.loads(arguments) == orjson.loads(expected["function"]["arguments"])
    assert (finish["delta"], finish["finish_reason"]) == ({}, "tool_calls")


async def test_json_mode_streams_the_same_document(start_emulator: StartEmulator) -> None:
    emulator = await start_emulator()
    prompt = body("weather as json", response_format={"type": "json_object"}, max_tokens=30)
    path = "/v1/chat/completions"
    whole = (await post(emulator, path, prompt, AUTH)).json()
    frames = frames_of(await post(emulator, path, {**prompt, "stream": True}, AUTH))
    assert frames.pop() == b"data: [DONE]"
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks_of(frames))
    assert text == whole["choices"][0]["message"]["content"]
    assert set(orjson.loads(text)) == {"answer"}


@pytest.mark.parametrize(
    "change",
    [
        {"stream_options": {"include_usage": True}},  # without stream
        {"stream": "yes"},
        {"stream": True, "stream_options": {"include_usage": 1}},
        {"stream": True, "stream_options": {"include_ussage": True}},
        {"stream": True, "stream_options": [True]},
    ],
)
async def test_stream_fields_are_checked(
    start_emulator: StartEmulator, change: dict[str, Any]
) -> None:
    emulator = await start_emulator()
    response = await post(emulator, "/v1/chat/completions", body("hi", **change), AUTH)
    assert response.status_code == 400
    error = ErrorObject.model_validate(response.json()["error"])
    assert error.param is not None and error.param.startswith("stream")


def sdk_client(emulator: RunningEmulator, dialect: str) -> openai.AsyncOpenAI:
    if dialect == "azure":
        return openai.AsyncAzureOpenAI(
            azure_endpoint=emulator.base_url, api_version="2024-10-21", api_key="k", max_retries=0
        )
    return openai.AsyncOpenAI(base_url=f"{emulator.base_url}/v1", api_key="test-key", max_retries=0)


@pytest.mark.parametrize("dialect", ["openai", "azure"])
async def test_sdk_streams_text_and_usage(start_emulator: StartEmulator, dialect: str) -> None:
    emulator = await start_emulator()
    client = sdk_client(emulator, dialect)
    messages: Any = [{"role": "user", "content": "name three rivers of Europe"}]
    try:
        whole = await client.chat.completions.create(model="gpt-emu", messages=messages)
        stream = await client.chat.completions.create(
            model="gpt-emu",
            messages=messages,
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [chunk async for chunk in stream]
    finally:
        await client.close()
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) >= 2
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == whole.choices[0].finish_reason == "stop"
    assert chunks[-1].usage is not None and whole.usage is not None
    assert chunks[-1].usage.completion_tokens == whole.usage.completion_tokens
    assert chunks[-1].usage.prompt_tokens == whole.usage.prompt_tokens


async def test_sdk_stream_helper_assembles_the_tool_call(start_emulator: StartEmulator) -> None:
    emulator = await start_emulator()
    client = sdk_client(emulator, "openai")
    messages: Any = [{"role": "user", "content": "what is the weather?"}]
    tools: Any = [WEATHER_TOOL]
    try:
        whole = await client.chat.completions.create(
            model="gpt-emu", messages=messages, tools=tools, tool_choice="required"
        )
        # The SDK's own accumulator: it joins the argument fragments by index.
        async with client.chat.completions.stream(
            model="gpt-emu",
            messages=messages,
            tools=tools,
            tool_choice="required",
            stream_options={"include_usage": True},
        ) as stream:
            final = await stream.get_final_completion()
    finally:
        await client.close()
    [expected] = whole.choices[0].message.tool_calls or []
    [streamed] = final.choices[0].message.tool_calls or []
    assert isinstance(expected, ChatCompletionMessageFunctionToolCall)
    assert (streamed.id, streamed.function.name) == (expected.id, expected.function.name)
    assert orjson.loads(streamed.function.arguments) == orjson.loads(expected.function.arguments)
    assert orjson.loads(streamed.function.arguments) == {"city": "example", "days": 1}
    assert final.choices[0].finish_reason == "tool_calls"
    assert final.usage is not None and whole.usage is not None
    assert final.usage.completion_tokens == whole.usage.completion_tokens


async def test_sdk_reads_perplexity_stream_without_done(start_emulator: StartEmulator) -> None:
    emulator = await start_emulator()
    client = openai.AsyncOpenAI(base_url=emulator.base_url, api_key="k", max_retries=0)
    messages: Any = [{"role": "user", "content": "latest news on rivers"}]
    try:
        whole = await client.chat.completions.create(model="sonar", messages=messages)
        stream = await client.chat.completions.create(model="sonar", messages=messages, stream=True)
        chunks = [chunk async for chunk in stream]
    finally:
        await client.close()
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text == whole.choices[0].message.content
    assert chunks[-1].usage == whole.usage
    assert (chunks[-1].model_extra or {})["citations"] == (whole.model_extra or {})["citations"]
