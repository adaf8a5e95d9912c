"""The dev broker starts, carries a message end to end, and leaves no process behind."""

from __future__ import annotations

import asyncio
import os

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from devtools.kafka import DevKafka
from schemas.config import TopicsConfig
from streams.topics import ensure_topics, topic_names

pytestmark = pytest.mark.integration


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_round_trip_then_stop() -> None:
    topics = TopicsConfig(requests="devkafka.smoke", partitions=2)
    topic = topics.requests
    with DevKafka() as kafka:
        pid, data_dir = kafka.pid, kafka.data_dir
        # The worker's own topic creation, twice: existing topics are not an error.
        await ensure_topics(kafka.bootstrap, topics)
        await ensure_topics(kafka.bootstrap, topics)
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka.bootstrap)
        await admin.start()
        try:
            described = await admin.describe_topics(topic_names(topics))
        finally:
            await admin.close()
        assert {t["topic"]: len(t["partitions"]) for t in described} == {
            name: 2 for name in topic_names(topics)
        }

        producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap)
        await producer.start()
        try:
            await producer.send_and_wait(topic, b"hello", key=b"k", partition=1)
        finally:
            await producer.stop()

        consumer = AIOKafkaConsumer(
            topic, bootstrap_servers=kafka.bootstrap, auto_offset_reset="earliest"
        )
        await consumer.start()
        try:
            record = await asyncio.wait_for(consumer.getone(), timeout=30)
        finally:
            await consumer.stop()
        assert (record.key, record.value, record.partition) == (b"k", b"hello", 1)

    assert not _alive(pid)
    assert not data_dir.exists()
