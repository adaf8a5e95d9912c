"""The cache stage: answer a cacheable request from the cache, park it behind an identical
one in flight, or send it on as the leader; store leaders' answers and hand them (or their
failures) to the requests that waited (docs/design/cache.md).

``llm.cache`` carries three kinds of events, keyed so that one owner sees a key's whole
life in one order:

lookup -> exact entry live       : response (cache: exact) + usage cache_hit
          leader in flight       : parked (answered by the fill or fail)
          semantic neighbour     : response (cache: semantic) + usage cache_hit
          miss                   : the dispatch event onward (admission or dispatch)
fill   -> stored; each waiter    : response (cache: coalesced) + usage cache_hit
fail   -> each waiter            : the leader's dead letter, addressed to it

The decisions are :class:`policy.cache_book.CacheBook`'s; like admission, a handler waits
until a snapshot covering its event is on ``llm.cache-state`` before its input is
acknowledged. A timer expires entries, gives waiters past their deadline a
``deadline_exceeded`` letter, and looks up again the waiters of a leader whose answer never
came (its fill lost to a crash): the first of them leads.
"""

from __future__ import annotations

import asyncio
import logging
import time
import traceback
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Final

from pydantic import ValidationError

from policy.cache_book import Asker, CacheBook, Hit, Lead, Waiter
from schemas.cache import CacheHitKind
from schemas.cache_events import CacheFail, CacheFill, CacheLookup, cache_event
from schemas.config import GatewayConfig
from schemas.events import DeadLetter, DispatchEvent, LLMResponse, UsageEvent
from streams.arrival_order import ArrivalOrder
from streams.cache_answers import (
    deadline_letter,
    epoch,
    hit_usage,
    served,
    waiter_letter,
    waiter_usage,
)
from streams.cache_state import CachePartition, CacheStates
from streams.dead_letters import has_kind, schema_invalid
from streams.outcome_ledger import OutcomeLedger
from streams.publisher import Publisher
from streams.window import Source

log = logging.getLogger(__name__)

# How long a request without a deadline may wait behind a leader before it is looked up
# again (so a lost fill cannot park it for ever).
NO_DEADLINE_WAIT_S: Final = 600.0
EXPIRY_INTERVAL_S: Final = 1.0

Forward = Callable[[DispatchEvent], Awaitable[None]]
# What an event's decision leaves to send, once it is registered with its book.
Publish = Callable[[], Awaitable[None]]
# Reads the event at (partition, offset) of the cache topic; None when it is gone.
ReadAt = Callable[[int, int], Awaitable[bytes | None]]


def is_lookup(raw: bytes) -> bool:
    """Whether a cache-topic event is a request's lookup (its failure ends the request)."""
    return has_kind(raw, "lookup")


