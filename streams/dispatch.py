"""Dispatch: make one provider attempt and publish where its outcome leads.

success              -> response (+ usage)
retryable, delayed   -> retry topic with ``due_at`` (+ usage)
fallback right away  -> back onto the dispatch topic for the next candidate (+ usage)
permanent / exhausted-> dead letter with the last error (+ usage)
"""

from __future__ import annotations

import time
from datetime import timedelta

from pydantic import ValidationError

from adapters.errors import ProviderError
from adapters.model_client import ModelClient
from policy.retry import GiveUp, decide
from schemas.base import utcnow
from schemas.config import GatewayConfig, RetryPolicyConfig
from schemas.events import (
    DeadLetter,
    DispatchEvent,
    LLMResponse,
    RetryEvent,
    TokenUsage,
    UsageEvent,
)
from streams.dead_letters import schema_invalid
from streams.publisher import Publisher


class Dispatcher:
    def __init__(self, config: GatewayConfig, models: ModelClient, publisher: Publisher) -> None:
        self.config = config
        self.models = models
        self.publisher = publisher
        self.topics = config.topics

    def _policy(self, route: str) -> RetryPolicyConfig:
        found = self.config.route(route)
        # A route renamed under a running request keeps the default policy.
        return found.retry if found is not None else RetryPolicyConfig()

    def _usage(self, ev: DispatchEvent, latency_ms: float) -> UsageEvent:
        model = self.config.models[ev.model]
        return UsageEvent(
            request_id=ev.request_id,
            attempt=ev.attempt,
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
            started_at=utcnow() - timedelta(milliseconds=latency_ms),
        )

    async def handle(self, raw: bytes) -> None:
        try:
            ev = DispatchEvent.from_bytes(raw)
        except ValidationError as exc:
            letter = schema_invalid("dispatch", raw, "dispatch event", exc)
            await self.publisher.send(self.topics.dlq, letter, None)
            return
        if ev.model not in self.config.models:
            letter = DeadLetter(
                request_id=ev.request_id,
                tenant=ev.request.tenant,
                stage="dispatch",
                reason="unknown_route",
                detail=f"model {ev.model!r} of route {ev.route!r} is not in the config",
                attempts=ev.attempt - 1,
            )
            await self.publisher.send(self.topics.dlq, letter, ev.request_id)
            return
        await self._attempt(ev)

    async def _attempt(self, ev: DispatchEvent) -> None:
        t0 = time.perf_counter()
        try:
            call = await self.models.complete(ev.model, ev.request)
        except ProviderError as error:
            latency_ms = (time.perf_counter() - t0) * 1000
            usage = self._usage(ev, latency_ms).model_copy(
                update={
                    "outcome": "error",
                    "error_kind": error.kind,
                    "status_code": error.status_code or 0,
                }
            )
            await self._after_failure(ev, error, usage)
            return
        latency_ms = (time.perf_counter() - t0) * 1000
        r = call.result
        usage = self._usage(ev, latency_ms).model_copy(
            update={
                "input_tokens": r.input_tokens,
                "output_tokens": r.output_tokens,
                "cached_input_tokens": r.cached_input_tokens,
                "cost_usd": call.cost_usd,
            }
        )
        model = self.config.models[ev.model]
        response = LLMResponse(
            request_id=ev.request_id,
            tenant=ev.request.tenant,
            route=ev.route,
            model=ev.model,
            provider=model.provider,
            upstream_model=r.upstream_model,
            content=r.content,
            tool_calls=r.tool_calls,
            citations=r.citations,
            finish_reason=r.finish_reason,
            usage=TokenUsage(
                input_tokens=r.input_tokens,
                output_tokens=r.output_tokens,
                cached_input_tokens=r.cached_input_tokens,
            ),
            cost_usd=call.cost_usd,
            attempts=ev.attempt,
            latency_ms=round((utcnow() - ev.first_seen_at).total_seconds() * 1000, 3),
            provider_request_id=r.provider_request_id,
        )
        await self.publisher.send_all(
            (self.topics.usage, usage, ev.request_id),
            (self.topics.responses, response, ev.request_id),
        )

    async def _after_failure(
        self, ev: DispatchEvent, error: ProviderError, usage: UsageEvent
    ) -> None:
        decision = decide(error, ev, self._policy(ev.route))
        key = ev.request_id
        if isinstance(decision, GiveUp):
            letter = DeadLetter(
                request_id=ev.request_id,
                tenant=ev.request.tenant,
                stage="dispatch",
                reason=decision.reason,
                detail=decision.detail,
                attempts=ev.attempt,
                last_error=error.to_error_info(),
            )
            await self.publisher.send_all(
                (self.topics.usage, usage, key), (self.topics.dlq, letter, key)
            )
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
