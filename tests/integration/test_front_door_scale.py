"""Two `routeyard serve` instances on one pipeline, 500 concurrent callers through each:
every caller gets its own answer, none crossed between callers or instances, none lost."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx2
import openai
import pytest
import yaml

from devtools.stack import TEST_KEYS, FrontDoor, free_port
from tests.integration.harness import Emulator, Worker, gateway_config

pytestmark = pytest.mark.integration

FAST = {"latency": {"dist": "lognormal", "median_ms": 20, "sigma": 0.3, "max_ms": 200}}
INSTANCES = 2
PER_INSTANCE = 500
STREAMED = 100  # of each instance's callers; the rest ask for the whole answer
# The tag sits in brackets: the emulator truncates its echo mid-word, and a cut
# "caller-0-12" must not read as another caller's tag.
TAG = re.compile(r"<(caller-\d+-\d+)>")


@dataclass(frozen=True)
class Answer:
    tag: str
    request_id: str
    text: str
    streamed: bool


@pytest.fixture(scope="module")
def stack(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    """The base URLs of two front doors sharing one worker, one emulator and one config
    (apart from the port each listens on)."""
    tmp = tmp_path_factory.mktemp("scale")
    emulator = Emulator(tmp, {"seed": 11, "default": FAST})
    config = gateway_config(tmp, emulator.url, f"scale-{tmp.name[-6:]}")
    data = yaml.safe_load(config.read_text())
    data["serve"]["listen"] = f"127.0.0.1:{free_port()}"
    second = tmp / "routeyard-second.yaml"
    second.write_text(yaml.safe_dump(data, sort_keys=False))
    started: list[Any] = [emulator]
    try:
        started.append(Worker(tmp, config, kafka_bootstrap, role="all"))
        fronts = []
        for i, path in enumerate([config, second]):
            fronts.append(FrontDoor(tmp, path, kafka_bootstrap, tag=f"serve-{i}"))
            started.append(fronts[-1])  # stopped even if the next one fails to start
        assert len({f.url for f in fronts}) == INSTANCES
        yield [f.url for f in fronts]
    finally:
        for process in reversed(started):
            process.stop()


def _client(url: str) -> openai.AsyncOpenAI:
    # httpx2, not httpx: the SDK's client is built on it and takes only its Limits/Timeout.
    http = openai.DefaultAsyncHttpxClient(
        limits=httpx2.Limits(max_connections=600, max_keepalive_connections=600),
        # Connecting may wait on a full accept queue while 500 callers arrive at once.
        timeout=httpx2.Timeout(300, connect=60),
    )
    return openai.AsyncOpenAI(
        base_url=url, api_key=TEST_KEYS["acme"], max_retries=0, http_client=http
    )


async def _call(client: openai.AsyncOpenAI, instance: int, i: int) -> Answer:
    tag = f"caller-{instance}-{i}"
    messages: Any = [{"role": "user", "content": f"<{tag}> please answer me"}]
    streamed = i < STREAMED
    if streamed:
        raw_stream = await client.chat.completions.with_raw_response.create(
            model="auto", messages=messages, stream=True
        )
        headers = raw_stream.headers
        text, finish = "", None
        async for chunk in raw_stream.parse():
            if chunk.choices:
                text += chunk.choices[0].delta.content or ""
                finish = chunk.choices[0].finish_reason or finish
        assert finish == "stop", f"{tag}: the stream ended without a finish ({finish})"
    else:
        raw = await client.chat.completions.with_raw_response.create(
            model="auto", messages=messages
        )
        headers = raw.headers
        text = raw.parse().choices[0].message.content or ""
    return Answer(tag, headers["x-request-id"], text, streamed)


async def _load(urls: list[str]) -> tuple[list[Answer | BaseException], float]:
    clients = [_client(url) for url in urls]
    try:
        start = time.perf_counter()
        results = await asyncio.gather(
            *(
                _call(client, instance, i)
                for instance, client in enumerate(clients)
                for i in range(PER_INSTANCE)
            ),
            return_exceptions=True,
        )
        return results, time.perf_counter() - start
    finally:
        for client in clients:
            await client.close()


async def test_two_instances_500_concurrent_callers_each_get_their_own_answers(
    stack: list[str],
) -> None:
    results, wall_s = await _load(stack)
    failed = [r for r in results if isinstance(r, BaseException)]
    answers = [r for r in results if isinstance(r, Answer)]
    total = INSTANCES * PER_INSTANCE
    print(
        f"\nfront door scale: {total} requests ({INSTANCES * STREAMED} streamed) through"
        f" {INSTANCES} instances in {wall_s:.2f}s = {total / wall_s:.1f} req/s"
        f" ({len(failed)} failed)"
    )
    assert not failed, f"{len(failed)} callers failed, e.g. {failed[:3]!r}"
    assert len(answers) == total

    crossed = [a for a in answers if set(TAG.findall(a.text)) != {a.tag}]
    assert not crossed, (
        f"{len(crossed)} callers got another's or no answer, e.g. "
        f"{[(a.tag, a.text[:80]) for a in crossed[:3]]}"
    )
    assert {a.tag for a in answers} == {
        f"caller-{n}-{i}" for n in range(INSTANCES) for i in range(PER_INSTANCE)
    }
    assert sum(a.streamed for a in answers) == INSTANCES * STREAMED
    assert len({a.request_id for a in answers}) == total
