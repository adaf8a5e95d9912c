"""The official OpenAI SDK, unchanged, against `routeyard serve` + a worker + the emulator."""

from __future__ import annotations

import asyncio
import base64
import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
import yaml
from openai.types.chat import ChatCompletionToolParam

from devtools.stack import TEST_KEYS, FrontDoor
from tests.integration.harness import Emulator, Worker, collect, gateway_config

pytestmark = pytest.mark.integration

FAST = {"latency": {"dist": "lognormal", "median_ms": 20, "sigma": 0.3, "max_ms": 200}}
TOOL: ChatCompletionToolParam = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
            "required": ["city"],
        },
    },
}
# A 1x1 PNG.
PIXEL = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
    )
).decode()


@pytest.fixture(scope="module")
def stack(
    kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("front")
    emulator = Emulator(tmp, {"seed": 5, "default": FAST})
    started: list[Emulator | Worker | FrontDoor] = [emulator]
    try:
        name = f"front-{tmp.name[-6:]}"
        config = gateway_config(
            tmp,
            emulator.url,
            name,
            admission={
                "tenants": {
                    # One request a second, refused beyond: the SDK's RateLimitError.
                    "globex": {
                        "rate_limit": {
                            "requests_per_minute": 60,
                            "burst_s": 1,
                            "on_limit": "reject",
                        }
                    },
                }
            },
        )
        # derive_config set serve.listen and the test keys: add a short wait to them.
        data = yaml.safe_load(config.read_text())
        data["serve"]["request_timeout_s"] = 4
        config.write_text(yaml.safe_dump(data, sort_keys=False))
        started.append(Worker(tmp, config, kafka_bootstrap))
        front = FrontDoor(tmp, config, kafka_bootstrap)
        started.append(front)
        yield {
            "emulator": emulator,
            "front": front,
            "config": config,
            "data": data,
            "tmp": tmp,
            "bootstrap": kafka_bootstrap,
        }
    finally:
        # Also when a start-up failed: this module's processes outlive any one test.
        for part in reversed(started):
            part.stop()


def _client(stack: dict[str, Any], tenant: str = "acme") -> openai.OpenAI:
    return openai.OpenAI(base_url=stack["front"].url, api_key=TEST_KEYS[tenant], max_retries=0)


def test_plain_completion_with_auto_routing(stack: dict[str, Any]) -> None:
    done = _client(stack).chat.completions.create(
        model="auto", messages=[{"role": "user", "content": "caller-plain says hello"}]
    )
    assert "caller-plain" in (done.choices[0].message.content or "")
    assert done.choices[0].finish_reason == "stop"
    assert done.usage is not None and done.usage.completion_tokens > 0


def test_tools_json_mode_and_images(stack: dict[str, Any]) -> None:
    client = _client(stack)
    tools = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "what is the weather in Paris?"}],
        tools=[TOOL],
        tool_choice="required",
    )
    [call] = tools.choices[0].message.tool_calls or []
    assert call.type == "function"
    assert call.function.name == "get_weather"
    assert "city" in json.loads(call.function.arguments)
    assert tools.choices[0].finish_reason == "tool_calls"

    as_json = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "answer in JSON"}],
        response_format={"type": "json_object"},
    )
    assert isinstance(json.loads(as_json.choices[0].message.content or ""), dict)

    image = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "caller-image: what is in it?"},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PIXEL}"}},
                ],
            }
        ],
    )
    assert "caller-image" in (image.choices[0].message.content or "")


def test_streamed_text_ends_with_usage(stack: dict[str, Any]) -> None:
    chunks = list(
        _client(stack).chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "caller-stream tell me more"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "caller-stream" in text
    assert sum(1 for c in chunks if c.choices and c.choices[0].delta.content) >= 2
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens > 0


def test_streamed_tool_call(stack: dict[str, Any]) -> None:
    stream = _client(stack).chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "weather in Oslo?"}],
        tools=[TOOL],
        tool_choice="required",
        stream=True,
    )
    name, arguments = "", ""
    finish = None
    for chunk in stream:
        for delta_call in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
            name += (delta_call.function.name or "") if delta_call.function else ""
            arguments += (delta_call.function.arguments or "") if delta_call.function else ""
        if chunk.choices and chunk.choices[0].finish_reason:
            finish = chunk.choices[0].finish_reason
    assert name == "get_weather" and "city" in json.loads(arguments)
    assert finish == "tool_calls"


