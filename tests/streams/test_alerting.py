"""The alert monitor without a broker: usage events in, a transition published (retried
through a broker error, keyed by rule and key) and delivered to a real local webhook.
Reading the alerts topic back after a restart: tests/integration/test_alerts.py."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

import pytest
import yaml

from schemas.alerts import RuleAlert
from schemas.config import GatewayConfig
from schemas.config_loader import ConfigError, parse_config
from schemas.events import UsageEvent, UsageOutcome
from streams.alerting import AlertMonitor
from tests.paths import EXAMPLE_CONFIG
from tests.streams.recording import RecordingPublisher
from tests.streams.test_webhook import PATH_TOKEN, Receiver, receiver  # noqa: F401

T0 = 1_700_000_040.0
TOPIC = "llm.alerts"


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def config_with(alerts: dict[str, Any]) -> GatewayConfig:
    data = yaml.safe_load(EXAMPLE_CONFIG.read_text())
    data["alerts"] = alerts
    return parse_config(yaml.safe_dump(data), "test.yaml", env={})


RULE = {
    "name": "errors",
    "metric": "error_rate",
    "by": "model",
    "window_s": 30,
    "threshold": 0.5,
    "min_calls": 4,
}


def usage(n: int, outcome: UsageOutcome, call_id: str | None = None) -> UsageEvent:
    return UsageEvent(
        request_id=f"r{n}",
        attempt=1,
        call_id=call_id or f"c{n}",
        tenant="acme",
        route="default",
        model="gpt-4o-mini",
        provider="openai",
        upstream_model="gpt-4o-mini",
        outcome=outcome,
        latency_ms=20.0,
        started_at=datetime.fromtimestamp(T0 - 1, UTC),
    )


async def test_a_firing_is_published_through_a_broker_error_and_reaches_the_webhook(
    receiver: Receiver,  # noqa: F811
) -> None:
    url = f"{receiver.url}/hook/{PATH_TOKEN}"
    config = config_with({"rules": [RULE], "webhook": {"url": url, "secret_env": "HOOK"}})
    publisher = RecordingPublisher()
    publisher.failures[TOPIC] = 1
    monitor = AlertMonitor(config, publisher, "unused:9092", clock=Clock(), env={"HOOK": "tok"})
    delivering = asyncio.create_task(monitor.webhooks.run())
    try:
        for n in range(3):
            monitor.observe(usage(n, "error"))
            monitor.observe(usage(n, "started"))  # says nothing yet
            monitor.observe(usage(n, "error"))  # delivered twice: counted once
        monitor.observe(usage(3, "skipped"))  # no call was made
        assert await monitor.tick() == []  # three calls: under min_calls
        monitor.observe(usage(4, "success"))
        monitor.observe(usage(5, "error"))
        (alert,) = await monitor.tick()
        await asyncio.wait_for(monitor.webhooks.join(), 10)
    finally:
        delivering.cancel()
        await monitor.stop()
    assert (alert.state, alert.value, alert.samples) == ("firing", 0.8, 5)
    assert publisher.sent == [(TOPIC, alert, "errors|model=gpt-4o-mini")]
    assert monitor.publish_failures == 1 and monitor.published == 1
    ((headers, body),) = receiver.seen
    assert headers["Authorization"] == "tok"
    assert RuleAlert.from_bytes(body) == alert
    (rule,) = monitor.state()
    assert rule["firing"] == [
        {
            "dims": {"model": "gpt-4o-mini"},
            "value": 0.8,
            "samples": 5,
            "since": "2023-11-14T22:14:00Z",
        }
    ]
    stats = monitor.stats()
    assert stats["observed"] == 5 and stats["duplicates"] == 3
    assert stats["webhooks_delivered"] == 1


async def test_a_fault_in_alerting_never_reaches_the_usage_sink(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monitor = AlertMonitor(config_with({"rules": [RULE]}), RecordingPublisher(), "unused:9092")

    def broken(*args: Any) -> bool:
        raise ArithmeticError("a bug in the evaluator")

    monkeypatch.setattr(monitor.evaluator, "observe", broken)
    with caplog.at_level(logging.ERROR):
        monitor.observe(usage(1, "error"))
        monitor.observe(usage(2, "error"))
    assert monitor.observe_failures == 2
    assert caplog.text.count("could not count a usage event") == 1  # not once per event
    await monitor.stop()


async def test_without_rules_the_monitor_does_nothing() -> None:
    publisher = RecordingPublisher()
    monitor = AlertMonitor(config_with({}), publisher, "unused:9092")
    monitor.observe(usage(1, "error"))
    await asyncio.wait_for(monitor.run(), 1)  # returns at once: nothing to recover or judge
    assert monitor.state() == [] and publisher.sent == []
    await monitor.stop()


def test_a_webhook_secret_missing_from_the_env_stops_start_up() -> None:
    hook = {"url": "https://hooks.example.com/x", "secret_env": "ALERT_HOOK_TOKEN"}
    config = config_with({"rules": [RULE], "webhook": hook})
    with pytest.raises(ConfigError) as info:
        AlertMonitor(config, RecordingPublisher(), "unused:9092", env={})
    assert "alerts.webhook.secret_env: environment variable ALERT_HOOK_TOKEN" in str(info.value)
