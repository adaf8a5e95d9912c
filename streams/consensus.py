"""Consensus fan-out: ask a route's consensus models at once and keep one answer.

Dispatch hands a non-streamed request on a route with ``consensus`` to :meth:`Consensus.run`
instead of one call (docs/design/quality.md); the picking rules are in policy/consensus.py.

- Each model is gated like a route candidate (breaker, provider limit); a refused one
  gets a ``skipped`` row and is left out.
- Each call has its own usage pair (``purpose: consensus``): ``started`` awaited before
  it, the completion (and, for a tenant with budgets, its spend) published as soon as it
  succeeds, so a crash later in the fan-out still bills it. Failed calls' rows go out at
  the end: when every call failed, the first one's (in model order) goes to the normal
  failure path with its error.
- ``first_valid`` cancels the calls still running once an answer passes; each gets a
  completion row ``error`` / ``cancelled`` with cost 0 (no answer; what the provider
  billed for it is unknown). A call that has returned is never cancelled.
- ``judge`` is one more call (``purpose: judge``), skipped when there is nothing to judge.
- The first voter the gate lets through is the fan-out's lead (``purpose:
  consensus_lead``): analytics counts the request by its lead's completion row alone.
  Voters are gated in model order with no wait between them unless a provider limit makes
  one wait, so the lead is the first model in order that was not refused.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from adapters.errors import ProviderError
from policy.consensus import (
    Answer,
    Pick,
    agreeing,
    answer_text,
    distinct_answers,
    first_valid,
    judge_messages,
    judged,
    majority,
)
from schemas.chat import GenerationParams
from schemas.config import GatewayConfig
from schemas.consensus import ConsensusOutcome, VoterMiss
from schemas.events import DispatchEvent, UsageEvent
from schemas.quality import ConsensusConfig
from schemas.responses import QualityCheck
from streams.candidate_gate import CandidateGate, Hold
from streams.consensus_voter import (
    Answered,
    Done,
    Failed,
    Lead,
    Refused,
    UsageRow,
    Voter,
    VoterCalls,
)
from streams.model_client import ModelCall
from streams.outcome_ledger import OutcomeLedger
from streams.publisher import Publisher
from streams.redaction import Redactor

# The judge answers with a number; room for a short sentence around it.
JUDGE_MAX_TOKENS = 64


@dataclass(frozen=True)
class FanOutAnswer:
    call: ModelCall
    model: str
    cost_usd: Decimal
    outcome: ConsensusOutcome


@dataclass(frozen=True)
class FanOutFailed:
    """Every call failed: the first error (in model order) and its unpublished usage row."""

    error: ProviderError
    usage: UsageEvent


@dataclass
class _Round:
    done: list[Done] = field(default_factory=list)  # completion order
    cancelled: list[Voter] = field(default_factory=list)


class Consensus:
    def __init__(
        self,
        config: GatewayConfig,
        models: Redactor,  # calls go out PII-redacted, in dispatch's attempt scope
        publisher: Publisher,
        ledger: OutcomeLedger,
        gate: CandidateGate,
        usage_row: UsageRow,
    ) -> None:
        self.config = config
        self.ledger = ledger
        self.voters = VoterCalls(config, models, publisher, gate, usage_row)

    def plan(self, ev: DispatchEvent) -> ConsensusConfig | None:
        """The route's consensus when this event fans out (never for a streamed request)."""
        route = self.config.route(ev.route)
        if route is None or route.consensus is None or ev.request.stream:
            return None
        return route.consensus

    def skipped(self, ev: DispatchEvent) -> ConsensusOutcome | None:
        """What a streamed request's response says on a route with consensus."""
        route = self.config.route(ev.route)
        if route is None or route.consensus is None or not ev.request.stream:
            return None
        plan = route.consensus
        return ConsensusOutcome(
            strategy=plan.strategy,
            asked=[],
            chosen=ev.model,
            decided=False,
            note="a streamed request is answered by one model: consensus not run",
            skipped="streamed",
        )

    async def run(self, ev: DispatchEvent) -> FanOutAnswer | FanOutFailed | Hold | None:
        """Fan out and pick; None when the request was answered meanwhile (no outcome)."""
        plan = self.plan(ev)
        if plan is None:
            raise ValueError(f"route {ev.route!r} takes no consensus for this request")
        checks: Sequence[QualityCheck] = plan.checks if plan.strategy == "first_valid" else ()
        lead = Lead()
        voters = [Voter(m, "consensus", lead) for m in plan.models]
        rnd = await self._round(ev, voters, checks, stop_on_valid=plan.strategy == "first_valid")
        answered = [d for d in rnd.done if isinstance(d, Answered)]
        failed = sorted(
            (d for d in rnd.done if isinstance(d, Failed)),
            key=lambda d: plan.models.index(d.voter.model),
        )
        refused = [d for d in rnd.done if isinstance(d, Refused)]
        if not answered:
            if failed:
                await self.voters.publish_rows([f.usage for f in failed[1:]], ev)
                return FanOutFailed(failed[0].error, failed[0].usage)
            reason = ", ".join(sorted({r.reason for r in refused})) or "no model"
            return Hold(ev, min(r.retry_in_s for r in refused), reason, [])
        await self.voters.publish_rows([f.usage for f in failed], ev)
        picked = await self._pick(ev, plan, answered)
        if picked is None:
            return None
        chosen, pick, judge_cost = picked
        misses = [VoterMiss(model=f.voter.model, reason=f.error.kind) for f in failed]
        misses += [VoterMiss(model=r.voter.model, reason=r.reason) for r in refused]
        outcome = ConsensusOutcome(
            strategy=plan.strategy,
            asked=list(plan.models),
            answered=_in_order(plan, (a.voter.model for a in answered)),
            agreed=_in_order(plan, pick.agreed),
            chosen=chosen.voter.model,
            failed=sorted(misses, key=lambda m: plan.models.index(m.model)),
            rejected=[
                VoterMiss(model=a.voter.model, reason=a.failure) for a in answered if a.failure
            ],
            cancelled=_in_order(plan, (v.model for v in rnd.cancelled)),
            judge=plan.judge_model,
            decided=pick.decided,
            note=pick.note,
        )
        cost = sum((a.call.cost_usd for a in answered), judge_cost)
        return FanOutAnswer(chosen.call, chosen.voter.model, cost, outcome)

    async def _pick(
        self, ev: DispatchEvent, plan: ConsensusConfig, answered: list[Answered]
    ) -> tuple[Answered, Pick, Decimal] | None:
        """The chosen answer, how it was picked, and the judge's cost; None when the
        request was answered before the judge could be asked."""
        if plan.strategy == "first_valid":  # answered is in completion order
            pick = first_valid(_answers(answered), [a.failure for a in answered])
            return answered[pick.index], pick, Decimal(0)
        by_model = sorted(answered, key=lambda a: plan.models.index(a.voter.model))
        if plan.strategy == "majority":
            pick = majority(_answers(by_model), plan.agree_needed)
            return by_model[pick.index], pick, Decimal(0)
        if self.ledger.answered(ev.request_id):
            return None  # no judge call for a request already answered
        pick, cost = await self._judge(ev, plan, by_model)
        return by_model[pick.index], pick, cost

    async def _judge(
        self, ev: DispatchEvent, plan: ConsensusConfig, by_model: list[Answered]
    ) -> tuple[Pick, Decimal]:
        answers = _answers(by_model)
        if len(answers) == 1 or distinct_answers(answers) == 1:
            why = "one answer" if len(answers) == 1 else "every answer agrees"
            return Pick(0, agreeing(answers, 0), True, f"{why}: the judge was not asked"), (
                Decimal(0)
            )
        assert plan.judge_model is not None  # the config requires it for judge
        request = ev.request.model_copy(
            update={
                "messages": judge_messages(ev.request.messages, answers),
                "tools": [],
                "tool_choice": "auto",
                "response_format": None,
                "params": GenerationParams(max_tokens=JUDGE_MAX_TOKENS),
            }
        )
        judge = Voter(plan.judge_model, "judge")
        done = await self.voters.call(ev, judge, request, ())
        if isinstance(done, Answered):
            return judged(answers, done.call.result.content, plan.agree_needed), done.call.cost_usd
        if isinstance(done, Failed):
            await self.voters.publish_rows([done.usage], ev)
            return judged(answers, None, plan.agree_needed, done.error.kind), Decimal(0)
        return judged(answers, None, plan.agree_needed, done.reason), Decimal(0)

    async def _round(
        self,
        ev: DispatchEvent,
        voters: list[Voter],
        checks: Sequence[QualityCheck],
        *,
        stop_on_valid: bool,
    ) -> _Round:
        rnd = _Round()
        tasks = {
            asyncio.create_task(self.voters.call(ev, v, ev.request, checks)): v for v in voters
        }
        pending = set(tasks)
        try:
            while pending:
                finished, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                batch = sorted((t.result() for t in finished), key=lambda d: d.finished)
                rnd.done.extend(batch)
                if stop_on_valid and any(
                    isinstance(d, Answered) and d.failure is None for d in batch
                ):
                    break
        finally:
            # Also reached when this handler is cancelled: no call outlives it. A call
            # that has returned is only publishing its row, which must go out: not cut.
            for task in pending:
                if not tasks[task].ended:
                    task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        late: list[Done] = []
        for task in pending:
            if not task.cancelled():
                late.append(task.result())  # raises what the task raised
            elif tasks[task].announced:
                rnd.cancelled.append(tasks[task])
        rnd.done.extend(sorted(late, key=lambda d: d.finished))
        rows = [self.voters.cancelled_row(ev, v) for v in rnd.cancelled]
        await self.voters.publish_rows(rows, ev)
        return rnd


def _answers(done: Sequence[Answered]) -> list[Answer]:
    return [Answer(d.voter.model, answer_text(d.call.result)) for d in done]


def _in_order(plan: ConsensusConfig, models: Iterable[str]) -> list[str]:
    return sorted(models, key=plan.models.index)
