"""The alert monitor of the analytics process: rules over windows of the usage stream.

The usage sink hands it every decoded usage event (:meth:`AlertMonitor.observe`: sync,
a few dict updates); :meth:`AlertMonitor.run` evaluates the rules every
``alerts.evaluate_interval_s`` with :class:`policy.alerts.AlertEvaluator`, publishes each
transition to the alerts topic (awaited, retried until the broker has it) and queues its
webhook. Before its first evaluation it reads the alerts topic back, so a restart keeps
every firing alert paired with its resolution (docs/design/alerts.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import httpx
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError
from pydantic import ValidationError

from policy.alert_window import call_fact
from policy.alerts import AlertEvaluator
from schemas.alerts import RuleAlert, alert_event
from schemas.base import Event
from schemas.config import GatewayConfig
from schemas.events import UsageEvent
from streams.topic_reader import partitions_of
from streams.webhook import WebhookSender, webhook_secrets

log = logging.getLogger(__name__)

_MAX_BACKOFF_S = 30.0
# A failing observe logs its first failure and then one in this many.
_LOG_EVERY = 10_000


class AlertPublisher(Protocol):
    async def send(self, topic: str, event: Event, key: str | None) -> None: ...


class AlertMonitor:
    def __init__(
        self,
        config: GatewayConfig,
        publisher: AlertPublisher,
        bootstrap: str,
        *,
        clock: Callable[[], float] = time.time,
        env: Mapping[str, str] = os.environ,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        """Raises ConfigError when a webhook's secret env var is not set."""
        self.settings = config.alerts
        self.topic = config.topics.alerts
        self._publisher = publisher
        self._bootstrap = bootstrap
        self._clock = clock
        self.evaluator = AlertEvaluator(self.settings.rules, clock())
        self.webhooks = WebhookSender(webhook_secrets(self.settings, env), http)
        self.recovered = asyncio.Event()
        self._webhook_task: asyncio.Task[None] | None = None
        self.published = 0
        self.publish_failures = 0
        self.observe_failures = 0

    # -- the usage sink's side ---------------------------------------------------------

    def observe(self, event: UsageEvent) -> None:
        """Count a usage event in the rules' windows; never raises into the sink."""
        if not self.evaluator.rules:
            return
        try:
            fact = call_fact(event)
            if fact is not None:
                self.evaluator.observe(fact, self._clock())
        except Exception:
            # A fault in alerting must not turn valid usage rows into dead letters.
            self.observe_failures += 1
            if self.observe_failures % _LOG_EVERY == 1:
                log.exception(
                    "alert monitor could not count a usage event (%d so far)", self.observe_failures
                )

    # -- the loop ----------------------------------------------------------------------

    async def run(self) -> None:
        """Recover, then evaluate every ``evaluate_interval_s`` until cancelled."""
        if not self.evaluator.rules:
            return
        # Calls flow from now on; an empty window means something a window_s from here.
        self.evaluator.started_at = self._clock()
        await self.recover()
        self._webhook_task = asyncio.create_task(self.webhooks.run())
        while True:
            await self.tick()
            await asyncio.sleep(self.settings.evaluate_interval_s)

    async def tick(self) -> list[RuleAlert]:
        """One evaluation: its transitions, each published before this returns."""
        alerts = self.evaluator.evaluate(self._clock())
        for alert in alerts:
            await self._emit(alert)
        return alerts

    async def stop(self) -> None:
        """After the caller cancelled :meth:`run`: drop queued webhooks, close the client."""
        if self._webhook_task is not None:
            self._webhook_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._webhook_task
            self._webhook_task = None
        await self.webhooks.aclose()

    async def _emit(self, alert: RuleAlert) -> None:
        await self._publish(alert)
        level = logging.WARNING if alert.state == "firing" else logging.INFO
        value = "none" if alert.value is None else f"{alert.value:g}"
        log.log(
            level,
            "alert %s %s: %s of %s is %s (threshold %g, %d calls, %s)",
            alert.rule,
            alert.state,
            alert.metric,
            alert.key,
            value,
            alert.threshold,
            alert.samples,
            alert.reason,
        )
        rule = self.evaluator.rules.get(alert.rule)  # None: a rule_changed resolution
        hook = self.settings.webhook_for(rule) if rule is not None else self.settings.webhook
        if hook is not None:
            self.webhooks.submit(hook, alert.to_bytes(), f"{alert.state} {alert.key}")

    async def _publish(self, alert: RuleAlert) -> None:
        backoff = 0.5
        while True:
            try:
                await self._publisher.send(self.topic, alert, alert.key)
                self.published += 1
                return
            except Exception as exc:  # the broker's failures come in many types
                self.publish_failures += 1
                log.warning(
                    "publishing alert %s %s failed, retrying in %.1fs: %r",
                    alert.state,
                    alert.key,
                    backoff,
                    exc,
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, _MAX_BACKOFF_S)

    # -- restart -----------------------------------------------------------------------

    async def recover(self) -> None:
        """Take back the firing alerts from the topic (retried until it can be read)."""
        backoff = 0.5
        since = self._clock() - self.settings.recover_lookback_s
        while True:
            try:
                found = await read_rule_alerts(self._bootstrap, self.topic, since)
                break
            except (KafkaError, OSError, RuntimeError, TimeoutError) as exc:
                log.warning(
                    "reading %s to recover firing alerts failed, retrying in %.1fs: %r",
                    self.topic,
                    backoff,
                    exc,
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, _MAX_BACKOFF_S)
        for alert in self.evaluator.restore(found, self._clock()):
            await self._emit(alert)
        firing = sum(len(rule["firing"]) for rule in self.evaluator.state())
        log.info(
            "alert monitor ready: %d rules, %d alerts firing (read %d rule alerts from %s)",
            len(self.evaluator.rules),
            firing,
            len(found),
            self.topic,
        )
        self.recovered.set()

    # -- reading -----------------------------------------------------------------------

    def state(self) -> list[dict[str, Any]]:
        """Each rule with its firing and pending keys, JSON-able (the API's /api/alerts)."""
        return self.evaluator.state()

    def stats(self) -> dict[str, Any]:
        return {
            "recovered": self.recovered.is_set(),
            "observed": self.evaluator.observed,
            "duplicates": self.evaluator.duplicates,
            "observe_failures": self.observe_failures,
            "published": self.published,
            "publish_failures": self.publish_failures,
            "webhooks_delivered": self.webhooks.delivered,
            "webhooks_failed": self.webhooks.failed,
            "webhooks_dropped": self.webhooks.dropped,
        }


