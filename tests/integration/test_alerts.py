"""Rule alerts through the real broker, worker processes and the emulator
(docs/design/alerts.md): a model failing fires an error-rate alert on the alerts topic and
at a webhook; the worker is replaced while it fires; once the model recovers the new
worker resolves the same alert (its ``since``), and nothing fired twice."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiokafka import AIOKafkaProducer

from schemas.alerts import RuleAlert, alert_event
from schemas.config_loader import load_config
from tests.integration.budget_helpers import read_all
from tests.integration.harness import Emulator, Worker
from tests.integration.routing_helpers import FAST, MINI_UPSTREAM, routed_request, routes_config

pytestmark = pytest.mark.integration

SECRET = "Bearer alert-hook-secret"
ROUTE = {
    "name": "guarded",
    "by_name_only": True,
    "primary": "gpt-4o-mini",
    "fallbacks": ["claude-haiku"],
}
RULE = {
    "name": "model-errors",
    "metric": "error_rate",
    "by": "model",
    "window_s": 5,
    "threshold": 0.5,
    "min_calls": 3,
}
# Short cool-downs: once the model answers again its breaker lets traffic back at once.
BREAKER = {"cooldown_s": 1, "cooldown_max_s": 2, "probe_calls": 2}
KEY = "model-errors|model=gpt-4o-mini"


class Hooks:
    """The webhook receiver: what the workers POSTed."""

    def __init__(self) -> None:
        self.got: list[tuple[str | None, RuleAlert]] = []

    async def handle(self, request: web.Request) -> web.Response:
        alert = RuleAlert.from_bytes(await request.read())
        self.got.append((request.headers.get("Authorization"), alert))
        return web.Response(status=204)


@contextlib.asynccontextmanager
async def receiver() -> AsyncIterator[tuple[Hooks, str]]:
    hooks = Hooks()
    app = web.Application()
    app.router.add_post("/alerts", hooks.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    try:
        yield hooks, f"http://{host}:{port}/alerts"
    finally:
        await runner.cleanup()


async def traffic(bootstrap: str, topic: str, stop: asyncio.Event) -> int:
    """Ten requests a second to the guarded route until ``stop``; returns how many."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0)
    await producer.start()
    sent = 0
    try:
        for n in itertools.count():
            rid = f"al-{n}"
            await producer.send_and_wait(topic, routed_request(rid, "guarded"), key=rid.encode())
            sent += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.1)
            if stop.is_set():
                return sent
        raise AssertionError("unreachable")
    finally:
        await producer.stop()


async def rule_alerts(bootstrap: str, topic: str) -> list[RuleAlert]:
    records = await read_all(bootstrap, topic, 4)
    parsed = [alert_event.validate_python(r.value) for r in records]
    return [a for a in parsed if isinstance(a, RuleAlert)]


async def until(check: Callable[[], Any], deadline_s: float, what: str) -> Any:
    """Polls ``check`` (sync or async) until it returns something truthy."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        got = check()
        if asyncio.iscoroutine(got):
            got = await got
        if got:
            return got
        await asyncio.sleep(0.2)
    raise TimeoutError(f"gave up after {deadline_s}s waiting for {what}")


def errors_of(emulator: Emulator) -> int:
    counts = emulator.stats()["models"].get(MINI_UPSTREAM, {}).get("outcomes", {})
    return int(counts.get("error_500", 0))


async def test_error_rate_alert_fires_survives_a_restart_and_resolves(
    kafka_bootstrap: str, test_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALERT_HOOK_TOKEN", SECRET)
    emulator = Emulator(tmp_path, {"seed": 21, "default": FAST})
    boot = kafka_bootstrap
    async with receiver() as (hooks, hook_url):
        alerts_config = {
            "evaluate_interval_s": 0.5,
            "webhook": {"url": hook_url, "secret_env": "ALERT_HOOK_TOKEN", "timeout_s": 2},
            "rules": [RULE],
        }
        config = routes_config(
            tmp_path, emulator.url, test_name, [ROUTE], breaker=BREAKER, alerts=alerts_config
        )
        topics = load_config(config).topics
        # Workers start in threads: the webhook receiver runs on this loop meanwhile.
        first = await asyncio.to_thread(Worker, tmp_path, config, boot, "worker-1", "all")
        workers = [first]
        stop = asyncio.Event()
        sending = asyncio.create_task(traffic(boot, topics.requests, stop))
        try:

            async def on_topic(state: str) -> list[RuleAlert]:
                found = await rule_alerts(boot, topics.alerts)
                return [a for a in found if a.key == KEY and a.state == state]

            await asyncio.to_thread(emulator.fault, MINI_UPSTREAM, 500, 300)
            (fired,) = await until(lambda: on_topic("firing"), 60, "the firing alert")
            # Queued webhooks end with their worker (best effort): let this one arrive.
            await until(lambda: hooks.got, 30, "the firing webhook")

            # Replace the worker while the alert fires: the new one reads it back.
            assert await asyncio.to_thread(first.stop) == 0, first.process.log_text()[-3000:]
            second = await asyncio.to_thread(Worker, tmp_path, config, boot, "worker-2", "all")
            workers.append(second)
            await until(lambda: "1 alerts firing" in second.process.log_text(), 60, "recovery")
            # The new worker sees the model fail too (its monitor judges the same breach).
            seen = await asyncio.to_thread(errors_of, emulator)
            await until(
                lambda: asyncio.to_thread(lambda: errors_of(emulator) >= seen + 3),
                60,
                "failures seen by the new worker",
            )

            await asyncio.to_thread(emulator.fault, MINI_UPSTREAM, 500, 0.01)  # ends it
            (resolved,) = await until(lambda: on_topic("resolved"), 60, "the resolution")
            await until(lambda: len(hooks.got) >= 2, 30, "both webhooks")
            everything = await rule_alerts(boot, topics.alerts)
        finally:
            stop.set()
            sent = await sending
            for worker in workers:
                assert await asyncio.to_thread(worker.stop) == 0, worker.process.log_text()[-3000:]
            emulator.stop()

    assert (fired.value or 0) >= 0.5 and fired.samples >= 3, fired
    assert fired.dims == {"model": "gpt-4o-mini"} and fired.reason == "above_threshold"
    assert resolved.since == fired.since and resolved.at > fired.at
    assert resolved.reason == "below_threshold" and (resolved.value or 0) < 0.5, resolved
    # One firing and one resolution: the restart neither lost nor repeated the alert.
    assert [(a.state, a.since) for a in everything] == [
        ("firing", fired.since),
        ("resolved", fired.since),
    ], everything
    assert hooks.got == [(SECRET, fired), (SECRET, resolved)]
    for worker in workers:
        assert SECRET not in worker.process.log_text()
    print(
        f"\nerror-rate alert: fired at {fired.value:g} over {fired.samples} calls,"
        f" resolved after {(resolved.at - fired.at).total_seconds():.1f}s at"
        f" {resolved.value:g} over {resolved.samples} calls; {sent} requests sent"
    )
