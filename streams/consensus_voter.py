"""One call of a consensus fan-out (streams/consensus.py) and the usage rows it leaves.

A voter is gated like a route candidate, announced by its ``started`` row before the call,
and its completion row (with the tenant's spend, when it has budgets) is published as soon
as it answers; a failed call's row is handed back for the fan-out to publish or re-use.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from uuid import uuid4

from adapters.errors import ProviderError
from policy.quality import first_failure
from schemas.admission import SpendEvent
from schemas.config import GatewayConfig
from schemas.consensus import LEAD_PURPOSE, CallPurpose
from schemas.events import DispatchEvent, LLMRequest, UsageEvent
from schemas.responses import QualityCheck
from streams.candidate_gate import CandidateGate, Hold
from streams.model_client import ModelCall
from streams.publisher import Publisher
from streams.redaction import Redactor

UsageRow = Callable[[DispatchEvent, str, float], UsageEvent]


@dataclass
class Lead:
    """Shared by one fan-out's voters: whether one of them has taken the lead."""

    taken: bool = False


@dataclass
class Voter:
    model: str
    purpose: CallPurpose
    lead: Lead | None = None  # a voter's fan-out; None for the judge
    call_id: str = ""
    deployment: str = ""
    announced: bool = False  # its started row is (being) published
    t0: float | None = None  # perf_counter at the call's start
    ended: bool = False  # the call returned or raised: only its row is left to publish


@dataclass(frozen=True)
class Answered:
    voter: Voter
    call: ModelCall
    failure: str | None  # first_valid: the check the answer failed
    finished: float


@dataclass(frozen=True)
class Failed:
    voter: Voter
    error: ProviderError
    usage: UsageEvent  # not published yet
    finished: float


@dataclass(frozen=True)
class Refused:
    voter: Voter
    retry_in_s: float
    reason: str
    finished: float


Done = Answered | Failed | Refused


class VoterCalls:
    """Makes one fan-out's calls and publishes their usage rows."""

    def __init__(
        self,
        config: GatewayConfig,
        models: Redactor,  # calls go out PII-redacted, in dispatch's attempt scope
        publisher: Publisher,
        gate: CandidateGate,
        usage_row: UsageRow,
    ) -> None:
        self.config = config
        self.models = models
        self.publisher = publisher
        self.gate = gate
        self._usage_row = usage_row
        self.usage_topic = config.topics.usage

    async def call(
        self,
        ev: DispatchEvent,
        voter: Voter,
        request: LLMRequest,
        checks: Sequence[QualityCheck],
    ) -> Done:
        alone = ev.model_copy(
            update={"candidates": [voter.model], "candidate_index": 0, "request": request}
        )
        gate = await self.gate.choose(alone)
        if isinstance(gate, Hold):
            await self.publish_rows([self._tag(u, voter) for u in gate.skipped], ev)
            return Refused(voter, gate.retry_in_s, gate.reason, time.monotonic())
        if voter.lead is not None and not voter.lead.taken:
            # Nothing awaited since the gate answered: no other voter can claim it meanwhile.
            voter.lead.taken = True
            voter.purpose = LEAD_PURPOSE
        voter.deployment = gate.deployment
        voter.call_id = uuid4().hex
        # Awaited before the call: a call is never made without a trace of it.
        started = self._row(ev, voter, 0.0).model_copy(update={"outcome": "started"})
        voter.announced = True
        await self.publisher.send(self.usage_topic, started, ev.request_id)
        voter.t0 = time.perf_counter()
        try:
            call = await self.models.complete(voter.model, request)
        except ProviderError as error:
            voter.ended = True
            latency_ms = (time.perf_counter() - voter.t0) * 1000
            self._health(voter.deployment, not error.retryable, None)
            usage = self._row(ev, voter, latency_ms).model_copy(
                update={
                    "outcome": "error",
                    "error_kind": error.kind,
                    "status_code": error.status_code or 0,
                }
            )
            return Failed(voter, error, usage, time.monotonic())
        except BaseException:
            if self.gate.health is not None:
                self.gate.health.release(voter.deployment)  # cut short: tells nothing
            raise
        voter.ended = True
        latency_ms = (time.perf_counter() - voter.t0) * 1000
        self._health(voter.deployment, True, latency_ms)
        found = first_failure(ev.request, call.result, checks) if checks else None
        r = call.result
        usage = self._row(ev, voter, latency_ms).model_copy(
            update={
                "input_tokens": r.input_tokens,
                "output_tokens": r.output_tokens,
                "cached_input_tokens": r.cached_input_tokens,
                "cost_usd": call.cost_usd,
                "quality_failure": found.check if found is not None else "",
            }
        )
        await self.publish_rows([usage], ev)
        return Answered(voter, call, found.check if found is not None else None, time.monotonic())

    def _row(self, ev: DispatchEvent, voter: Voter, latency_ms: float) -> UsageEvent:
        return self._tag(self._usage_row(ev, voter.call_id, latency_ms), voter)

    def _tag(self, row: UsageEvent, voter: Voter) -> UsageEvent:
        model = self.config.models[voter.model]
        return row.model_copy(
            update={
                "model": voter.model,
                "provider": model.provider,
                "upstream_model": model.upstream,
                "purpose": voter.purpose,
            }
        )

    def cancelled_row(self, ev: DispatchEvent, voter: Voter) -> UsageEvent:
        latency_ms = (time.perf_counter() - voter.t0) * 1000 if voter.t0 is not None else 0.0
        return self._row(ev, voter, latency_ms).model_copy(
            update={"outcome": "error", "error_kind": "cancelled"}
        )

    def _health(self, deployment: str, ok: bool, latency_ms: float | None) -> None:
        if self.gate.health is not None:
            self.gate.health.record(deployment, ok, latency_ms)

    async def publish_rows(self, rows: Sequence[UsageEvent], ev: DispatchEvent) -> None:
        """Usage rows, and for a tenant with budgets each billed call's spend (not final:
        the outcome's own spend event releases the reservation)."""
        if not rows:
            return
        key = ev.request_id
        sends: list[tuple[str, UsageEvent | SpendEvent, str | None]] = [
            (self.usage_topic, row, key) for row in rows
        ]
        policy = self.config.admission.policy_for(ev.request.tenant)
        if policy is not None and policy.budgets:
            sends += [
                (self.config.topics.admission, _spend(ev, row), ev.request.tenant)
                for row in rows
                if row.cost_usd > 0
            ]
        await self.publisher.send_all(*sends)


def _spend(ev: DispatchEvent, row: UsageEvent) -> SpendEvent:
    return SpendEvent(
        request_id=ev.request_id,
        tenant=ev.request.tenant,
        call_id=row.call_id,
        route=ev.route,
        model=row.model,
        cost_usd=row.cost_usd,
        final=False,
    )
