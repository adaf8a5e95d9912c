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

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

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
        tps = await self._partitions()
        consumer.assign(tps)
        since_ms = int((time.time() - self.horizon_s) * 1000)
        starts = await consumer.offsets_for_times(dict.fromkeys(tps, since_ms))
        ends = await consumer.end_offsets(tps)
        for tp in tps:
            found = starts.get(tp)
            consumer.seek(tp, found.offset if found is not None else ends[tp])
        self._tail = asyncio.create_task(self._read(consumer, ends))

    async def _partitions(self) -> list[TopicPartition]:
        # A consumer without a subscription knows no partitions; the admin client does.
        admin = AIOKafkaAdminClient(bootstrap_servers=self._bootstrap)
        await admin.start()
        try:
            described = await admin.describe_topics(self._topics)
        finally:
            await admin.close()
        tps = [
            TopicPartition(topic["topic"], part["partition"])
            for topic in described
            for part in topic["partitions"]
        ]
        missing = set(self._topics) - {tp.topic for tp in tps}
        if missing:
            raise RuntimeError(f"outcome topics not found on the broker: {sorted(missing)}")
        return tps

    async def stop(self) -> None:
        if self._tail is not None:
            self._tail.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._tail
        if self._consumer is not None:
            await self._consumer.stop()

    async def _read(self, consumer: AIOKafkaConsumer, targets: dict[TopicPartition, int]) -> None:
        behind = {tp for tp, end in targets.items() if end > 0}
        t0 = time.monotonic()
        while True:
            if behind:
                for tp in list(behind):
                    if await consumer.position(tp) >= targets[tp]:
                        behind.discard(tp)
            if not behind and not self.ready.is_set():
                log.info(
                    "outcome ledger ready: %d answered request_ids in %.2fs",
                    len(self._answered),
                    time.monotonic() - t0,
                )
                self.ready.set()
            try:
                batches = await consumer.getmany(timeout_ms=500, max_records=5000)
            except Exception as exc:  # the client reconnects by itself; keep tailing
                log.warning("outcome ledger read failed, retrying: %r", exc)
                await asyncio.sleep(1.0)
                continue
            for messages in batches.values():
                for message in messages:
                    if message.key:
                        self._mark(message.key.decode("utf-8", errors="replace"))
