"""Two health boards against the real broker: a transition one worker publishes is applied
by the other within a deadline, latency figures travel, a board started later catches up
from the compacted topic, and ``routeyard health`` reads it."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from schemas.config import BreakerConfig, TopicsConfig
from schemas.config_loader import load_config
from schemas.health import HealthRecord, deployment_key
from streams.health import HealthBoard, HealthSender, read_health
from streams.topics import ensure_topics
from tests.integration.harness import gateway_config

pytestmark = pytest.mark.integration

# Deployments of models in the example config, so the command's rows name their models.
MINI = deployment_key("openai", "gpt-4o-mini")
HAIKU = deployment_key("anthropic", "claude-3-5-haiku-latest")
SONNET = deployment_key("anthropic", "claude-sonnet-4-5")
CONFIG = BreakerConfig(consecutive_failures=3, cooldown_s=1.0, probe_calls=1)
# Tens of ms are expected (routing.md); the deadline leaves room for a loaded CI machine.
PROPAGATION_DEADLINE_S = 5.0


async def _until(check: Callable[[], bool], deadline_s: float = PROPAGATION_DEADLINE_S) -> float:
    t0 = time.monotonic()
    async with asyncio.timeout(deadline_s):
        while not check():
            await asyncio.sleep(0.002)
    return time.monotonic() - t0


@pytest.fixture
async def topics(kafka_bootstrap: str, test_name: str) -> TopicsConfig:
    names = TopicsConfig.model_validate(
        {
            key: f"{test_name}.{value}" if isinstance(value, str) else value
            for key, value in TopicsConfig().model_dump().items()
        }
    )
    await ensure_topics(kafka_bootstrap, names)
    return names


@pytest.fixture
async def send(kafka_bootstrap: str, topics: TopicsConfig) -> AsyncIterator[HealthSender]:
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, linger_ms=0)
    await producer.start()

    async def publish(record: HealthRecord) -> None:
        await producer.send_and_wait(
            topics.health, record.to_bytes(), key=record.deployment.encode()
        )

    try:
        yield publish
    finally:
        await producer.stop()


async def test_ensure_topics_creates_the_health_topic_compacted(
    kafka_bootstrap: str, topics: TopicsConfig
) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        (response,) = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topics.health)]
        )
    finally:
        await admin.close()
    ((_code, _msg, _kind, _topic, entries),) = response.resources
    settings = {entry[0]: entry[1] for entry in entries}
    assert settings["cleanup.policy"] == "compact"
    assert settings["segment.ms"] == "60000"


async def test_a_transition_of_one_board_is_applied_by_the_other(
    kafka_bootstrap: str, topics: TopicsConfig, send: HealthSender, tmp_path: Path
) -> None:
    a = HealthBoard(kafka_bootstrap, topics.health, send, CONFIG, publish_interval_s=0.5)
    b = HealthBoard(kafka_bootstrap, topics.health, send, CONFIG, publish_interval_s=0.5)
    late: HealthBoard | None = None
    await a.start()
    await b.start()
    try:
        await asyncio.wait_for(asyncio.gather(a.ready.wait(), b.ready.wait()), 30)

        # Worker A sees the failures and opens; B has seen none and follows.
        for _ in range(CONFIG.consecutive_failures):
            assert a.allow(MINI)
            a.record(MINI, False)
        assert not a.allow(MINI)
        assert b.allow(MINI)
        opened_lag = await _until(lambda: b.state(MINI) == "open")
        assert b.breaker(MINI).opened_at == a.breaker(MINI).opened_at
        assert not b.allow(MINI)

        # Both go half-open at the same moment; B's probe succeeds and A follows the close.
        await _until(lambda: a.state(MINI) == "half_open" and b.state(MINI) == "half_open")
        assert b.allow(MINI)
        b.record(MINI, True, latency_ms=300)
        closed_lag = await _until(lambda: a.state(MINI) == "closed")
        assert a.allow(MINI)

        # Latency one worker measures reaches the other through the periodic record.
        for _ in range(5):
            b.record(HAIKU, True, latency_ms=250)
        await _until(lambda: HAIKU in a.latency_ms())
        assert a.latency_ms()[HAIKU] == pytest.approx(250)

        # A board started now reads the state from the topic before it is ready.
        for _ in range(CONFIG.consecutive_failures):
            a.record(SONNET, False)
        await _until(lambda: b.state(SONNET) == "open")
        late = HealthBoard(kafka_bootstrap, topics.health, send, CONFIG)
        await late.start()
        await asyncio.wait_for(late.ready.wait(), 30)
        assert late.state(SONNET) in ("open", "half_open")
        assert late.breaker(SONNET).opened_at == a.breaker(SONNET).opened_at
        assert late.state(MINI) == "closed"
        print(f"\nopen applied by the other board in {opened_lag * 1000:.0f} ms,")
        print(f"close in {closed_lag * 1000:.0f} ms")
        assert opened_lag < PROPAGATION_DEADLINE_S and closed_lag < PROPAGATION_DEADLINE_S
    finally:
        for board in (a, b, late):
            if board is not None:
                await board.stop()

    found = await read_health(kafka_bootstrap, topics.health)
    assert found[SONNET].state == "open" and found[SONNET].written_by == a.writer
    assert found[HAIKU].latency_ewma_ms == pytest.approx(250)
    assert found[MINI].state == "closed"

    path = gateway_config(tmp_path, "http://127.0.0.1:1", "health", topics=topics.model_dump())
    assert load_config(path).topics.health == topics.health
    argv = ["health", "--config", str(path), "--bootstrap", kafka_bootstrap, "--format", "json"]
    result = subprocess.run(
        [sys.executable, "-m", "routeyard.cli", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    rows = {row["deployment"]: row for row in orjson.loads(result.stdout)}
    assert rows[SONNET]["state"] in ("open", "half_open")
    assert rows[SONNET]["models"] == ["claude-sonnet"]
    assert rows[HAIKU]["latency_ewma_ms"] == pytest.approx(250)
    assert rows[MINI]["state"] == "closed" and rows[MINI]["models"] == ["gpt-4o-mini"]
