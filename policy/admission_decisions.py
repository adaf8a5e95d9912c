"""What admission decides for a request, and the dead letters of its refusals.

:class:`Admit` forwards the (possibly downgraded) dispatch event, :class:`Delay` holds it
in the retry stage until its rate-limit slot, :class:`Reject` ends it with a
``budget_exceeded`` or ``rate_limited`` dead letter whose ``limit`` carries the figures,
and a ``rejected`` usage row so analysts count refusals.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Final, Literal

from policy.budget import period_end, period_key
from schemas.budgets import BudgetConfig
from schemas.events import DeadLetter, DispatchEvent, LimitInfo, RetryEvent, UsageEvent

ZERO: Final = Decimal(0)

LimitReason = Literal["budget_exceeded", "rate_limited"]
RateKind = Literal["requests_per_minute", "tokens_per_minute"]


@dataclass(frozen=True)
class Admit:
    dispatch: DispatchEvent


@dataclass(frozen=True)
class Reject:
    letter: DeadLetter
    usage: UsageEvent


@dataclass(frozen=True)
class Delay:
    retry: RetryEvent


AdmitDecision = Admit | Reject | Delay


def money(value: Decimal) -> str:
    """A USD amount as people write it: no exponent, no trailing zeros."""
    return f"{value.normalize():f}"


def rejection(ev: DispatchEvent, reason: LimitReason, detail: str, info: LimitInfo) -> Reject:
    tenant = ev.request.tenant
    letter = DeadLetter(
        request_id=ev.request_id,
        tenant=tenant,
        stage="admission",
        reason=reason,
        detail=detail,
        limit=info,
    )
    usage = UsageEvent.rejection(ev.request_id, tenant, ev.route, reason, ev.classification)
    return Reject(letter, usage)


def budget_rejection(
    ev: DispatchEvent,
    budget: BudgetConfig,
    spent: Decimal,
    reserved: Decimal,
    estimate: Decimal,
    now: datetime,
) -> Reject:
    period = period_key(budget.period, now)
    resets = period_end(budget.period, now)
    detail = (
        f"hard budget {budget.id} for {period} is {money(budget.limit_usd)} USD: spent"
        f" {money(spent)}, reserved {money(reserved)}, this request up to"
        f" {money(estimate)}; the period ends at {resets.isoformat()}"
    )
    info = LimitInfo(
        kind="budget",
        budget=budget.id,
        period=period,
        limit=budget.limit_usd,
        spent_usd=spent,
        reserved_usd=reserved,
        estimate=estimate,
        retry_after_s=round((resets - now).total_seconds(), 3),
    )
    return rejection(ev, "budget_exceeded", detail, info)
