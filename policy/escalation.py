"""Progressive escalation: what to do with an answer on a route that checks quality. Pure.

:func:`review` runs the route's checks (:mod:`policy.quality`) on a successful call's
answer and decides, first matching row wins (n = answers so far, this one included):

=====================================  ==================================================
situation                              verdict
=====================================  ==================================================
the route has no ``escalation``        None: the answer goes out as before
the request is streamed                :class:`Skipped`: its chunks already went out, no
                                       other answer can replace them
every check passes                     :class:`Passed`
``n >= max_attempts``                  :class:`Exhausted` (``on_exhausted``)
the request's deadline has passed      :class:`Exhausted`: a new call could only end in
                                       ``deadline_exceeded``, losing the answer in hand
no stronger model is left              :class:`Exhausted`
the budget does not allow it           :class:`Exhausted` (see :func:`budget_refusal`)
otherwise                              :class:`Escalate`: the next dispatch event
=====================================  ==================================================

The next model is the first of the route's ``escalation.models`` after the current one
(all of them when the current one is not listed), or by default the route's candidates
after the current one in the request's plan, that has not answered this request yet and
has no failure in its history saying it can never serve it (context window,
authentication, unsupported feature).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal

from adapters.base import ProviderResult
from adapters.errors import ACTION_BY_KIND
from policy.estimate import cost_estimate
from policy.quality import QualityFailure, first_failure
from policy.retry import deadline_of
from schemas.config import GatewayConfig
from schemas.events import DispatchEvent
from schemas.quality import EscalationConfig
from schemas.responses import EscalationStep


@dataclass(frozen=True)
class Passed:
    pass


@dataclass(frozen=True)
class Skipped:
    why: str


@dataclass(frozen=True)
class Escalate:
    step: EscalationStep
    next_event: DispatchEvent


@dataclass(frozen=True)
class Exhausted:
    failure: QualityFailure
    why: str
    on_exhausted: Literal["respond", "dead_letter"]


Verdict = Passed | Skipped | Escalate | Exhausted

STREAMED = "streamed: its chunks already went out, so no other answer can replace it"


def review(
    ev: DispatchEvent,
    result: ProviderResult,
    cost_usd: Decimal,
    call_id: str,
    config: GatewayConfig,
    now: datetime,
    *,
    streamed: bool,
) -> Verdict | None:
    """The verdict on ``ev``'s answer ``result``, made by call ``call_id`` at ``cost_usd``."""
    route = config.route(ev.route)
    if route is None or route.escalation is None:
        return None
    policy = route.escalation
    if streamed:
        return Skipped(STREAMED)
    failure = first_failure(ev.request, result, policy.checks)
    if failure is None:
        return Passed()

    def exhausted(why: str) -> Exhausted:
        return Exhausted(failure, why, policy.on_exhausted)

    answers = len(ev.escalations) + 1
    if answers >= policy.max_attempts:
        return exhausted(f"max_attempts={policy.max_attempts} reached")
    if now >= deadline_of(ev, route.retry):
        return exhausted("the request's deadline has passed")
    model = next_model(ev, policy, config)
    if model is None:
        return exhausted("no stronger model is left to escalate to")
    refused = budget_refusal(ev, model, config)
    if refused is not None:
        return exhausted(refused)
    step = EscalationStep(
        model=ev.model,
        call_id=call_id,
        check=failure.check,
        detail=failure.detail,
        cost_usd=cost_usd,
    )
    return Escalate(step, escalated_event(ev, model, step))


def next_model(ev: DispatchEvent, policy: EscalationConfig, config: GatewayConfig) -> str | None:
    current = ev.model
    if policy.models is None:
        pool = ev.candidates[ev.candidate_index + 1 :]
    elif current in policy.models:
        pool = policy.models[policy.models.index(current) + 1 :]
    else:
        pool = policy.models
    answered = {step.model for step in ev.escalations} | {current}
    never = {r.model for r in ev.history if ACTION_BY_KIND.get(r.error_kind) == "next_model"}
    for model in pool:
        if model in config.models and model not in answered and model not in never:
            return model
    return None


def budget_refusal(ev: DispatchEvent, model: str, config: GatewayConfig) -> str | None:
    """Why the tenant's budgets forbid calling ``model`` for this request, or None.

    Dispatch does not see a tenant's spend (its admission owner does), only what admission
    reserved for this request. The rule: a tenant without budgets escalates freely; a
    request a soft budget downgraded is never escalated (the budget asked for a cheaper
    model); otherwise the next model's estimate must fit the request's reservation, as any
    fallback does. The rejected answers' cost is settled at once (a spend that is not
    final) but was not reserved: a hard budget can be passed by the rejected answers of
    the requests in flight when it fills (docs/design/quality.md).
    """
    policy = config.admission.policy_for(ev.request.tenant)
    if policy is None or not policy.budgets:
        return None
    mark = ev.admission
    if mark is not None and mark.downgraded:
        return f"the request was downgraded by a budget ({mark.downgrade_reason})"
    reserved = mark.reserved_usd if mark is not None else Decimal(0)
    estimate = cost_estimate(ev.request, [model], config)
    if estimate > reserved:
        return (
            f"{model} may cost up to {estimate:.6f} USD, above the {reserved:.6f} USD"
            " reserved for this request"
        )
    return None


def escalated_event(ev: DispatchEvent, model: str, step: EscalationStep) -> DispatchEvent:
    """The next attempt: ``model``, a fresh retry count on it, the step recorded."""
    candidates = list(ev.candidates)
    if model not in candidates:
        candidates.append(model)
    failures = sum(1 for r in ev.history if r.model == model)
    return ev.model_copy(
        update={
            "candidates": candidates,
            "candidate_index": candidates.index(model),
            "attempt": ev.attempt + 1,
            "model_attempt": failures + 1,
            "escalations": [*ev.escalations, step],
        }
    )
