"""What a chaos run sees: outcomes on the topics, consumer lag, usage rows in the store."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

# Bad events carry a marker that survives into the dead letter's payload, so each one
# can be matched to its dead letter even when no request_id could be read from it.
_BAD_MARKER = re.compile(r"chaos-bad-(?:json|schema)-\d+")


@dataclass
class _Seen:
    kind: Literal["response", "dead_letter"]
    reason: str | None
    at: float


class Outcomes:
    """Every outcome seen, by the id of the event it answers, with when it was seen."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.by_id: defaultdict[str, list[_Seen]] = defaultdict(list)
        self.unattributed: list[dict[str, Any]] = []
        self.garbled = 0
        self.last_new_at = 0.0  # when an id last got its first outcome

    def record(self, kind: Literal["response", "dead_letter"], raw: bytes | None) -> None:
        try:
            data = orjson.loads(raw or b"")
        except orjson.JSONDecodeError:
            self.garbled += 1
            return
        rid = data.get("request_id")
        if kind == "dead_letter" and not (isinstance(rid, str) and rid.startswith("chaos-")):
            found = _BAD_MARKER.search(data.get("payload") or "")
            rid = found.group(0) if found else None
        if not isinstance(rid, str):
            self.unattributed.append(data)
            return
        reason = data.get("reason") if kind == "dead_letter" else None
        seen = _Seen(kind, reason, self.clock())
        if not self.by_id[rid]:
            self.last_new_at = seen.at
        self.by_id[rid].append(seen)


class OutcomeCollector:
    """Reads llm.responses and llm.dlq from the beginning for the whole run."""

    def __init__(self, bootstrap: str, responses: str, dlq: str, clock: Callable[[], float]):
        self.topics: dict[str, Literal["response", "dead_letter"]] = {
            responses: "response",
            dlq: "dead_letter",
        }
        self.outcomes = Outcomes(clock)
        self._consumer = AIOKafkaConsumer(
            responses, dlq, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
        )
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._consumer.start()
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            await self._poll()

    async def _poll(self) -> None:
        batches = await self._consumer.getmany(timeout_ms=200)
        for tp, messages in batches.items():
            for message in messages:
                self.outcomes.record(self.topics[tp.topic], message.value)

    async def catch_up(self, deadline_s: float = 60) -> None:
        """Stop reading in the background and read up to the current end of both topics."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        assigned = list(self._consumer.assignment())
        ends = await self._consumer.end_offsets(assigned)
        end = time.monotonic() + deadline_s
        while [tp for tp in assigned if await self._consumer.position(tp) < ends[tp]]:
            if time.monotonic() > end:
                raise TimeoutError(f"could not read the outcome topics to their end: {ends}")
            await self._poll()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._consumer.stop()


class Lag:
    """How far a consumer group's committed offsets are behind the end of some topics."""

    def __init__(self, bootstrap: str, group: str, topics: list[str], partitions: int) -> None:
        self.group = group
        self.tps = [TopicPartition(t, p) for t in topics for p in range(partitions)]
        self._admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        self._probe = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)

    async def start(self) -> None:
        await self._admin.start()
        await self._probe.start()

    async def total(self) -> int:
        ends = await self._probe.end_offsets(self.tps)
        committed = await self._admin.list_consumer_group_offsets(self.group, partitions=self.tps)
        # A partition the group never committed on reads as offset -1 (or is absent).
        done = {tp: max(0, committed[tp].offset) if tp in committed else 0 for tp in self.tps}
        return sum(max(0, ends[tp] - done[tp]) for tp in self.tps)

    async def stop(self) -> None:
        await self._probe.stop()
        await self._admin.close()


_COUNT_USAGE = """
import sys, orjson
from store.backends import EmbeddedBackend
store, db = EmbeddedBackend(sys.argv[1]), sys.argv[2]
q = lambda sql: store.query(sql.format(db=db))
tables = {r["name"] for r in q("SELECT name FROM system.tables WHERE database = '{db}'")}
out = {"tables": sorted(tables)}
if "usage" in tables:
    cols = {r["name"] for r in q(
        "SELECT name FROM system.columns WHERE database = '{db}' AND table = 'usage'")}
    out["call_id"] = "call_id" in cols
    out.update(q("SELECT count() AS rows, countIf(outcome = 'rejected') AS rejected"
                 " FROM {db}.usage")[0])
    out["outcomes"] = {r["outcome"]: int(r["n"]) for r in q(
        "SELECT outcome, count() AS n FROM {db}.usage GROUP BY outcome")}
    if "call_id" in cols:
        out.update(q("SELECT uniqExactIf(call_id, outcome NOT IN ('rejected', 'skipped'))"
                     " AS calls FROM {db}.usage")[0])
if "usage_dedup" in tables:
    out.update(q("SELECT count() AS dedup_rows,"
                 " countIf(outcome NOT IN ('rejected', 'skipped')) AS dedup_calls,"
                 " countIf(outcome IN ('success', 'error')) AS completed_calls,"
                 " countIf(outcome = 'interrupted') AS interrupted_calls"
                 " FROM {db}.usage_dedup")[0])
store.close()
print(orjson.dumps(out).decode())
"""


def count_usage(path: Path, database: str) -> dict[str, Any]:
    """Usage rows in the embedded store, read by a process of its own after the workers
    stopped (the engine lets one process hold the folder)."""
    done = subprocess.run(
        [sys.executable, "-c", _COUNT_USAGE, str(path), database],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode != 0:
        raise RuntimeError(f"counting usage rows in {path} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = orjson.loads(done.stdout.strip().splitlines()[-1])
    return result
