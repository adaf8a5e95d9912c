"""A cache leader's outcome, sent to the cache partition that parks its waiters: the answer
as a fill, a dead letter as a fail (docs/design/cache.md)."""

from __future__ import annotations

import time

from schemas.cache import CacheTicket
from schemas.cache_events import CacheFail, CacheFill
from schemas.events import DeadLetter, LLMResponse
from streams.publisher import Publisher


async def send_to_cache(
    publisher: Publisher, topic: str, ticket: CacheTicket, outcome: LLMResponse | DeadLetter
) -> None:
    rid = outcome.request_id or ""
    if isinstance(outcome, LLMResponse):
        event: CacheFill | CacheFail = CacheFill(
            request_id=rid, ticket=ticket, response=outcome, filled_at=time.time()
        )
    else:
        event = CacheFail(request_id=rid, ticket=ticket, letter=outcome)
    await publisher.send(topic, event, ticket.partition_key)
