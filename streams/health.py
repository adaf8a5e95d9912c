"""Circuit breakers shared by the gateway workers through the compacted health topic.

Every worker keeps a :class:`policy.breaker.Breaker` per deployment and counts its own
calls. When one of its breakers changes state it publishes a :class:`HealthRecord`
(key: the deployment), and it tails the topic from the beginning, applying the states
other workers wrote: one worker seeing the failures opens the breaker for all of them,
within the tail's lag (docs/design/routing.md). Every ``publish_interval_s`` it also
restates each deployment it has called in the window, with its error rate and latency
average, so other workers (the ``fastest`` strategy) and ``routeyard health`` see them, and
so a transition whose publish failed reaches the others late rather than never.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import ValidationError

from policy.breaker import Breaker, Transition
from schemas.config import BreakerConfig
from schemas.health import BreakerState, HealthRecord
from streams.topic_reader import partitions_of, tail

log = logging.getLogger(__name__)

# Publishes one record to the health topic, keyed by its deployment; awaited.
HealthSender = Callable[[HealthRecord], Awaitable[None]]

_STOP_FLUSH_S = 5.0
_TOPIC_WAIT_S = 10.0


def worker_id() -> str:
    """Names the writer of a record: host, process and a nonce for boards in one process."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class HealthBoard:
    def __init__(
        self,
        bootstrap: str,
        topic: str,
        send: HealthSender,
        config: BreakerConfig,
        *,
        publish_interval_s: float = 5.0,
        writer: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._bootstrap = bootstrap
        self._topic = topic
        self._send = send
        self.config = config
        self.publish_interval_s = publish_interval_s
        self.writer = writer or worker_id()
        self._clock = clock
        self._breakers: dict[str, Breaker] = {}
        # deployment -> (latency EWMA in ms, epoch seconds) from another worker's record.
        self._remote_latency: dict[str, tuple[float, float]] = {}
        self._publishing: dict[str, asyncio.Task[None]] = {}
        self._again: set[str] = set()
        self.ready = asyncio.Event()
        self._consumer: AIOKafkaConsumer | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.published = 0
        self.publish_failures = 0
        self.applied = 0

    # -- the dispatcher's side -------------------------------------------------------

    def allow(self, deployment: str, now: float | None = None) -> bool:
        """May a call to ``deployment`` start? False while its breaker is open.

        A call allowed while half-open is a probe: end it with :meth:`record` or
        :meth:`release`.
        """
        return self.breaker(deployment).allow(self._now(now))

    def record(
        self, deployment: str, ok: bool, latency_ms: float | None = None, now: float | None = None
    ) -> None:
        """Count a call's result (``ok=False`` only for retryable failures).

        A state change is published in the background: the caller never waits on Kafka.
        """
        breaker = self.breaker(deployment)
        transition = breaker.record(ok, self._now(now), latency_ms)
        if transition is None:
            return
        if transition.state == "open":
            log.warning(
                "breaker of %s open for %gs: %s",
                deployment,
                transition.cooldown_s,
                breaker.reason,
            )
        else:
            log.info("breaker of %s %s: %s", deployment, transition.state, breaker.reason)
        self._publish(deployment)

    def release(self, deployment: str, now: float | None = None) -> None:
        """A call :meth:`allow` let through ended without a result (cancelled)."""
        self.breaker(deployment).release(self._now(now))

    def state(self, deployment: str, now: float | None = None) -> BreakerState:
        return self.breaker(deployment).state_at(self._now(now))

    def latency_ms(self, now: float | None = None) -> dict[str, float]:
        """Latency EWMA per deployment, for the ``fastest`` strategy.

        This worker's own average while it has a success in the window; else the more
        recent of its own and the last one another worker published.
        """
        at = self._now(now)
        fresh_after = at - self.config.window_s
        found: dict[str, tuple[float, float]] = dict(self._remote_latency)
        for deployment, breaker in self._breakers.items():
            if breaker.latency_ewma_ms is None or breaker.latency_at is None:
                continue
            mine = (breaker.latency_ewma_ms, breaker.latency_at)
            theirs = found.get(deployment)
            if breaker.latency_at > fresh_after or theirs is None or theirs[1] <= mine[1]:
                found[deployment] = mine
        return {deployment: ms for deployment, (ms, _) in found.items()}

    def snapshot(self, now: float | None = None) -> list[HealthRecord]:
        """This worker's view of every deployment it knows, sorted by deployment."""
        at = self._now(now)
        return [self._record_of(d, at) for d in sorted(self._breakers)]

    # -- sharing ---------------------------------------------------------------------

    def apply(self, record: HealthRecord) -> bool:
        """Take a record from the topic; returns whether the breaker changed state."""
        if record.written_by == self.writer:
            return False
        if record.latency_ewma_ms is not None:
            self._remote_latency[record.deployment] = (
                record.latency_ewma_ms,
                record.at.timestamp(),
            )
        transition = Transition(record.state, record.since, record.cooldown_s)
        if not self.breaker(record.deployment).apply(transition):
            return False
        self.applied += 1
        log.info(
            "breaker of %s %s, as %s saw it", record.deployment, record.state, record.written_by
        )
        return True

    def publish_stats(self, now: float | None = None) -> None:
        """Publish a record of each deployment this worker called within the window."""
        at = self._now(now)
        for deployment, breaker in self._breakers.items():
            if breaker.calls_in_window(at) > 0:
                self._publish(deployment)

    def _publish(self, deployment: str) -> None:
        # One publish per deployment at a time; a change meanwhile is sent after it, as
        # the state then, so the last record on the topic is the latest state.
        if deployment in self._publishing:
            self._again.add(deployment)
            return
        self._publishing[deployment] = asyncio.create_task(self._publish_loop(deployment))

    async def _publish_loop(self, deployment: str) -> None:
        try:
            while True:
                self._again.discard(deployment)
                record = self._record_of(deployment, self._clock())
                try:
                    await self._send(record)
                    self.published += 1
                except Exception as exc:
                    self.publish_failures += 1
                    log.warning(
                        "publishing the health of %s failed (the next periodic record"
                        " restates it): %r",
                        deployment,
                        exc,
                    )
                if deployment not in self._again:
                    return
        finally:
            self._publishing.pop(deployment, None)

    def _record_of(self, deployment: str, now: float) -> HealthRecord:
        breaker = self.breaker(deployment)
        transition = breaker.transition(now)
        return HealthRecord(
            deployment=deployment,
            state=transition.state,
            since=transition.since,
            cooldown_s=transition.cooldown_s,
            error_rate=breaker.error_rate(now),
            calls_in_window=breaker.calls_in_window(now),
            latency_ewma_ms=breaker.latency_ewma_ms,
            written_by=self.writer,
        )

    def breaker(self, deployment: str) -> Breaker:
        """The breaker of ``deployment`` (a closed one for a deployment not seen yet)."""
        found = self._breakers.get(deployment)
        if found is None:
            found = self._breakers[deployment] = Breaker(self.config)
        return found

    def _now(self, now: float | None) -> float:
        return self._clock() if now is None else now

    # -- reading the topic -----------------------------------------------------------

    async def start(self) -> None:
        """Assign every partition of the topic from the beginning; ``ready`` once caught up."""
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        await consumer.start()
        try:
            tps = [TopicPartition(self._topic, p) for p in await self._partitions()]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            ends = await consumer.end_offsets(tps)
        except BaseException:
            await consumer.stop()
            raise
        self._consumer = consumer
        self._tasks = [
            asyncio.create_task(
                tail(
                    consumer,
                    ends,
                    self.ready,
                    self._on_record,
                    describe=self._describe,
                    max_records=1000,
                )
            ),
            asyncio.create_task(self._tick()),
        ]

    async def _partitions(self) -> list[int]:
        # A topic created a moment ago may not be described yet: its metadata is spreading.
        deadline = time.monotonic() + _TOPIC_WAIT_S
        while True:
            try:
                return [tp.partition for tp in await partitions_of(self._bootstrap, [self._topic])]
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        # Let the last transitions reach the broker, but not hold a shutdown for long.
        pending = list(self._publishing.values())
        if pending:
            _, late = await asyncio.wait(pending, timeout=_STOP_FLUSH_S)
            for task in late:
                task.cancel()
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self.publish_interval_s)
            self.publish_stats()

    def _on_record(self, tp: TopicPartition, message: Any) -> None:
        record = _parse(tp, message.offset, message.value)
        if record is not None:
            self.apply(record)

    def _describe(self) -> str:
        return f"health board ready: {len(self._breakers)} deployments"


