"""Retry: hold each event until its due time, then hand its next attempt back to dispatch.

Requests delayed by a rate limit go back to admission instead (``release_to``).

Every held event waits in its own task, so a long Retry-After never delays the events
behind it; the window acknowledges offsets in order, so a crash replays held events
rather than dropping them.
"""

from __future__ import annotations

import asyncio

from pydantic import ValidationError

from schemas.admission import AdmitEvent
from schemas.base import utcnow
from schemas.config import TopicsConfig
from schemas.events import RetryEvent
from streams.dead_letters import schema_invalid
from streams.outcome_ledger import OutcomeLedger
from streams.publisher import Publisher


class RetryHolder:
    def __init__(self, topics: TopicsConfig, publisher: Publisher, ledger: OutcomeLedger) -> None:
        self.topics = topics
        self.publisher = publisher
        self.ledger = ledger

    async def handle(self, raw: bytes) -> None:
        try:
            ev = RetryEvent.from_bytes(raw)
        except ValidationError as exc:
            letter = schema_invalid("retry", raw, "retry event", exc)
            await self.publisher.send(self.topics.dlq, letter, None)
            return
        wait_s = (ev.due_at - utcnow()).total_seconds()
        if wait_s > 0:
            await asyncio.sleep(wait_s)
        await self.ledger.ready.wait()
        if self.ledger.answered(ev.request_id):
            return  # answered by another copy meanwhile: no further attempt
        if ev.release_to == "admission":
            # Back from a rate-limit delay: its slot was charged when it was delayed.
            tenant = ev.dispatch.request.tenant
            admit = AdmitEvent(
                request_id=ev.request_id, tenant=tenant, dispatch=ev.dispatch, rate_paid=True
            )
            await self.publisher.send(self.topics.admission, admit, tenant)
            return
        await self.publisher.send(self.topics.dispatch, ev.dispatch, ev.request_id)
