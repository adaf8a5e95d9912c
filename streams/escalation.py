"""Escalation in dispatch: judge a successful answer, and publish where the verdict leads.

The decision is :func:`policy.escalation.review`'s. This module turns it into events:

- :class:`~policy.escalation.Escalate`: one batch with the rejected call's usage row
  (outcome ``success``, billed, ``quality_failure`` set), its spend for a tenant with
  budgets (not final: the request's reservation stays), and the dispatch event for the
  next model carrying the escalation steps. No outcome yet, like an immediate fallback.
- :class:`~policy.escalation.Exhausted` with ``dead_letter``: a ``quality_failed`` dead
  letter naming each answer's model and check (dispatch settles it with the usage row).
- anything else: the response goes out, stamped by :func:`stamp_response`.

A replay of the rejected attempt (its worker died after the call, before the batch
landed) calls the cheap model again, exactly as a fallback's would (docs/design/quality.md).
"""

from __future__ import annotations

import logging
from decimal import Decimal

from adapters.base import ProviderResult
from policy.escalation import Escalate, Exhausted, Passed, Skipped, Verdict, review
from schemas.admission import SpendEvent
from schemas.base import Event, utcnow
from schemas.config import GatewayConfig
from schemas.events import DeadLetter, DispatchEvent, UsageEvent
from schemas.responses import LLMResponse, QualityVerdict
from streams.outcome_ledger import OutcomeLedger
from streams.publisher import Publisher

log = logging.getLogger(__name__)


class Escalation:
    def __init__(self, config: GatewayConfig, publisher: Publisher, ledger: OutcomeLedger) -> None:
        self.config = config
        self.publisher = publisher
        self.ledger = ledger
        self.topics = config.topics

    def review(
        self,
        ev: DispatchEvent,
        result: ProviderResult,
        cost_usd: Decimal,
        call_id: str,
        *,
        streamed: bool,
    ) -> Verdict | None:
        return review(ev, result, cost_usd, call_id, self.config, utcnow(), streamed=streamed)

    async def escalate(self, ev: DispatchEvent, verdict: Escalate, usage: UsageEvent) -> None:
        """Publish the rejected call's usage (and spend) with the next attempt, in one batch."""
        key = ev.request_id
        tenant = ev.request.tenant
        items: list[tuple[str, Event, str | None]] = [(self.topics.usage, usage, key)]
        policy = self.config.admission.policy_for(tenant)
        if policy is not None and policy.budgets:
            spend = SpendEvent(
                request_id=key,
                tenant=tenant,
                call_id=usage.call_id,
                route=ev.route,
                model=ev.candidates[0],
                cost_usd=usage.cost_usd,
                final=False,
            )
            items.append((self.topics.admission, spend, tenant))
        if self.ledger.answered(key):
            # Another copy of this request was answered while this call ran: the call
            # still happened and was billed, but nothing comes after it.
            await self.publisher.send_all(*items)
            return
        step = verdict.step
        log.info(
            "request %s: %s's answer failed %s, escalating to %s",
            key,
            step.model,
            step.check,
            verdict.next_event.model,
        )
        await self.publisher.send_all(*items, (self.topics.dispatch, verdict.next_event, key))


def escalation_reason(ev: DispatchEvent) -> str:
    """The usage row's ``escalation_reason``: the checks that rejected earlier answers."""
    return ",".join(step.check for step in ev.escalations)


def stamp_usage(usage: UsageEvent, verdict: Verdict | None) -> UsageEvent:
    """The completion row of a call whose answer failed a check says which."""
    if isinstance(verdict, Escalate):
        return usage.model_copy(update={"quality_failure": verdict.step.check})
    if isinstance(verdict, Exhausted):
        return usage.model_copy(update={"quality_failure": verdict.failure.check})
    return usage


def _quality(verdict: Verdict | None) -> QualityVerdict | None:
    if isinstance(verdict, Passed):
        return QualityVerdict(outcome="passed")
    if isinstance(verdict, Skipped):
        return QualityVerdict(outcome="skipped", detail=verdict.why)
    if isinstance(verdict, Exhausted):
        detail = f"{verdict.failure.detail}; {verdict.why}"
        return QualityVerdict(outcome="failed", check=verdict.failure.check, detail=detail)
    return None


def stamp_response(
    response: LLMResponse, ev: DispatchEvent, verdict: Verdict | None
) -> LLMResponse:
    """The steps that led to this answer, its checks' verdict, and the cost of every call."""
    if not ev.escalations and verdict is None:
        return response
    spent = sum((step.cost_usd for step in ev.escalations), Decimal(0))
    return response.model_copy(
        update={
            "escalated": bool(ev.escalations),
            "escalations": list(ev.escalations),
            "cost_usd": response.cost_usd + spent,
            "quality": _quality(verdict),
        }
    )


def quality_letter(ev: DispatchEvent, verdict: Verdict | None) -> DeadLetter | None:
    """The ``quality_failed`` dead letter, when no answer passed and the route says so."""
    if not isinstance(verdict, Exhausted) or verdict.on_exhausted != "dead_letter":
        return None
    answers = [f"{s.model} {s.check}" for s in ev.escalations]
    answers.append(f"{ev.model} {verdict.failure.check}")
    n = len(answers)
    return DeadLetter(
        request_id=ev.request_id,
        tenant=ev.request.tenant,
        stage="dispatch",
        reason="quality_failed",
        detail=(
            f"quality_failed after {n} answer{'s' if n != 1 else ''}: {', '.join(answers)};"
            f" {verdict.why}; last: {verdict.failure.detail}"
        ),
        attempts=ev.attempt,
        history=ev.history,
    )
