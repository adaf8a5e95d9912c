"""``/readyz``: Kafka reachable, replies being read, and a gateway worker in its group."""

from __future__ import annotations

import asyncio
import time

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from routeyard.replies import ReplyBook

_CACHE_S = 2.0
_ASK_TIMEOUT_S = 5.0


class Readiness:
    def __init__(self, bootstrap: str, group: str, book: ReplyBook) -> None:
        self._bootstrap = bootstrap
        self._group = group
        self._book = book
        self._admin: AIOKafkaAdminClient | None = None
        self._checked_at = 0.0
        self._last: list[str] = ["not checked yet"]

    async def start(self) -> None:
        self._admin = AIOKafkaAdminClient(bootstrap_servers=self._bootstrap)
        await self._admin.start()

    async def stop(self) -> None:
        if self._admin is not None:
            await self._admin.close()

    async def problems(self) -> list[str]:
        """What keeps this server from answering; empty when ready. Cached briefly, so a
        load balancer probing often does not become load on the broker."""
        if time.monotonic() - self._checked_at < _CACHE_S:
            return self._last
        found = []
        if not self._book.ready.is_set():
            found.append("not reading the response topics yet")
        found += await self._group_problems()
        self._last, self._checked_at = found, time.monotonic()
        return found

    async def _group_problems(self) -> list[str]:
        if self._admin is None:
            return ["not started"]
        try:
            async with asyncio.timeout(_ASK_TIMEOUT_S):
                [described] = await self._admin.describe_consumer_groups([self._group])
        except (KafkaError, OSError, TimeoutError) as exc:
            return [f"Kafka at {self._bootstrap} does not answer: {exc!r}"]
        groups = described.groups
        # DescribeGroups v0-v5 rows: (error_code, group_id, state, protocol_type, protocol,
        # members, ...): the gateway group needs at least one member.
        members = groups[0][5] if groups else []
        if not members:
            return [f"no gateway worker in consumer group {self._group}"]
        return []
