"""A lost request's trail, read from a real broker."""

from __future__ import annotations

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from devtools.chaos.trail import trail
from devtools.stack import publish

pytestmark = pytest.mark.integration


async def test_the_trail_names_each_event_of_the_id_and_whether_it_was_passed(
    kafka_bootstrap: str, test_name: str
) -> None:
    requests, admission = f"{test_name}.requests", f"{test_name}.admission"
    lost = {"request_id": "lost-1", "tenant": "acme", "messages": []}
    await publish(kafka_bootstrap, requests, [("lost-1", orjson.dumps(lost))])
    admit = {"kind": "admit", "request_id": "lost-1", "dispatch": {"attempt": 1}}
    other = {"kind": "admit", "request_id": "lost-10", "dispatch": {"attempt": 1}}
    await publish(kafka_bootstrap, admission, [("acme", orjson.dumps(other))])
    await publish(kafka_bootstrap, admission, [("acme", orjson.dumps(admit))])
    group = f"{test_name}-group"
    # The group has read the request topic (every partition) past the request.
    consumer = AIOKafkaConsumer(
        bootstrap_servers=kafka_bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        tps = [TopicPartition(requests, p) for p in range(1)]
        ends = await consumer.end_offsets(tps)
        consumer.assign(tps)
        await consumer.commit({tp: ends[tp] for tp in tps})
    finally:
        await consumer.stop()

    [line] = await trail(kafka_bootstrap, group, [requests, admission], 1, ["lost-1"])
    assert line.startswith("trail of lost-1: ")
    assert f"{requests}[0]@0 request (passed)" in line
    assert f"{admission}[0]@1 kind=admit,attempt=1 (not committed)" in line
    assert "@0 kind=admit" not in line.split(admission)[1]  # lost-10 is another id
