"""Dispatch: make one provider attempt and publish where its outcome leads.

success              -> response (+ usage); a streamed request's deltas go to the chunks
                        topic first (streams/stream_call.py)
retryable, delayed   -> retry topic with ``due_at`` (+ usage)
fallback right away  -> back onto the dispatch topic for the next candidate (+ usage)
permanent / exhausted-> dead letter with the attempt history (+ usage)

Every physical call is framed by two usage events with one ``call_id``: ``started``
(awaited before the call, so a worker killed mid-call still leaves a trace) and its
completion. Terminal outcomes go through the outcome ledger, so a request gets at most
one; an event whose request is answered, or whose attempt this worker already started,
is dropped before any call (docs/design/delivery.md).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from datetime import datetime, timedelta
from decimal import Decimal
from uuid import uuid4

from pydantic import ValidationError

from adapters.errors import ProviderError
from policy.escalation import Escalate
from policy.retry import GiveUp, decide, expired
from schemas.admission import SpendEvent
from schemas.base import utcnow
from schemas.config import GatewayConfig, RetryPolicyConfig
from schemas.events import (
    DeadLetter,
    DispatchEvent,
    ErrorInfo,
    LLMResponse,
    RetryEvent,
    StreamedCall,
    UsageEvent,
)
from streams.answer import response_for
from streams.cache_fill import send_to_cache
from streams.candidate_gate import CandidateGate, Hold
from streams.consensus import Consensus, FanOutFailed
from streams.dead_letters import schema_invalid
from streams.escalation import (
    Escalation,
    escalation_reason,
    quality_letter,
    stamp_response,
    stamp_usage,
)
from streams.health import HealthBoard
from streams.model_client import ModelClient
from streams.outcome_ledger import OutcomeLedger
from streams.provider_limiter import ProviderLimiter
from streams.publisher import Publisher
from streams.redaction import Redactor
from streams.started_attempts import StartedAttempts
from streams.stream_call import ChunkPublisher, streamed_call

log = logging.getLogger(__name__)


class Dispatcher:
    def __init__(
        self,
        config: GatewayConfig,
        models: ModelClient,
        publisher: Publisher,
        ledger: OutcomeLedger,
        rng: random.Random | None = None,
        *,
        health: HealthBoard | None = None,
        limiter: ProviderLimiter | None = None,
    ) -> None:
        self.config = config
        self.models = models
        self.publisher = publisher
        self.ledger = ledger
        self.topics = config.topics
        self.started = StartedAttempts(config.dedup_window)
        # Provider calls in flight (dispatch.max_in_flight), shared by the dispatch
        # topic's window and triage's inline first attempts.
        self.slots = asyncio.Semaphore(config.dispatch.max_in_flight)
        self.gate = CandidateGate(config, health, limiter)
        # Every provider call goes through it: sent PII-redacted (streams/redaction.py).
        self.redactor = Redactor(config, models)
        self.consensus = Consensus(config, self.redactor, publisher, ledger, self.gate, self._usage)
        self.escalation = Escalation(config, publisher, ledger)
        self._rng = rng or random.Random()
        self.dropped_answered = 0
        self.dropped_forks = 0

    def _policy(self, route: str) -> RetryPolicyConfig:
        found = self.config.route(route)
        # A route renamed under a running request keeps the default policy.
        return found.retry if found is not None else RetryPolicyConfig()

    def _usage(self, ev: DispatchEvent, call_id: str, latency_ms: float) -> UsageEvent:
        model = self.config.models[ev.model]
        return UsageEvent(
            request_id=ev.request_id,
            attempt=ev.attempt,
            call_id=call_id,
            tenant=ev.request.tenant,
            route=ev.route,
            model=ev.model,
            provider=model.provider,
            upstream_model=model.upstream,
            outcome="success",
            is_fallback=ev.candidate_index > 0,
            latency_ms=round(latency_ms, 3),
            complexity=ev.classification.score,
            tier=ev.classification.tier,
            task_type=ev.classification.task_type,
            strategy=ev.strategy,
            arm=ev.arm or "",
            started_at=utcnow() - timedelta(milliseconds=latency_ms),
            escalated=bool(ev.escalations),
            escalation_reason=escalation_reason(ev),
            pii_counts=self.redactor.counts(),
            context_action=ev.context.action if ev.context is not None else "",
        )

    async def handle(self, raw: bytes) -> None:
        """One event of the dispatch topic (the window holds a slot of ``slots``)."""
        try:
            ev = DispatchEvent.from_bytes(raw)
        except ValidationError as exc:
            letter = schema_invalid("dispatch", raw, "dispatch event", exc)
            await self.publisher.send(self.topics.dlq, letter, None)
            return
        await self.dispatch(ev)

    async def inline(self, ev: DispatchEvent) -> None:
        """A first attempt made by triage's task, not sent through the dispatch topic
        (docs/design/inline_dispatch.md); it waits for one of the same ``slots``."""
        async with self.slots:
            await self.dispatch(ev)

    async def dispatch(self, ev: DispatchEvent) -> None:
        await self.ledger.ready.wait()
        if self.ledger.answered(ev.request_id):
            self.dropped_answered += 1
            return
        if ev.model not in self.config.models:
            letter = DeadLetter(
                request_id=ev.request_id,
                tenant=ev.request.tenant,
                stage="dispatch",
                reason="unknown_route",
                detail=f"model {ev.model!r} of route {ev.route!r} is not in the config",
                attempts=ev.attempt - 1,
                history=ev.history,
            )
            await self._settle(ev, (self.topics.dlq, letter))
            return
        gone = expired(ev, self._policy(ev.route), utcnow())
        if gone is not None:
            letter = self._dead_letter(ev, gone, None)
            await self._settle(ev, (self.topics.dlq, letter))
            return
        if not self.started.first_start(ev.request_id, ev.attempt):
            self.dropped_forks += 1
            log.info("attempt %d of %s already started here: dropped", ev.attempt, ev.request_id)
            return
        try:
            if self.consensus.plan(ev) is not None:
                await self._fan_out(ev)
                return
            gate = await self.gate.choose(ev)
            if isinstance(gate, Hold):
                # Not started after all: the held copy comes back with this attempt number.
                self.started.forget(ev.request_id)
                await self._hold(gate)
                return
            if gate.skipped:
                await self.publisher.send_all(
                    *((self.topics.usage, u, ev.request_id) for u in gate.skipped)
                )
            await self._attempt(gate.event, gate.deployment)
        except BaseException:
            # The window runs a failed handler again (or another worker takes the event
            # over): that run is not a fork.
            self.started.forget(ev.request_id)
            raise

    async def _settle(
        self,
        ev: DispatchEvent,
        outcome: tuple[str, DeadLetter | LLMResponse],
        usage: UsageEvent | None = None,
    ) -> None:
        """Publish a terminal outcome (unless one exists) together with its usage row.

        For a tenant with budgets the call's spend goes first and is awaited: once the
        outcome is out, a replay of this event is dropped, so a spend published after it
        could be lost for good (docs/design/state.md).
        """
        request_id = ev.request_id
        self.started.forget(request_id)
        tenant = ev.request.tenant
        policy = self.config.admission.policy_for(tenant)
        if policy is not None and policy.budgets:
            spend = SpendEvent(
                request_id=request_id,
                tenant=tenant,
                call_id=usage.call_id if usage is not None else "",
                route=ev.route,
                model=ev.candidates[0],
                cost_usd=usage.cost_usd if usage is not None else Decimal(0),
                final=True,
            )
            await self.publisher.send(self.topics.admission, spend, tenant)
        topic, event = outcome
        # A cache leader's answer (or failure) goes to the requests waiting for it before
        # the outcome is out: once it is, a replay of this event is dropped (cache.md).
        if ev.cache is not None:
            await send_to_cache(self.publisher, self.topics.cache, ev.cache, event)
        sends = [self.publisher.send(self.topics.usage, usage, request_id)] if usage else []
        settle = self.ledger.settle(request_id, self.publisher.send(topic, event, request_id))
        done = await asyncio.gather(settle, *sends)
        if not done[0]:
            log.info("request %s was answered meanwhile: outcome not published", request_id)

    def _health_record(self, deployment: str, ok: bool, latency_ms: float | None) -> None:
        if self.gate.health is not None:
            self.gate.health.record(deployment, ok, latency_ms)

    async def _hold(self, hold: Hold) -> None:
        """Every candidate is refused for now: wait in the retry stage, no call made."""
        ev = hold.event
        retry = RetryEvent(
            request_id=ev.request_id,
            dispatch=ev,
            due_at=utcnow() + timedelta(seconds=hold.retry_in_s),
            last_error=ErrorInfo(kind="held", message=f"every candidate refused: {hold.reason}"),
        )
        sends = [(self.topics.usage, u, ev.request_id) for u in hold.skipped]
        await self.publisher.send_all(*sends, (self.topics.retry, retry, ev.request_id))

    async def _attempt(self, ev: DispatchEvent, deployment: str) -> None:
        call_id = uuid4().hex
        scope = self.redactor.enter(ev)  # this attempt's calls, sent redacted
        # Awaited before the call: a call is never made without a trace of it.
        started = self._usage(ev, call_id, 0.0).model_copy(update={"outcome": "started"})
        await self.publisher.send(self.topics.usage, started, ev.request_id)
        t0 = time.perf_counter()
        started_at = utcnow()
        chunks = None
        if ev.request.stream:
            chunks = ChunkPublisher(self.publisher, self.topics.chunks, ev, call_id)
        try:
            if chunks is not None:
                call = await streamed_call(scope, ev, chunks)
            else:
                call = await scope.complete(ev.model, ev.request)
        except ProviderError as error:
            latency_ms = (time.perf_counter() - t0) * 1000
            # Only failures a retry could fix say the deployment is unwell; a refusal of
            # this request (400, unsupported feature) shows it up and answering.
            self._health_record(deployment, not error.retryable, None)
            usage = self._usage(ev, call_id, latency_ms).model_copy(
                update={
                    "outcome": "error",
                    "error_kind": error.kind,
                    "status_code": error.status_code or 0,
                    "ttft_ms": chunks.ttft_ms if chunks is not None else 0.0,
                }
            )
            published = 0
            if chunks is not None:
                await chunks.flush()  # the dead letter must come after its chunks
                published = chunks.published
            await self._after_failure(ev, error, usage, started_at, published)
            return
        except BaseException:
            if self.gate.health is not None:
                self.gate.health.release(deployment)  # a probe cut short tells nothing
            raise
        latency_ms = (time.perf_counter() - t0) * 1000
        self._health_record(deployment, True, latency_ms)
        r = call.result
        usage = self._usage(ev, call_id, latency_ms).model_copy(
            update={
                "input_tokens": r.input_tokens,
                "output_tokens": r.output_tokens,
                "cached_input_tokens": r.cached_input_tokens,
                "cost_usd": call.cost_usd,
                "ttft_ms": chunks.ttft_ms if chunks is not None else 0.0,
            }
        )
        # Quality checks of a route with escalation (streams/escalation.py).
        verdict = self.escalation.review(ev, r, call.cost_usd, call_id, streamed=chunks is not None)
        usage = stamp_usage(usage, verdict)
        if isinstance(verdict, Escalate):
            await self.escalation.escalate(ev, verdict, usage)
            return
        if (letter := quality_letter(ev, verdict)) is not None:
            await self._settle(ev, (self.topics.dlq, letter), usage)
            return
        streamed = None
        if chunks is not None:
            published = chunks.published
            streamed = StreamedCall(call_id=call_id, chunks=published, ttft_ms=chunks.ttft_ms)
        skipped = self.consensus.skipped(ev)  # a streamed request on a route with consensus
        response = response_for(
            self.config, ev, ev.model, call, streamed=streamed, consensus=skipped
        )
        response = scope.respond(stamp_response(response, ev, verdict))
        await self._settle(ev, (self.topics.responses, response), usage)

    async def _fan_out(self, ev: DispatchEvent) -> None:
        """A route with consensus: N calls, one answer (streams/consensus.py)."""
        started_at = utcnow()
        scope = self.redactor.enter(ev)  # every voter's and the judge's calls
        done = await self.consensus.run(ev)
        if isinstance(done, Hold):
            self.started.forget(ev.request_id)
            await self._hold(done)
        elif isinstance(done, FanOutFailed):
            await self._after_failure(ev, done.error, done.usage, started_at)
        elif done is not None:  # each call's usage row is out already
            outcome, cost = done.outcome, done.cost_usd
            response = response_for(
                self.config, ev, done.model, done.call, consensus=outcome, cost_usd=cost
            )
            await self._settle(ev, (self.topics.responses, scope.respond(response)))

    def _dead_letter(
        self, ev: DispatchEvent, decision: GiveUp, error: ProviderError | None
    ) -> DeadLetter:
        return DeadLetter(
            request_id=ev.request_id,
            tenant=ev.request.tenant,
            stage="dispatch",
            reason=decision.reason,
            detail=decision.detail,
            attempts=len(decision.history),
            last_error=error.to_error_info() if error is not None else None,
            history=decision.history,
        )

    async def _after_failure(
        self,
        ev: DispatchEvent,
        error: ProviderError,
        usage: UsageEvent,
        started_at: datetime,
        chunks_published: int = 0,
    ) -> None:
        policy = self._policy(ev.route)
        decision = decide(
            error,
            ev,
            policy,
            utcnow(),
            self._rng.random(),
            started_at=started_at,
            chunks_published=chunks_published,
        )
        key = ev.request_id
        if isinstance(decision, GiveUp):
            letter = self._dead_letter(ev, decision, error)
            await self._settle(ev, (self.topics.dlq, letter), usage)
            return
        if self.ledger.answered(key):
            # Another copy of this request was answered while this attempt ran.
            await self.publisher.send(self.topics.usage, usage, key)
            return
        nxt = decision.next_event
        if decision.delay_s <= 0:
            await self.publisher.send_all(
                (self.topics.usage, usage, key), (self.topics.dispatch, nxt, key)
            )
            return
        retry = RetryEvent(
            request_id=ev.request_id,
            dispatch=nxt,
            due_at=utcnow() + timedelta(seconds=decision.delay_s),
            last_error=error.to_error_info(),
        )
        await self.publisher.send_all(
            (self.topics.usage, usage, key), (self.topics.retry, retry, key)
        )
