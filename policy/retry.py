"""What to do after a failed provider attempt: retry the same model, switch models, or give up.

:func:`decide` is a pure function of the typed provider error, the dispatch event (its
candidates, counters, deadline and attempt history), the route's retry policy, the time
``now`` and one uniform random ``draw`` in [0, 1]. It appends the failed attempt to the
history, and the history travels on the next event and on the dead letter, so a dead
letter shows every attempt.

Retries are budgeted in time: a request has a deadline, the earlier of the route's
``deadline_s`` after triage first saw it and the caller's own ``deadline_s`` or
``deadline_at`` (:func:`deadline_for`). ``max_attempts`` is a hard cap behind it.

The error says what to do about it: its ``action`` (the table in :mod:`adapters.errors`
gives each class's). Decision table, first matching row wins (n = attempts made, this one
included):

========================================  ===============================================
situation                                 decision
========================================  ===============================================
action ``give_up`` (content filtered,     give up ``permanent_error``: the request's own
invalid request)                          fault
the deadline has passed                   give up ``deadline_exceeded``
``attempt >= max_attempts``               give up ``attempts_exhausted``
action ``next_model`` (context window,    this model can never serve the request: *move
authentication, unsupported feature)      on*; nothing to move to: ``permanent_error``
Retry-After > ``max_retry_after_s``       *move on*; nothing to move to:
                                          ``retry_after_too_long``
``model_attempt > same_model_retries``    the next usable candidate ahead, at once (the
and a usable candidate ahead              model's own retries are used up)
otherwise (action ``retry``)              retry this model after
                                          ``max(Retry-After, backoff(model_attempt))``;
                                          if that is due after the deadline, *move on*;
                                          nothing to move to: ``deadline_exceeded``
========================================  ===============================================

*Move on* means leave the current candidate: to the first usable candidate ahead at once,
else back to the earliest usable candidate that failed only transiently, after its own
backoff (and any Retry-After it gave that has not run out). "Usable" means the model has
no ``next_model`` failure (context window, authentication, unsupported feature) in the
history, and no unexpired Retry-After above ``max_retry_after_s``. So a last fallback that
rejects a feature sends the request back to a primary that is only in an outage instead
of dead-lettering it; if going back would pass the deadline, the reason is
``deadline_exceeded``.

Backoff is full jitter: ``draw * min(backoff_max_s, backoff_initial_s *
backoff_multiplier ** (n - 1))`` for the n-th retry on one model; spreading retries over
the whole window keeps a fleet of requests from coming back in lock-step after an outage.
A Retry-After is a floor, never shortened. A retry never waits past the deadline: it
gives up (or moves on) instead.

Every give-up's detail reads ``"<reason> after <n> attempts: <model> <error_kind> x<k>,
...; <why>"``, so the cause shows even when the last error is not it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from adapters.errors import ACTION_BY_KIND, ProviderError
from schemas.events import AttemptRecord, DeadLetterReason, DispatchEvent, LLMRequest
from schemas.routes import RetryPolicyConfig


@dataclass(frozen=True)
class RetryAttempt:
    next_event: DispatchEvent
    delay_s: float


@dataclass(frozen=True)
class GiveUp:
    reason: DeadLetterReason
    detail: str
    history: list[AttemptRecord]


RetryDecision = RetryAttempt | GiveUp


def deadline_for(
    request: LLMRequest, policy: RetryPolicyConfig, first_seen_at: datetime
) -> datetime:
    """The request's retry deadline: the earliest of the route's and the caller's."""
    deadline = first_seen_at + timedelta(seconds=policy.deadline_s)
    if request.deadline_s is not None:
        deadline = min(deadline, first_seen_at + timedelta(seconds=request.deadline_s))
    if request.deadline_at is not None:
        deadline = min(deadline, request.deadline_at)
    return deadline


def deadline_of(event: DispatchEvent, policy: RetryPolicyConfig) -> datetime:
    # Events from before triage stamped a deadline get the one triage would have set.
    if event.deadline_at is not None:
        return event.deadline_at
    return deadline_for(event.request, policy, event.first_seen_at)