class CacheStage:
    def __init__(
        self,
        config: GatewayConfig,
        publisher: Publisher,
        ledger: OutcomeLedger,
        states: CacheStates,
        forward: Forward,
        read_at: ReadAt,
    ) -> None:
        self.config = config
        self.topics = config.topics
        self.publisher = publisher
        self.ledger = ledger
        self.states = states
        self._forward = forward
        self._read_at = read_at
        self.hits: dict[CacheHitKind, int] = {"exact": 0, "semantic": 0, "coalesced": 0}
        self.leads = 0
        self.order = ArrivalOrder()

    async def handle(self, raw: bytes, source: Source) -> None:
        try:
            event = cache_event.validate_json(raw)
        except ValidationError as exc:
            letter = schema_invalid("cache", raw, "cache event", exc)
            await self.publisher.send(self.topics.dlq, letter, letter.request_id)
            return
        ticket = event.ticket
        # Each event registers with its book in offset order (streams/arrival_order.py).
        async with self.order.turn(source.partition):
            await self.ledger.ready.wait()
            part = await self.states.ready(source.partition)
            book = part.book(ticket.route)
            if book.decided(ticket.key, source.offset):
                return  # in the loaded state already, and its outputs were published
            publish = self._decide(part, book, event, source.offset)
        if publish is not None:
            await publish()
        book.confirm(ticket.key, source.offset)
        await self.states.persisted(source.partition)

    def _decide(
        self,
        part: CachePartition,
        book: CacheBook,
        event: CacheLookup | CacheFill | CacheFail,
        offset: int,
    ) -> Publish | None:
        """Registers the event with its book; returns what to publish (None: nothing)."""
        if isinstance(event, CacheLookup):
            return self._look_up(part, event, offset)
        if isinstance(event, CacheFill):
            return self._fill(part, book, event, offset)
        settled = book.fail(event.ticket.key, event.request_id, offset)
        return partial(self._fail_waiters, event, settled.waiters)

    # -- lookups ---------------------------------------------------------------------

    def _look_up(self, part: CachePartition, event: CacheLookup, offset: int) -> Publish | None:
        rid, dispatch, ticket = event.request_id, event.dispatch, event.ticket
        if self.ledger.answered(rid):
            return None  # republished or replayed after its outcome
        now = time.time()
        book = part.book(ticket.route)
        if ticket.mode == "semantic" and not book.holds(ticket.key) and not book.flying(ticket.key):
            threshold = part.cache_of(ticket.route).semantic_threshold
            found = part.shelf(ticket.route).find(
                ticket.scope, ticket.prompt, threshold, lambda key: book.entry(key, now)
            )
            if found is not None:
                return partial(self._answer, found.entry.response, rid, dispatch, "semantic")
        first_seen = epoch(dispatch.first_seen_at, now)
        deadline = epoch(dispatch.deadline_at, first_seen + NO_DEADLINE_WAIT_S)
        asker = Asker(rid, dispatch.request.tenant, deadline, offset, first_seen)
        decision = book.lookup(ticket.key, asker, now)
        if isinstance(decision, Hit):
            if decision.replay:
                return None
            return partial(self._answer, decision.entry.response, rid, dispatch, "exact")
        if isinstance(decision, Lead):
            # A replayed lead may not have been sent on: send again (dispatch drops copies
            # of an answered request).
            self.leads += 1
            return partial(self._forward, dispatch)
        return None  # Wait: parked until the leader's fill or fail

    async def _answer(
        self, stored: bytes, rid: str, dispatch: DispatchEvent, kind: CacheHitKind
    ) -> None:
        original = LLMResponse.from_bytes(stored)
        first_seen = epoch(dispatch.first_seen_at, time.time())
        response = served(original, rid, dispatch.request.tenant, kind, first_seen)
        usage = hit_usage(response, original.cost_usd, dispatch.classification, dispatch.strategy)
        await self._settle(rid, (self.topics.responses, response), usage)
        self.hits[kind] += 1

    async def _settle(
        self, rid: str, outcome: tuple[str, LLMResponse | DeadLetter], usage: UsageEvent
    ) -> None:
        topic, event = outcome
        if await self.ledger.settle(rid, self.publisher.send(topic, event, rid)):
            await self.publisher.send(self.topics.usage, usage, rid)

    # -- fills and fails -------------------------------------------------------------

    def _fill(
        self, part: CachePartition, book: CacheBook, event: CacheFill, offset: int
    ) -> Publish:
        ticket = event.ticket
        stored = event.response.to_bytes()
        semantic = ticket.mode == "semantic" and bool(ticket.prompt)
        settled = book.fill(
            ticket.key,
            event.request_id,
            stored,
            event.filled_at,
            offset,
            prompt=ticket.prompt if semantic else "",
            scope=ticket.scope if semantic else "",
        )
        if semantic and book.holds(ticket.key):
            part.shelf(ticket.route).add(ticket.scope, ticket.key, ticket.prompt)
        return partial(self._answer_waiters, event, settled.waiters)

    async def _answer_waiters(self, fill: CacheFill, waiters: list[Waiter]) -> None:
        await asyncio.gather(*(self._coalesced(fill, w) for w in waiters))

    async def _coalesced(self, fill: CacheFill, waiter: Waiter) -> None:
        original = fill.response
        response = served(
            original, waiter.request_id, waiter.tenant, "coalesced", waiter.first_seen
        )
        usage = hit_usage(response, original.cost_usd, None, "")
        await self._settle(waiter.request_id, (self.topics.responses, response), usage)
        self.hits["coalesced"] += 1

    async def _fail_waiters(self, event: CacheFail, waiters: list[Waiter]) -> None:
        route = event.ticket.route
        for waiter in waiters:
            letter = waiter_letter(event.letter, waiter.request_id, waiter.tenant)
            await self._settle(
                waiter.request_id, (self.topics.dlq, letter), waiter_usage(letter, route)
            )

    # -- the timer -------------------------------------------------------------------

    async def run_expiry(self) -> None:
        while True:
            await asyncio.sleep(EXPIRY_INTERVAL_S)
            try:
                await self.expire_once(time.time())
            except Exception as exc:  # the next round tries again; events' paths are intact
                # Type and stack only, as streams/window.py: a message can quote an event.
                log.error(
                    "cache expiry round failed: %s, raised at\n%s",
                    type(exc).__name__,
                    "".join(traceback.format_tb(exc.__traceback__)),
                )

    async def expire_once(self, now: float) -> None:
        changed = False
        for partition, part in self.states.owned():
            for route, book in list(part.books.items()):
                expired = book.expire(now)
                changed = changed or bool(expired.evicted or expired.late or expired.redispatch)
                for waiter in expired.late:
                    letter = deadline_letter(waiter.request_id, waiter.tenant, "in flight")
                    usage = waiter_usage(letter, route)
                    await self._settle(waiter.request_id, (self.topics.dlq, letter), usage)
                for waiter in expired.redispatch:
                    await self._again(partition, part, waiter)
        if changed:
            self.states.touch()

    async def _again(self, partition: int, part: CachePartition, waiter: Waiter) -> None:
        """A waiter whose leader's answer never came: its own lookup, decided anew."""
        raw = await self._read_at(partition, waiter.offset)
        if raw is None:
            log.error(
                "lookup of %s at offset %d is gone: no answer", waiter.request_id, waiter.offset
            )
            return
        event = cache_event.validate_json(raw)
        if isinstance(event, CacheLookup):
            publish = self._look_up(part, event, waiter.offset)
            if publish is not None:
                await publish()
            # Its outputs are out: close the offset the lookup opened, or the key's
            # confirmed offset would stay behind it for good.
            part.book(event.ticket.route).confirm(event.ticket.key, waiter.offset)
