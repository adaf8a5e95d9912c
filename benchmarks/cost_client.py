"""The gateway-cost benchmark's own Kafka client: one producer and one consumer for the
whole run.

A client that opens a producer per tick (benchmarks/pipeline_throughput.py through
devtools.stack.publish) spends its CPU on connections and metadata, not on requests, and
on a 2-core machine that CPU is taken from the worker being measured. Here both clients
start once; each set of fresh topics is followed by re-assigning the one consumer, and a
background reader stamps every response's arrival, so end-to-end latency is measured at
the client (send -> receive) with no per-request set-up in between.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from contextlib import suppress
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from devtools.stack import request_event

PROMPT = "hello, a short question"


class CostClient:
    """Sends requests and records, per request id, when its first response arrived."""

    def __init__(self, bootstrap: str) -> None:
        self._producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest"
        )
        self._reader: asyncio.Task[None] | None = None
        # request id -> (monotonic arrival, the gateway's own latency_ms)
        self.received: dict[str, tuple[float, float]] = {}
        self.sent_at: dict[str, float] = {}
        # The ids wait_all still lacks, and the event set when none is left.
        self._pending: set[str] = set()
        self._all_in = asyncio.Event()

    async def start(self) -> None:
        await self._producer.start()
        await self._consumer.start()

    async def stop(self) -> None:
        await self._stop_reader()
        await self._producer.stop()
        await self._consumer.stop()

    async def follow(self, topic: str, partitions: int) -> None:
        """Read ``topic`` (fresh, so from its beginning) in place of the one before."""
        await self._stop_reader()
        self._consumer.assign([TopicPartition(topic, p) for p in range(partitions)])
        await self._consumer.seek_to_beginning()
        self._reader = asyncio.create_task(self._read())

    async def _stop_reader(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None

    async def _read(self) -> None:
        while True:
            batches = await self._consumer.getmany(timeout_ms=200)
            now = time.monotonic()
            for messages in batches.values():
                for m in messages:
                    reply: dict[str, Any] = orjson.loads(m.value)
                    rid = reply["request_id"]
                    if rid not in self.received:
                        self.received[rid] = (now, float(reply.get("latency_ms", 0.0)))
                        self._pending.discard(rid)
            if not self._pending:
                self._all_in.set()

    async def burst(self, topic: str, ids: Sequence[str]) -> float:
        """Publish every request at once; returns the monotonic time of the first send."""
        started = time.monotonic()
        futures = []
        for rid in ids:
            self.sent_at[rid] = time.monotonic()
            futures.append(await self._send(topic, rid))
        await asyncio.gather(*futures)
        return started

    async def paced(self, topic: str, ids: Sequence[str], rate: float) -> float:
        """Publish request i at ``start + i / rate`` (sooner only when already late)."""
        started = time.monotonic()
        futures = []
        for i, rid in enumerate(ids):
            delay = started + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            self.sent_at[rid] = time.monotonic()
            futures.append(await self._send(topic, rid))
        await asyncio.gather(*futures)
        return started

    async def _send(self, topic: str, rid: str) -> asyncio.Future[Any]:
        value = orjson.dumps(request_event(rid, PROMPT))
        future: asyncio.Future[Any] = await self._producer.send(topic, value, key=rid.encode())
        return future

    async def wait_all(self, ids: Sequence[str], deadline_s: float) -> float:
        """Until every id has a response; returns the monotonic time the last one arrived."""
        self._pending = {rid for rid in ids if rid not in self.received}
        self._all_in.clear()
        if self._pending:
            try:
                await asyncio.wait_for(self._all_in.wait(), deadline_s)
            except TimeoutError as exc:
                missing = len(self._pending)
                raise TimeoutError(f"{missing} of {len(ids)} responses missing") from exc
        return max(self.received[rid][0] for rid in ids)
