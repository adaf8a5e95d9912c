"""Webhook delivery against a real HTTP server on 127.0.0.1: retries, backoff, timeouts,
statuses no retry can fix, order through the queue, and secrets kept out of the logs."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from schemas.alerts import AlertsConfig, WebhookConfig
from schemas.config_loader import ConfigError
from streams.webhook import WebhookSender, webhook_secrets

SECRET = "Bearer s3cret-value-never-logged"
PATH_TOKEN = "T0KEN-in-the-path"


@dataclass
class Receiver:
    """A webhook receiver: answers ``fail_first`` requests with ``status``, then 200."""

    fail_first: int = 0
    status: int = 503
    seen: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    url: str = ""

    async def hook(self, request: web.Request) -> web.Response:
        self.seen.append((dict(request.headers), await request.read()))
        if len(self.seen) <= self.fail_first:
            return web.Response(status=self.status)
        return web.Response(status=200)

    async def hang(self, request: web.Request) -> web.Response:
        self.seen.append((dict(request.headers), await request.read()))
        await asyncio.Event().wait()  # never answers; cancelled when the client gives up
        raise AssertionError("unreachable")


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    got = Receiver()
    app = web.Application()
    app.router.add_post(f"/hook/{PATH_TOKEN}", got.hook)
    app.router.add_post("/hang", got.hang)
    runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    got.url = f"http://{host}:{port}"
    try:
        yield got
    finally:
        await runner.cleanup()


class Sleeps:
    """Records the backoff asked for; waits no time, so the test does not wait for luck."""

    def __init__(self) -> None:
        self.asked: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.asked.append(seconds)


def hook(url: str, **over: Any) -> WebhookConfig:
    fields: dict[str, Any] = {"url": url, "secret_header": "Authorization", "secret_env": "HOOK"}
    return WebhookConfig.model_validate({**fields, **over})


def sender(sleeps: Sleeps | None = None, **kw: Any) -> WebhookSender:
    return WebhookSender({"HOOK": SECRET}, sleep=sleeps or Sleeps(), **kw)


async def test_a_failing_receiver_gets_it_on_a_later_try_with_the_secret_header(
    receiver: Receiver,
) -> None:
    receiver.fail_first = 3
    sleeps = Sleeps()
    send = sender(sleeps)
    config = hook(
        f"{receiver.url}/hook/{PATH_TOKEN}", max_attempts=4, backoff_initial_s=1, backoff_max_s=1.5
    )
    try:
        assert await send.deliver(config, b'{"state":"firing"}', "firing errors|model=m1")
    finally:
        await send.aclose()
    assert len(receiver.seen) == 4
    for headers, body in receiver.seen:
        assert headers["Authorization"] == SECRET
        assert headers["Content-Type"] == "application/json"
        assert body == b'{"state":"firing"}'
    assert sleeps.asked == [1, 1.5, 1.5]  # doubling, capped at backoff_max_s
    assert (send.attempts, send.delivered, send.failed) == (4, 1, 0)


async def test_retries_are_bounded_and_the_logs_keep_the_secrets(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.fail_first = 100
    send = sender()
    caplog.set_level(logging.DEBUG)
    try:
        ok = await send.deliver(hook(f"{receiver.url}/hook/{PATH_TOKEN}"), b"{}", "firing k")
    finally:
        await send.aclose()
    assert not ok
    assert len(receiver.seen) == 3  # max_attempts' default
    assert (send.attempts, send.delivered, send.failed) == (3, 0, 1)
    # httpx's own INFO line names the URL; the worker sets httpx to WARNING (routeyard/cli.py).
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name == "streams.webhook")
    assert "failed after 3 tries: HTTP 503" in ours
    assert "failed (try 1 of 3, again in 0.5s): HTTP 503" in ours
    assert "to 127.0.0.1" in ours
    assert SECRET not in caplog.text and PATH_TOKEN not in ours


async def test_a_status_no_retry_can_fix_is_not_retried(receiver: Receiver) -> None:
    receiver.fail_first, receiver.status = 100, 401
    send = sender()
    try:
        assert not await send.deliver(hook(f"{receiver.url}/hook/{PATH_TOKEN}"), b"{}", "k")
    finally:
        await send.aclose()
    assert len(receiver.seen) == 1 and send.failed == 1


async def test_a_hanging_receiver_costs_at_most_the_timeout_per_try(receiver: Receiver) -> None:
    send = sender()
    config = hook(f"{receiver.url}/hang", timeout_s=0.3, max_attempts=2)
    t0 = time.monotonic()
    try:
        assert not await send.deliver(config, b"{}", "k")
    finally:
        await send.aclose()
    took = time.monotonic() - t0
    assert len(receiver.seen) == 2
    assert 0.6 <= took < 1.5, took


async def test_a_refused_connection_is_retried_then_given_up(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with socket.socket() as s:  # a port nobody listens on once this closes
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sleeps = Sleeps()
    send = sender(sleeps)
    try:
        assert not await send.deliver(hook(f"http://127.0.0.1:{port}/x"), b"{}", "k")
    finally:
        await send.aclose()
    assert send.attempts == 3 and sleeps.asked == [0.5, 1.0]
    assert "transport error ConnectError" in caplog.text


async def test_the_queue_delivers_in_order_and_drops_when_full(receiver: Receiver) -> None:
    send = sender(queue_size=3)
    config = hook(f"{receiver.url}/hook/{PATH_TOKEN}")
    bodies = [b'{"n":1}', b'{"n":2}', b'{"n":3}']
    assert all(send.submit(config, body, "k") for body in bodies)
    assert not send.submit(config, b'{"n":4}', "k")
    assert send.dropped == 1
    worker = asyncio.create_task(send.run())
    try:
        await asyncio.wait_for(send.join(), 10)
    finally:
        worker.cancel()
        await send.aclose()
    assert [body for _, body in receiver.seen] == bodies
    assert send.delivered == 3


def test_secrets_come_from_the_env_and_a_missing_one_names_its_field() -> None:
    config = AlertsConfig.model_validate(
        {
            "webhook": {"url": "https://a.example/x", "secret_env": "GLOBAL_HOOK"},
            "rules": [
                {
                    "name": "r",
                    "metric": "error_rate",
                    "by": "model",
                    "window_s": 60,
                    "threshold": 0.5,
                    "webhook": {"url": "https://b.example/x", "secret_env": "RULE_HOOK"},
                }
            ],
        }
    )
    both = {"GLOBAL_HOOK": "g", "RULE_HOOK": "r"}
    assert webhook_secrets(config, both) == both
    with pytest.raises(ConfigError) as info:
        webhook_secrets(config, {"GLOBAL_HOOK": "g"})
    assert str(info.value).splitlines()[1].strip() == (
        "alerts.rules[0].webhook.secret_env: environment variable RULE_HOOK is not set"
    )