def _parse(tp: TopicPartition, offset: int, value: bytes | None) -> HealthRecord | None:
    if value is None:  # a tombstone: the deployment's history was deleted
        return None
    try:
        return HealthRecord.from_bytes(value)
    except ValidationError as exc:
        # Written by a newer or broken writer: its state reaches us again from the writer's
        # next periodic record, or the breakers decide on their own calls meanwhile.
        log.error("unreadable health record at %s@%d: %s", tp, offset, exc)
        return None


async def read_health(bootstrap: str, topic: str) -> dict[str, HealthRecord]:
    """The last record per deployment on ``topic``."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False
    )
    try:
        await consumer.start()
        tps = await partitions_of(bootstrap, [topic])
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        found: dict[str, HealthRecord] = {}
        found_in: dict[str, TopicPartition] = {}
        behind = {tp for tp in tps if ends[tp] > 0}
        while behind:
            batches = await consumer.getmany(*behind, timeout_ms=500, max_records=1000)
            for tp, messages in batches.items():
                for message in messages:
                    record = _parse(tp, message.offset, message.value)
                    if record is None:
                        continue
                    seen = found.get(record.deployment)
                    # Records of one deployment share a partition and arrive in order; the
                    # clock only decides between partitions (after a partition-count change).
                    if seen is None or found_in[record.deployment] == tp or record.at >= seen.at:
                        found[record.deployment] = record
                        found_in[record.deployment] = tp
            for tp in list(behind):
                if await consumer.position(tp) >= ends[tp]:
                    behind.discard(tp)
        return found
    finally:
        await consumer.stop()