async def test_async_client_plain_and_streamed(stack: dict[str, Any]) -> None:
    client = openai.AsyncOpenAI(
        base_url=stack["front"].url, api_key=TEST_KEYS["acme"], max_retries=0
    )
    done = await client.chat.completions.create(
        model="default", messages=[{"role": "user", "content": "caller-async hi"}]
    )
    assert "caller-async" in (done.choices[0].message.content or "")
    stream = await client.chat.completions.create(
        model="default",
        messages=[{"role": "user", "content": "caller-async-stream hi"}],
        stream=True,
    )
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert "caller-async-stream" in text
    await client.close()


def test_errors_come_as_the_sdk_expects(stack: dict[str, Any]) -> None:
    bad = openai.OpenAI(base_url=stack["front"].url, api_key="sk-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.chat.completions.create(model="auto", messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.NotFoundError):
        _client(stack).chat.completions.create(
            model="gpt-9", messages=[{"role": "user", "content": "x"}]
        )
    with pytest.raises(openai.BadRequestError):
        _client(stack).chat.completions.create(
            model="auto", messages=[{"role": "user", "content": "x"}], n=2
        )
    # globex may send one request a second; five at once cannot all pass.
    globex = _client(stack, "globex")
    outcomes = []
    for i in range(5):
        try:
            globex.chat.completions.create(
                model="auto", messages=[{"role": "user", "content": f"globex {i}"}]
            )
            outcomes.append("ok")
        except openai.RateLimitError as exc:
            outcomes.append("limited")
            assert exc.response.headers.get("retry-after")
    assert "limited" in outcomes


def test_models_are_listed(stack: dict[str, Any]) -> None:
    ids = {m.id for m in _client(stack).models.list()}
    assert {"auto", "default", "gpt-4o-mini", "claude-haiku"} <= ids


def test_a_cut_stream_is_an_error_never_a_clean_end(stack: dict[str, Any]) -> None:
    stack["emulator"].cut("claude-3-5-haiku-latest", after_frames=4, seconds=30)
    seen = []
    with pytest.raises(openai.APIError) as caught:
        for chunk in _client(stack).chat.completions.create(
            model="claude-haiku",
            messages=[{"role": "user", "content": "caller-cut tell me a long story please"}],
            stream=True,
        ):
            seen.append(chunk)
    assert "stream_interrupted" in str(caught.value)
    assert all(not c.choices or c.choices[0].finish_reason is None for c in seen)
    # The usage row says what happened to that call: an error, cut after its first delta.
    named = re.search(r"request_id (ry-[0-9a-f]+)", str(caught.value))
    assert named is not None, str(caught.value)
    request_id, usage = named.group(1), stack["data"]["topics"]["usage"]

    def cut_row(row: dict[str, Any]) -> bool:
        return bool(
            row["request_id"] == request_id
            and row["model"] == "claude-haiku"
            and row["error_kind"] == "stream_interrupted"
        )

    got = asyncio.run(
        collect(stack["bootstrap"], [usage], lambda g: any(map(cut_row, g[usage])), deadline_s=60)
    )
    [row] = [r for r in got[usage] if cut_row(r)]
    assert row["outcome"] == "error" and row["ttft_ms"] > 0


def test_a_hang_past_the_deadline_is_504_and_the_answer_lands_later(
    stack: dict[str, Any],
) -> None:
    stack["emulator"].latency("gpt-4o", 6000, seconds=30)
    with pytest.raises(openai.InternalServerError) as caught:
        _client(stack).chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "caller-late"}]
        )
    assert caught.value.status_code == 504
    request_id = caught.value.response.headers["x-request-id"]
    assert request_id in str(caught.value)
    topics = stack["data"]["topics"]
    got = asyncio.run(
        collect(
            stack["bootstrap"],
            [topics["responses"]],
            lambda g: any(r["request_id"] == request_id for r in g[topics["responses"]]),
            deadline_s=60,
        )
    )
    assert any(r["request_id"] == request_id for r in got[topics["responses"]])


def test_health_and_readiness(stack: dict[str, Any]) -> None:
    base = stack["front"].base_url
    assert httpx.get(f"{base}/healthz", timeout=10).json() == {"status": "ok"}
    ready = httpx.get(f"{base}/readyz", timeout=10)
    assert ready.status_code == 200, ready.text  # Kafka answers, a worker is in the group
    assert ready.json() == {"status": "ready"}