def backoff_ceiling_s(policy: RetryPolicyConfig, n: int) -> float:
    """The longest wait before the n-th retry on one model (n >= 1)."""
    try:
        ceiling = policy.backoff_initial_s * policy.backoff_multiplier ** (n - 1)
    except OverflowError:
        return policy.backoff_max_s
    return float(min(ceiling, policy.backoff_max_s))


def backoff_s(policy: RetryPolicyConfig, n: int, draw: float) -> float:
    """Full jitter: uniform over [0, ceiling] as ``draw`` runs over [0, 1]."""
    if not 0.0 <= draw <= 1.0:
        raise ValueError(f"draw must be a uniform random number in [0, 1], got {draw!r}")
    return draw * backoff_ceiling_s(policy, n)


def summarize(history: list[AttemptRecord]) -> str:
    """``"gpt-4o-mini connection_error x7, claude-haiku unsupported_feature x1"``."""
    counts: dict[tuple[str, str], int] = {}
    for record in history:
        key = (record.model, record.error_kind)
        counts[key] = counts.get(key, 0) + 1
    return ", ".join(f"{model} {kind} x{n}" for (model, kind), n in counts.items())


def _give_up(reason: DeadLetterReason, why: str, history: list[AttemptRecord]) -> GiveUp:
    n = len(history)
    told = f"{reason} after {n} attempt{'s' if n != 1 else ''}"
    if history:
        told += f": {summarize(history)}"
    return GiveUp(reason, f"{told}; {why}", history)


def expired(event: DispatchEvent, policy: RetryPolicyConfig, now: datetime) -> GiveUp | None:
    """Before an attempt: give up if the deadline passed while the event waited."""
    deadline = deadline_of(event, policy)
    if now < deadline:
        return None
    return _give_up(
        "deadline_exceeded",
        f"deadline {deadline.isoformat()} passed before attempt {event.attempt}",
        list(event.history),
    )


@dataclass(frozen=True)
class _Context:
    event: DispatchEvent
    history: list[AttemptRecord]
    policy: RetryPolicyConfig
    now: datetime
    deadline: datetime
    draw: float

    def failures(self, model: str) -> list[AttemptRecord]:
        return [r for r in self.history if r.model == model]

    def usable(self, model: str) -> bool:
        failures = self.failures(model)
        if any(ACTION_BY_KIND.get(r.error_kind) == "next_model" for r in failures):
            return False
        return self.retry_after_left_s(failures) <= self.policy.max_retry_after_s

    def retry_after_left_s(self, failures: list[AttemptRecord]) -> float:
        last = failures[-1] if failures else None
        if last is None or last.retry_after_s is None:
            return 0.0
        due = last.ended_at + timedelta(seconds=last.retry_after_s)
        return max(0.0, (due - self.now).total_seconds())

    def switch(self, index: int) -> RetryAttempt:
        """To ``candidates[index]``: at once if untried, else after its backoff."""
        failures = self.failures(self.event.candidates[index])
        delay = 0.0
        if failures:
            delay = max(
                backoff_s(self.policy, len(failures), self.draw),
                self.retry_after_left_s(failures),
            )
        nxt = self.event.model_copy(
            update={
                "attempt": self.event.attempt + 1,
                "model_attempt": len(failures) + 1,
                "candidate_index": index,
                "history": self.history,
            }
        )
        return RetryAttempt(nxt, delay)

    def in_time(self, delay_s: float) -> bool:
        return self.now + timedelta(seconds=delay_s) <= self.deadline

    def ahead(self) -> RetryAttempt | None:
        for index in range(self.event.candidate_index + 1, len(self.event.candidates)):
            model = self.event.candidates[index]
            if model != self.event.model and self.usable(model):
                switched = self.switch(index)
                if self.in_time(switched.delay_s):
                    return switched
        return None

    def move_on(self) -> RetryAttempt | GiveUp | None:
        """Leave the current model; None when no other candidate is usable at all."""
        forward = self.ahead()
        if forward is not None:
            return forward
        late: list[str] = []
        for index, model in enumerate(self.event.candidates):
            if model == self.event.model or not self.usable(model) or not self.failures(model):
                continue
            back = self.switch(index)
            if self.in_time(back.delay_s):
                return back
            late.append(f"{model} in {back.delay_s:.1f}s")
        if late:
            return _give_up(
                "deadline_exceeded",
                f"retrying {', '.join(late)} would pass the deadline {self.deadline.isoformat()}",
                self.history,
            )
        return None


