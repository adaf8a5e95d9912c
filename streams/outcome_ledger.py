"""The outcome ledger: which request_ids already have a terminal outcome on the topics.

The outcome topics themselves are the state: a request is answered once its response or
dead letter (keyed by request_id) is on ``llm.responses`` or ``llm.dlq``. Every gateway
worker reads both topics' keys, all partitions, from ``horizon_s`` ago and then keeps
tailing them, so the ledger survives crashes and rebalances without a table of its own:
a restarted worker rebuilds it before its agents make any decision.

A worker *settles* an outcome through :meth:`OutcomeLedger.settle`: it claims the
request_id (refused when the id is answered or another task of this worker is publishing
an outcome for it), publishes, and marks the id answered once the broker has it. Stages
check :meth:`answered` before they call a provider or pass an event on. See
docs/design/delivery.md for the guarantee and its failure windows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from streams.topic_reader import partitions_of, tail

log = logging.getLogger(__name__)


class OutcomeLedger:
    def __init__(
        self, bootstrap: str, topics: Sequence[str], *, horizon_s: float, capacity: int
    ) -> None:
        self._bootstrap = bootstrap
        self._topics = list(topics)
        self.horizon_s = horizon_s
        self.capacity = capacity
        # request_id -> when it was first seen answered (monotonic seconds).
        self._answered: OrderedDict[str, float] = OrderedDict()
        self._claims: set[str] = set()
        self.ready = asyncio.Event()
        self._consumer: AIOKafkaConsumer | None = None
        self._tail: asyncio.Task[None] | None = None
        self.suppressed = 0

    # -- decisions -------------------------------------------------------------------

    def answered(self, request_id: str) -> bool:
        """True once an outcome is on the topics, or while this worker publishes one."""
        return request_id in self._answered or request_id in self._claims

    async def settle(self, request_id: str, publish: Awaitable[None]) -> bool:
        """Publish a terminal outcome unless the request already has one.

        Returns False (and does not publish) when the request is answered or another
        task is publishing its outcome; ``publish`` is then closed unawaited.
        """
        if request_id in self._answered or request_id in self._claims:
            self.suppressed += 1
            if asyncio.iscoroutine(publish):
                publish.close()
            return False
        self._claims.add(request_id)
        try:
            await publish
        finally:
            self._claims.discard(request_id)
        self._mark(request_id)
        return True

    def _mark(self, request_id: str) -> None:
        if request_id in self._answered:
            return
        now = time.monotonic()
        self._answered[request_id] = now
        while len(self._answered) > self.capacity:
            self._answered.popitem(last=False)
        oldest = next(iter(self._answered.values()))
        if now - oldest > self.horizon_s:
            cutoff = now - self.horizon_s
            while self._answered and next(iter(self._answered.values())) < cutoff:
                self._answered.popitem(last=False)

    def __len__(self) -> int:
        return len(self._answered)

    # -- reading the topics ----------------------------------------------------------

    async def start(self) -> None:
        """Assign every partition of the outcome topics, from ``horizon_s`` ago."""
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        await consumer.start()
        self._consumer = consumer
        tps = await partitions_of(self._bootstrap, self._topics)
        consumer.assign(tps)
        since_ms = int((time.time() - self.horizon_s) * 1000)
        starts = await consumer.offsets_for_times(dict.fromkeys(tps, since_ms))
        ends = await consumer.end_offsets(tps)
        for tp in tps:
            found = starts.get(tp)
            consumer.seek(tp, found.offset if found is not None else ends[tp])
        self._tail = asyncio.create_task(
            tail(consumer, ends, self.ready, self._on_record, describe=self._describe)
        )

    async def stop(self) -> None:
        if self._tail is not None:
            self._tail.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._tail
        if self._consumer is not None:
            await self._consumer.stop()

    def _on_record(self, tp: TopicPartition, record: Any) -> None:
        if record.key:
            self._mark(record.key.decode("utf-8", errors="replace"))

    def _describe(self) -> str:
        return f"outcome ledger ready: {len(self._answered)} answered request_ids"
