"""Admission: hold each tenant to its budgets and rate limits between triage and dispatch.

The admission topic is keyed by tenant, so one worker decides for a tenant at a time, in
offset order (docs/design/state.md). Per event:

admit  -> Admit: the (possibly downgraded) dispatch event to dispatch
          Reject: a budget_exceeded / rate_limited dead letter (+ a rejected usage row)
          Delay: a retry event that brings it back here, rate paid, at its slot
spend  -> the call's cost settled, the reservation released when final, budget alerts

The decision is :class:`policy.admission.TenantBook`'s; this stage publishes it, then
waits until a snapshot covering it is on the state topic, so the window acknowledges the
input only when a crash could no longer lose or repeat its effect.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from functools import partial

from pydantic import ValidationError

from policy.admission import TenantBook
from policy.admission_decisions import Admit, AdmitDecision, Reject
from schemas.admission import AdmitEvent, BudgetAlert, SpendEvent, admission_event
from schemas.base import utcnow
from schemas.config import GatewayConfig
from streams.arrival_order import ArrivalOrder
from streams.cache_fill import send_to_cache
from streams.dead_letters import has_kind, schema_invalid
from streams.outcome_ledger import OutcomeLedger
from streams.publisher import Publisher
from streams.tenant_state import TenantStates
from streams.window import Source

log = logging.getLogger(__name__)


def is_admit(raw: bytes) -> bool:
    """Whether an admission-topic event is about admitting a request (not a spend)."""
    return has_kind(raw, "admit")


class AdmissionStage:
    def __init__(
        self,
        config: GatewayConfig,
        publisher: Publisher,
        ledger: OutcomeLedger,
        states: TenantStates,
    ) -> None:
        self.config = config
        self.topics = config.topics
        self.publisher = publisher
        self.ledger = ledger
        self.states = states
        self.order = ArrivalOrder()

    async def handle(self, raw: bytes, source: Source) -> None:
        try:
            event = admission_event.validate_json(raw)
        except ValidationError as exc:
            letter = schema_invalid("admission", raw, "admission event", exc)
            await self.publisher.send(self.topics.dlq, letter, None)
            return
        # Each event registers with its book in offset order (streams/arrival_order.py).
        async with self.order.turn(source.partition):
            await self.ledger.ready.wait()
            await self.states.ready(source.partition)
            book = self.states.book(source.partition, event.tenant)
            if book.decided(source.offset):
                return  # in the loaded state already, and its outputs were published
            publish = self._decide(book, event, source.offset)
        if publish is not None:
            await publish()
        book.confirm(source.offset)
        await self.states.persisted(source.partition, event.tenant)

    def _decide(
        self, book: TenantBook, event: AdmitEvent | SpendEvent, offset: int
    ) -> Callable[[], Awaitable[None]] | None:
        """Registers the event with its book; returns what to publish (None: nothing)."""
        if isinstance(event, SpendEvent):
            return partial(self._alert, book.spend(event, offset, self.config, utcnow()))
        if self.ledger.answered(event.request_id):
            # Republished or replayed after its outcome: no reservation, no second answer.
            return None
        return partial(self._publish, event, book.admit(event, offset, self.config, utcnow()))

    async def _publish(self, event: AdmitEvent, decision: AdmitDecision) -> None:
        rid = event.request_id
        if isinstance(decision, Admit):
            await self.publisher.send(self.topics.dispatch, decision.dispatch, rid)
        elif isinstance(decision, Reject):
            if (ticket := event.dispatch.cache) is not None:
                await send_to_cache(self.publisher, self.topics.cache, ticket, decision.letter)
            send = self.publisher.send(self.topics.dlq, decision.letter, rid)
            if await self.ledger.settle(rid, send):
                await self.publisher.send(self.topics.usage, decision.usage, rid)
        else:
            await self.publisher.send(self.topics.retry, decision.retry, rid)

    async def _alert(self, alerts: list[BudgetAlert]) -> None:
        if not alerts:
            return
        await self.publisher.send_all(*((self.topics.alerts, a, a.key) for a in alerts))
        for alert in alerts:
            log.warning(
                "budget alert: tenant %s budget %s (%s) at %g%% of %s USD",
                alert.tenant,
                alert.budget,
                alert.period_key,
                alert.threshold * 100,
                alert.limit_usd,
            )
