"""The outcome ledger against the real broker: rebuilt from the topics, kept current by
tailing them, bounded by its horizon, and one settled outcome per request_id."""

from __future__ import annotations

import asyncio
import time

import pytest
from aiokafka import AIOKafkaProducer

from schemas.config import TopicsConfig
from streams.outcome_ledger import OutcomeLedger
from streams.topics import ensure_topics

pytestmark = pytest.mark.integration


async def _send(bootstrap: str, topic: str, key: str, timestamp_ms: int | None = None) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"{}", key=key.encode(), timestamp_ms=timestamp_ms)
    finally:
        await producer.stop()


async def _until(check: object, deadline_s: float = 20) -> None:
    assert callable(check)
    async with asyncio.timeout(deadline_s):
        while not check():
            await asyncio.sleep(0.05)


@pytest.fixture
async def topics(kafka_bootstrap: str, test_name: str) -> TopicsConfig:
    names = TopicsConfig(
        responses=f"{test_name}.responses", dlq=f"{test_name}.dlq", partitions=3
    ).model_copy(
        update={
            "requests": f"{test_name}.requests",
            "dispatch": f"{test_name}.dispatch",
            "retry": f"{test_name}.retry",
            "usage": f"{test_name}.usage",
        }
    )
    await ensure_topics(kafka_bootstrap, names)
    return names


async def test_rebuilt_from_both_topics_then_kept_current(
    kafka_bootstrap: str, topics: TopicsConfig
) -> None:
    old_ms = int((time.time() - 7200) * 1000)
    await _send(kafka_bootstrap, topics.responses, "too-old", timestamp_ms=old_ms)
    await _send(kafka_bootstrap, topics.responses, "answered-1")
    await _send(kafka_bootstrap, topics.dlq, "dead-1")
    ledger = OutcomeLedger(
        kafka_bootstrap, [topics.responses, topics.dlq], horizon_s=3600, capacity=1000
    )
    await ledger.start()
    try:
        await asyncio.wait_for(ledger.ready.wait(), 30)
        assert ledger.answered("answered-1")
        assert ledger.answered("dead-1")
        assert not ledger.answered("too-old")  # before the horizon
        assert not ledger.answered("later")

        await _send(kafka_bootstrap, topics.responses, "later")
        await _until(lambda: ledger.answered("later"))
    finally:
        await ledger.stop()


async def test_settle_publishes_one_outcome_per_request(
    kafka_bootstrap: str, topics: TopicsConfig
) -> None:
    ledger = OutcomeLedger(
        kafka_bootstrap, [topics.responses, topics.dlq], horizon_s=3600, capacity=1000
    )
    await ledger.start()
    published: list[str] = []
    gate = asyncio.Event()

    async def publish(tag: str) -> None:
        await gate.wait()
        published.append(tag)

    try:
        await asyncio.wait_for(ledger.ready.wait(), 30)
        # Two copies of one request race to publish: the second is refused while the
        # first is still on its way, and a third after it landed.
        first = asyncio.create_task(ledger.settle("r-1", publish("first")))
        await asyncio.sleep(0)
        assert ledger.answered("r-1")  # claimed: no new provider call for it
        assert not await ledger.settle("r-1", publish("second"))
        gate.set()
        assert await first
        assert not await ledger.settle("r-1", publish("third"))
        assert published == ["first"]

        # A failed publish gives the claim back, so the request can still be answered.
        async def broken() -> None:
            raise ConnectionError("broker away")

        with pytest.raises(ConnectionError):
            await ledger.settle("r-2", broken())
        assert not ledger.answered("r-2")
        assert await ledger.settle("r-2", publish("retry"))
    finally:
        await ledger.stop()


async def test_capacity_bounds_memory(kafka_bootstrap: str, topics: TopicsConfig) -> None:
    ledger = OutcomeLedger(
        kafka_bootstrap, [topics.responses, topics.dlq], horizon_s=3600, capacity=3
    )
    await ledger.start()
    try:
        await asyncio.wait_for(ledger.ready.wait(), 30)

        async def nothing() -> None:
            return None

        for i in range(5):
            assert await ledger.settle(f"c-{i}", nothing())
        assert len(ledger) == 3
        assert not ledger.answered("c-0")
        assert ledger.answered("c-4")
    finally:
        await ledger.stop()