def decide(
    error: ProviderError,
    event: DispatchEvent,
    policy: RetryPolicyConfig,
    now: datetime,
    draw: float,
    *,
    started_at: datetime | None = None,
    chunks_published: int = 0,
) -> RetryDecision:
    """The next step after ``event``'s attempt failed with ``error`` at ``now``.

    ``draw`` is a uniform random number in [0, 1] for the backoff's jitter (the caller
    passes ``random.random()``; tests pass fixed values). ``started_at`` is when the failed
    attempt began, recorded in the history when known. ``chunks_published``: deltas of this
    attempt already on the chunks topic; once a caller may have seen part of an answer, no
    retry or other model can continue it (docs/design/streaming.md).
    """
    if not 0.0 <= draw <= 1.0:
        raise ValueError(f"draw must be a uniform random number in [0, 1], got {draw!r}")
    if now.tzinfo is None:
        raise ValueError(f"now must carry a timezone (use schemas.base.utcnow()), got {now!r}")
    record = AttemptRecord(
        attempt=event.attempt,
        model=event.model,
        provider=error.provider,
        error_kind=error.kind,
        status_code=error.status_code,
        retry_after_s=error.retry_after_s,
        started_at=started_at,
        ended_at=now,
    )
    history = [*event.history, record]
    ctx = _Context(event, history, policy, now, deadline_of(event, policy), draw)
    model = event.model

    if chunks_published:
        return _give_up(
            "stream_interrupted",
            f"{error.kind} from {model} after {chunks_published} chunks were published",
            history,
        )
    if error.action == "give_up":
        return _give_up("permanent_error", f"{error.kind} from {model}: {error}", history)
    if now >= ctx.deadline:
        return _give_up("deadline_exceeded", f"deadline {ctx.deadline.isoformat()} passed", history)
    if event.attempt >= policy.max_attempts:
        return _give_up(
            "attempts_exhausted", f"max_attempts={policy.max_attempts} reached", history
        )

    if error.action == "next_model":
        moved = ctx.move_on()
        if moved is not None:
            return moved
        return _give_up(
            "permanent_error",
            f"{error.kind} from {model}: {error}; no other candidate is left to try",
            history,
        )

    retry_after = error.retry_after_s
    if retry_after is not None and retry_after > policy.max_retry_after_s:
        moved = ctx.move_on()
        if moved is not None:
            return moved
        return _give_up(
            "retry_after_too_long",
            f"{model} asks to wait {retry_after:g}s, above max_retry_after_s"
            f"={policy.max_retry_after_s:g}, and no other candidate is left",
            history,
        )

    if event.model_attempt > policy.same_model_retries:
        forward = ctx.ahead()
        if forward is not None:
            return forward
    delay = max(retry_after or 0.0, backoff_s(policy, event.model_attempt, draw))
    if ctx.in_time(delay):
        nxt = event.model_copy(
            update={
                "attempt": event.attempt + 1,
                "model_attempt": event.model_attempt + 1,
                "history": history,
            }
        )
        return RetryAttempt(nxt, delay)
    moved = ctx.move_on()
    if isinstance(moved, RetryAttempt):
        return moved
    return _give_up(
        "deadline_exceeded",
        f"the next retry of {model} would be due in {delay:.1f}s, after the deadline"
        f" {ctx.deadline.isoformat()}",
        history,
    )
