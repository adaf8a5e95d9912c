"""Reading topics outside the consumer group: finding their partitions, and tailing them.

The outcome ledger, the health board and the tenant states read topics with plain
aiokafka consumers (no group: each worker reads what it needs whatever the group assigns
it). They share how a topic's partitions are found and how a reader catches up with the
end offsets it was given, says so once, and then keeps tailing through broker hiccups.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

log = logging.getLogger(__name__)

# Called for every record read: its partition and the aiokafka record.
OnRecord = Callable[[TopicPartition, Any], None]


async def partitions_of(bootstrap: str, topics: Sequence[str]) -> list[TopicPartition]:
    """Every partition of ``topics``; raises RuntimeError naming any topic not found."""
    # A consumer without a subscription knows no partitions; the admin client does.
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics(list(topics))
    finally:
        await admin.close()
    tps = [
        TopicPartition(topic["topic"], part["partition"])
        for topic in described
        for part in topic["partitions"]
    ]
    missing = set(topics) - {tp.topic for tp in tps}
    if missing:
        raise RuntimeError(f"topics not found on the broker: {sorted(missing)}")
    return sorted(tps, key=lambda tp: (tp.topic, tp.partition))


async def tail(
    consumer: AIOKafkaConsumer,
    targets: dict[TopicPartition, int],
    ready: asyncio.Event,
    on_record: OnRecord,
    *,
    describe: Callable[[], str],
    max_records: int = 5000,
) -> None:
    """Read until cancelled; set ``ready`` once every partition reached its target offset.

    ``describe`` says what was loaded, for the one log line at ``ready``.
    """
    behind = {tp for tp, end in targets.items() if end > 0}
    topics = sorted({tp.topic for tp in targets})
    t0 = time.monotonic()
    while True:
        if behind:
            for tp in list(behind):
                if await consumer.position(tp) >= targets[tp]:
                    behind.discard(tp)
        if not behind and not ready.is_set():
            log.info("%s in %.2fs", describe(), time.monotonic() - t0)
            ready.set()
        try:
            batches = await consumer.getmany(timeout_ms=500, max_records=max_records)
        except Exception as exc:  # the client reconnects by itself; keep tailing
            log.warning("reading %s failed, retrying: %r", topics, exc)
            await asyncio.sleep(1.0)
            continue
        for tp, records in batches.items():
            for record in records:
                on_record(tp, record)


async def read_at(bootstrap: str, topic: str, partition: int, offset: int) -> bytes | None:
    """The value at ``offset`` of one partition; None when it was deleted or compacted away
    (the first record at or after ``offset`` is another one)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False
    )
    tp = TopicPartition(topic, partition)
    try:
        await consumer.start()
        consumer.assign([tp])
        consumer.seek(tp, offset)
        for _ in range(20):  # bounded: a present record arrives in the first fetch or two
            batch = await consumer.getmany(tp, timeout_ms=500, max_records=1)
            for record in batch.get(tp, []):
                return record.value if record.offset == offset else None
        return None
    finally:
        await consumer.stop()


async def read_compacted(
    bootstrap: str, topic: str, partitions: Iterable[int]
) -> dict[int, dict[str, bytes]]:
    """The last value per key on each partition of a compacted topic, read from the
    beginning to the end offset at the start (a tombstone removes its key)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False
    )
    try:
        await consumer.start()
        tps = [TopicPartition(topic, p) for p in partitions]
        result: dict[int, dict[str, bytes]] = {tp.partition: {} for tp in tps}
        if not tps:
            return result
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        behind = {tp for tp in tps if ends[tp] > 0}
        while behind:
            batches = await consumer.getmany(*behind, timeout_ms=500, max_records=5000)
            for tp, messages in batches.items():
                records = result[tp.partition]
                for message in messages:
                    if message.key is None:
                        continue
                    key = message.key.decode()
                    if message.value is None:
                        records.pop(key, None)
                    else:
                        records[key] = message.value
            for tp in list(behind):
                if await consumer.position(tp) >= ends[tp]:
                    behind.discard(tp)
        return result
    finally:
        await consumer.stop()
