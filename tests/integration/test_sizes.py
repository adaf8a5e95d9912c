"""Large requests against the real broker: answered up to the limit, dead-lettered above it."""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import MessageSizeTooLargeError

from schemas.config_loader import load_config
from streams.topics import MAX_MESSAGE_BYTES, message_limits
from tests.integration.harness import (
    Emulator,
    Worker,
    collect,
    gateway_config,
    request_event,
)

pytestmark = pytest.mark.integration

_RETENTION_MS = "3600000"


async def _topic_configs(bootstrap: str, names: list[str]) -> dict[str, dict[str, str]]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, name) for name in names]
        )
    finally:
        await admin.close()
    return {
        topic: {entry[0]: entry[1] for entry in entries}
        for response in described
        for _code, _message, _kind, topic, entries in response.resources
    }


async def _create_with_kafka_defaults(bootstrap: str, topic: str, partitions: int) -> None:
    # As docker-compose's init container or an operator would: no max.message.bytes.
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(topic, partitions, 1, topic_configs={"retention.ms": _RETENTION_MS})]
        )
    finally:
        await admin.close()


async def test_large_requests_are_answered_and_oversize_ones_dead_lettered(
    kafka_bootstrap: str, test_name: str, tmp_path: Path
) -> None:
    fast = {"latency": {"dist": "fixed", "ms": 5}}
    # ~225k tokens of text: the route's long-context model takes a million, as Gemini does.
    long_context = {**fast, "context_window": 1_048_576}
    emulator = Emulator(tmp_path, {"default": fast, "models": {"gemini-2.5-flash": long_context}})
    config_path = gateway_config(tmp_path, emulator.url, test_name)
    config = load_config(config_path)
    limits, names = config.limits, config.topics
    topics: dict[str, str] = yaml.safe_load(config_path.read_text())["topics"]
    await _create_with_kafka_defaults(kafka_bootstrap, names.requests, names.partitions)
    before = await _topic_configs(kafka_bootstrap, [names.requests])
    assert int(before[names.requests][MAX_MESSAGE_BYTES]) < limits.request_topic_bytes

    def images(request_id: str, count: int) -> bytes:
        image = {"type": "image", "media_type": "image/png", "data": ""}
        parts = [{"type": "text", "text": "What is in these pictures?"}] + [
            image | {"data": base64.b64encode(os.urandom(675_000)).decode()} for _ in range(count)
        ]
        return orjson.dumps(
            request_event(request_id, "", messages=[{"role": "user", "content": parts}])
        )

    # ~900 KB: a base64 image, and a long text; ~2.7 MB, past the clients' 1 MB defaults.
    answered = {
        "image-900k": images("image-900k", 1),
        "images-2.7m": images("images-2.7m", 3),
        "text-900k": orjson.dumps(
            request_event("text-900k", "Summarize: " + "the quick brown fox " * 47_000)
        ),
    } | {f"small-{i}": orjson.dumps(request_event(f"small-{i}", "hello")) for i in range(5)}
    too_large = orjson.dumps(
        request_event("too-large", "x" * (limits.max_request_bytes + 100_000), tenant="globex")
    )
    assert all(700_000 < len(answered[k]) < 1_000_000 for k in ("image-900k", "text-900k"))
    assert 2_000_000 < len(answered["images-2.7m"]) < limits.max_request_bytes
    assert limits.max_request_bytes < len(too_large) < limits.request_topic_bytes

    worker = Worker(tmp_path, config_path, kafka_bootstrap)
    # As the README tells upstream producers: allow the request topic's limit.
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka_bootstrap, max_request_size=limits.request_topic_bytes
    )
    await producer.start()
    try:
        after = await _topic_configs(kafka_bootstrap, list(message_limits(names, limits)))
        sends = [
            await producer.send(names.requests, value, key=key.encode())
            for key, value in [*answered.items(), ("too-large", too_large)]
        ]
        for sent in sends:
            await sent
        # Past the request topic's limit the caller's own send fails instead.
        with pytest.raises(MessageSizeTooLargeError):
            await producer.send(names.requests, b"x" * limits.request_topic_bytes, key=b"huge")

        def finished(got: dict[str, list[dict[str, Any]]]) -> bool:
            # One outcome per request, whichever topic: the asserts below say which went wrong.
            return sum(len(v) for v in got.values()) >= len(answered) + 1

        got = await collect(
            kafka_bootstrap, [topics["responses"], topics["dlq"]], finished, deadline_s=90
        )
    finally:
        await producer.stop()
        assert worker.stop() == 0, worker.process.log_text()[-3000:]
        emulator.stop()

    # The worker raised the existing topic's limit and kept its other settings.
    assert after[names.requests][MAX_MESSAGE_BYTES] == str(limits.request_topic_bytes)
    assert after[names.requests]["retention.ms"] == _RETENTION_MS
    for topic, size in message_limits(names, limits).items():
        assert after[topic][MAX_MESSAGE_BYTES] == str(size), topic

    assert sorted(r["request_id"] for r in got[topics["responses"]]) == sorted(answered)
    [letter] = got[topics["dlq"]]
    assert (letter["reason"], letter["stage"]) == ("request_too_large", "triage")
    assert (letter["request_id"], letter["tenant"]) == ("too-large", "globex")
    assert f"{len(too_large)} bytes" in letter["detail"]
    assert f"limit of {limits.max_request_bytes} bytes" in letter["detail"]
