"""Helpers shared by the admission integration tests (budgets, alerts, rate limits)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import orjson
import yaml
from aiokafka import AIOKafkaConsumer, TopicPartition

from tests.integration.test_budgets import budget_config

# Topics the example config does not list, so derive_config leaves them at their shared
# defaults (llm.admission, ...): without this, tests of one broker session would read each
# other's tenant snapshots and alerts.
_ADMISSION_TOPICS = {
    "admission": "llm.admission",
    "admission_state": "llm.admission-state",
    "alerts": "llm.alerts",
}


def admission_config(tmp: Path, emulator_url: str, name: str, admission: dict[str, Any]) -> Path:
    """budget_config with the admission topics of this test alone."""
    path = budget_config(tmp, emulator_url, name, admission)
    data = yaml.safe_load(path.read_text())
    for key, default in _ADMISSION_TOPICS.items():
        data["topics"].setdefault(key, f"{name}.{default}")
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


class Record(NamedTuple):
    key: str
    value: Any
    at: float
    """The record's timestamp (the producer's clock when it was sent), epoch seconds."""


async def read_all(bootstrap: str, topic: str, partitions: int) -> list[Record]:
    """Every record of ``topic`` up to its end offsets at the time of the call."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        got: list[Record] = []
        for tp in tps:
            while await consumer.position(tp) < ends[tp]:
                for m in (await consumer.getmany(tp, timeout_ms=500)).get(tp, []):
                    key = (m.key or b"").decode()
                    got.append(Record(key, orjson.loads(m.value), m.timestamp / 1000))
        return got
    finally:
        await consumer.stop()
