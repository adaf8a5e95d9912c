"""Webhook delivery of alerts: POST the event's JSON, bounded retries, a timeout per try.

Deliveries go through one bounded queue and one task, so a key's firing reaches the
receiver before its resolution and a slow receiver holds nothing but this queue (full:
the delivery is dropped and counted). Failures are logged with the URL's host only (a
webhook URL's path often is its token) and never with the secret header's value.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

import httpx

from schemas.alerts import AlertsConfig, WebhookConfig
from schemas.config_loader import ConfigError

log = logging.getLogger(__name__)

QUEUE_SIZE = 1000
# Statuses a later try may get past: the receiver is busy, restarting or overloaded.
_RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


def webhook_secrets(config: AlertsConfig, env: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The secret header values by env var name; a ConfigError naming every one not set."""
    hooks = [("alerts.webhook", config.webhook)] + [
        (f"alerts.rules[{i}].webhook", rule.webhook) for i, rule in enumerate(config.rules)
    ]
    found: dict[str, str] = {}
    missing: list[str] = []
    for where, hook in hooks:
        if hook is None or hook.secret_env is None:
            continue
        value = env.get(hook.secret_env)
        if value is None:
            missing.append(f"{where}.secret_env: environment variable {hook.secret_env} is not set")
        else:
            found[hook.secret_env] = value
    if missing:
        raise ConfigError("cannot deliver alert webhooks:\n  " + "\n  ".join(missing))
    return found


@dataclass(frozen=True)
class Delivery:
    hook: WebhookConfig
    body: bytes
    what: str  # for logs: the alert's rule and key, never the URL or the secret


class WebhookSender:
    def __init__(
        self,
        secrets: Mapping[str, str],
        client: httpx.AsyncClient | None = None,
        *,
        queue_size: int = QUEUE_SIZE,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._secrets = dict(secrets)
        self._own_client = client is None
        self._client = client or httpx.AsyncClient(follow_redirects=False)
        self._queue: asyncio.Queue[Delivery] = asyncio.Queue(queue_size)
        self._sleep = sleep
        self.delivered = 0
        self.failed = 0
        self.dropped = 0
        self.attempts = 0

    def submit(self, hook: WebhookConfig, body: bytes, what: str) -> bool:
        """Queue a delivery for :meth:`run`; False (counted, logged) when the queue is full."""
        try:
            self._queue.put_nowait(Delivery(hook, body, what))
        except asyncio.QueueFull:
            self.dropped += 1
            log.error("webhook queue full (%d): %s to %s dropped", QUEUE_SIZE, what, hook.host)
            return False
        return True

    async def run(self) -> None:
        """Deliver queued alerts one at a time, in order, until cancelled."""
        while True:
            item = await self._queue.get()
            try:
                await self.deliver(item.hook, item.body, item.what)
            finally:
                self._queue.task_done()

    async def join(self) -> None:
        """Until every queued delivery has been tried to the end."""
        await self._queue.join()

    async def deliver(self, hook: WebhookConfig, body: bytes, what: str) -> bool:
        """POST ``body`` until a 2xx, a status no retry can fix, or ``max_attempts`` tries."""
        headers = {"Content-Type": "application/json", "User-Agent": "routeyard-alerts"}
        if hook.secret_env is not None:
            headers[hook.secret_header] = self._secrets[hook.secret_env]
        delay = hook.backoff_initial_s
        for attempt in range(1, hook.max_attempts + 1):
            self.attempts += 1
            problem, retryable = await self._try(hook, headers, body)
            if problem is None:
                self.delivered += 1
                return True
            last = attempt == hook.max_attempts
            if not retryable or last:
                self.failed += 1
                log.error(
                    "webhook %s to %s failed after %d tries: %s",
                    what,
                    hook.host,
                    attempt,
                    problem,
                )
                return False
            log.warning(
                "webhook %s to %s failed (try %d of %d, again in %.1fs): %s",
                what,
                hook.host,
                attempt,
                hook.max_attempts,
                delay,
                problem,
            )
            await self._sleep(delay)
            delay = min(delay * 2, hook.backoff_max_s)
        raise AssertionError("unreachable: the last try returns")

    async def _try(
        self, hook: WebhookConfig, headers: dict[str, str], body: bytes
    ) -> tuple[str | None, bool]:
        """(None, _) on success, else (what went wrong, whether another try may help)."""
        try:
            # httpx's timeout bounds each phase; this bounds the whole try, so a receiver
            # trickling its reply cannot hold the queue longer than timeout_s.
            async with asyncio.timeout(hook.timeout_s):
                reply = await self._client.post(
                    hook.url, content=body, headers=headers, timeout=hook.timeout_s
                )
        except (TimeoutError, httpx.TimeoutException):
            return f"no reply within {hook.timeout_s:g}s", True
        except httpx.TransportError as exc:
            # The exception's text can carry the URL: its type says enough.
            return f"transport error {type(exc).__name__}", True
        if reply.is_success:
            return None, False
        return f"HTTP {reply.status_code}", reply.status_code in _RETRYABLE_STATUS

    async def aclose(self) -> None:
        if self._own_client:
            with contextlib.suppress(httpx.HTTPError):
                await self._client.aclose()
