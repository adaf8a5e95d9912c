"""Where a lost request's events are: the trail a chaos run prints for each id that got
no outcome, so that a failed run says which stage held the request last."""

from __future__ import annotations

import time

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

# The events of every stage carry the request_id as JSON writes it (no spaces).
_MAX_IDS = 5


async def trail(
    bootstrap: str, group: str, topics: list[str], partitions: int, ids: list[str]
) -> list[str]:
    """One line per id (the first few): each event naming it, as topic[partition]@offset
    with the event's ``kind``/``outcome``/``attempt`` when it has one, and whether the
    group's committed offset has passed it."""
    wanted = {rid: f'"request_id":"{rid}"'.encode() for rid in ids[:_MAX_IDS]}
    tps = [TopicPartition(t, p) for t in topics for p in range(partitions)]
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await consumer.start()
    await admin.start()
    try:
        committed = await admin.list_consumer_group_offsets(group, partitions=tps)
        ends = await consumer.end_offsets(tps)
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        hits: dict[str, list[str]] = {rid: [] for rid in wanted}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            behind = [tp for tp in tps if await consumer.position(tp) < ends[tp]]
            if not behind:
                break
            for tp, messages in (await consumer.getmany(timeout_ms=500)).items():
                done = committed[tp].offset if tp in committed else -1
                for m in messages:
                    for rid, needle in wanted.items():
                        if needle in (m.value or b""):
                            mark = "passed" if m.offset < done else "not committed"
                            hits[rid].append(
                                f"{tp.topic}[{tp.partition}]@{m.offset} {_what(m.value)} ({mark})"
                            )
    finally:
        await consumer.stop()
        await admin.close()
    return [
        f"trail of {rid}: " + ("; ".join(found) or "no event names it")
        for rid, found in hits.items()
    ]


def _what(value: bytes | None) -> str:
    try:
        data = orjson.loads(value or b"")
    except orjson.JSONDecodeError:
        return "?"
    if not isinstance(data, dict):
        return "?"
    parts = [
        f"{k}={data[k]}" for k in ("kind", "outcome", "attempt", "candidate_index") if k in data
    ]
    if isinstance(data.get("dispatch"), dict):
        parts.append(f"attempt={data['dispatch'].get('attempt')}")
    return ",".join(parts) or "request"
