"""Which candidate dispatch may call now: circuit breakers and provider limits.

Before each attempt dispatch asks the gate. From the event's current candidate on, a
candidate is skipped without a call when its deployment's breaker is open, or when its
provider limit has no slot for it (``on_limit: next_model``, or a wait past
``max_wait_s``). Each skip goes into the attempt history and becomes a ``skipped``
usage row. The first candidate that passes is called (:class:`Go`). When none passes,
the attempt is held in the retry stage until the soonest breaker half-opens or limit slot
frees (:class:`Hold`), so nothing is lost and no call is wasted (docs/design/routing.md).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from policy.estimate import request_tokens
from schemas.base import utcnow
from schemas.config import GatewayConfig
from schemas.events import AttemptRecord, DispatchEvent, UsageEvent
from schemas.health import deployment_key
from streams.health import HealthBoard
from streams.provider_limiter import ProviderLimiter

# A hold shorter than this would only spin through the retry topic.
_MIN_HOLD_S = 0.5
_MAX_HOLD_S = 30.0


@dataclass(frozen=True)
class Go:
    event: DispatchEvent
    deployment: str
    skipped: list[UsageEvent]


@dataclass(frozen=True)
class Hold:
    event: DispatchEvent
    retry_in_s: float
    reason: str
    skipped: list[UsageEvent]


class CandidateGate:
    def __init__(
        self,
        config: GatewayConfig,
        health: HealthBoard | None = None,
        limiter: ProviderLimiter | None = None,
    ) -> None:
        self.config = config
        self.health = health
        self.limiter = limiter

    def deployment(self, model_name: str) -> str:
        model = self.config.models[model_name]
        return deployment_key(model.provider, model.upstream)

    async def choose(self, ev: DispatchEvent) -> Go | Hold:
        now = time.time()
        tokens = request_tokens(ev.request, self.config.admission)
        records: list[AttemptRecord] = []
        skipped: list[UsageEvent] = []
        waits: list[float] = []
        for index in range(ev.candidate_index, len(ev.candidates)):
            name = ev.candidates[index]
            if name not in self.config.models:
                break  # dispatch dead-letters an unknown model itself
            deployment = self.deployment(name)
            why = None
            if self.health is not None and not self.health.allow(deployment, now):
                why = "breaker_open"
                waits.append(self._reopens_in(deployment, now))
            elif self.limiter is not None and not await self.limiter.acquire(name, tokens):
                why = "provider_limited"
                waits.append(self.limiter.slot_in_s(name, tokens))
                if self.health is not None:
                    # allow() may have counted a half-open probe that will not be made.
                    self.health.release(deployment)
            if why is None:
                chosen = ev
                if index != ev.candidate_index:
                    chosen = ev.model_copy(
                        update={
                            "candidate_index": index,
                            "model_attempt": 1,
                            "history": [*ev.history, *records],
                        }
                    )
                return Go(chosen, deployment, skipped)
            records.append(self._record(ev, name, why))
            skipped.append(self._usage(ev, index, why))
        finite = [w for w in waits if math.isfinite(w)]
        retry_in = min(finite, default=_MAX_HOLD_S)
        reason = ", ".join(sorted({r.error_kind for r in records})) or "no candidate"
        return Hold(ev, max(_MIN_HOLD_S, min(retry_in, _MAX_HOLD_S)), reason, skipped)

    def _reopens_in(self, deployment: str, now: float) -> float:
        assert self.health is not None
        breaker = self.health.breaker(deployment)
        return max(0.0, breaker.opened_at + breaker.cooldown_s - now)

    def _record(self, ev: DispatchEvent, name: str, why: str) -> AttemptRecord:
        return AttemptRecord(
            attempt=ev.attempt,
            model=name,
            provider=self.config.models[name].provider,
            error_kind=why,
            ended_at=utcnow(),
        )

    def _usage(self, ev: DispatchEvent, index: int, why: str) -> UsageEvent:
        name = ev.candidates[index]
        model = self.config.models[name]
        return UsageEvent(
            request_id=ev.request_id,
            attempt=ev.attempt,
            # One row per request, attempt and skipped model: replays of it dedupe.
            call_id=f"{ev.request_id}:{ev.attempt}:{name}:skipped",
            tenant=ev.request.tenant,
            route=ev.route,
            model=name,
            provider=model.provider,
            upstream_model=model.upstream,
            outcome="skipped",
            error_kind=why,
            is_fallback=index > 0,
            complexity=ev.classification.score,
            tier=ev.classification.tier,
            task_type=ev.classification.task_type,
            strategy=ev.strategy,
            arm=ev.arm or "",
        )