async def read_rule_alerts(bootstrap: str, topic: str, since: float) -> list[RuleAlert]:
    """The rule alerts on ``topic`` written from epoch ``since`` up to its end offsets.

    One key's events share a partition, so they come in the order they were written.
    Budget alerts and records that do not parse are skipped.
    """
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False
    )
    await consumer.start()
    try:
        tps = await partitions_of(bootstrap, [topic])
        consumer.assign(tps)
        starts = await consumer.offsets_for_times(dict.fromkeys(tps, int(since * 1000)))
        ends = await consumer.end_offsets(tps)
        for tp in tps:
            found = starts.get(tp)
            consumer.seek(tp, found.offset if found is not None else ends[tp])
        behind = {tp for tp in tps if await consumer.position(tp) < ends[tp]}
        alerts: list[RuleAlert] = []
        while behind:
            batches = await consumer.getmany(*behind, timeout_ms=500, max_records=1000)
            for tp, records in batches.items():
                for record in records:
                    alert = _parse(record.value, f"{tp.topic}[{tp.partition}]@{record.offset}")
                    if alert is not None:
                        alerts.append(alert)
            behind = {tp for tp in behind if await consumer.position(tp) < ends[tp]}
        return alerts
    finally:
        await consumer.stop()


def _parse(value: bytes | None, where: str) -> RuleAlert | None:
    if value is None:
        return None
    try:
        event = alert_event.validate_json(value)
    except ValidationError as exc:
        log.error("unreadable alert at %s: %s", where, exc)
        return None
    return event if isinstance(event, RuleAlert) else None
