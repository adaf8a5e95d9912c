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

from pydantic import ValidationError

from policy.admission import TenantBook
from policy.admission_decisions import Admit, Reject
from schemas.admission import AdmitEvent, SpendEvent, admission_event
from schemas.base import utcnow
from schemas.config import GatewayConfig
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

    async def handle(self, raw: bytes, source: Source) -> None:
        try:
            event = admission_event.validate_json(raw)
        except ValidationError as exc:
            letter = schema_invalid("admission", raw, "admission event", exc)
            await self.publisher.send(self.topics.dlq, letter, None)
            return
        await self.ledger.ready.wait()
        await self.states.ready(source.partition)
        book = self.states.book(source.partition, event.tenant)
        if book.decided(source.offset):
            return  # in the loaded state already, and its outputs were published
        if isinstance(event, AdmitEvent):
            await self._admit(book, event, source.offset)
        else:
            await self._spend(book, event, source.offset)
        book.confirm(source.offset)
        await self.states.persisted(source.partition, event.tenant)

    async def _admit(self, book: TenantBook, event: AdmitEvent, offset: int) -> None:
        rid = event.request_id
        if self.ledger.answered(rid):
            # Republished or replayed after its outcome: no reservation, no second answer.
            return
        decision = book.admit(event, offset, self.config, utcnow())
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

    async def _spend(self, book: TenantBook, event: SpendEvent, offset: int) -> None:
        alerts = book.spend(event, offset, self.config, utcnow())
        if alerts:
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
