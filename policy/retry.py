"""What to do after a failed provider attempt: retry the same model, fall back, or give up.

The decision is a pure function of the typed provider error, the attempt counters on the
dispatch event and the route's retry policy:

- a retryable error (rate limit, timeout, server error, bad response) retries the same
  model ``same_model_retries`` times, waiting Retry-After when the provider gave one and
  exponential backoff otherwise, then moves to the next candidate; with no candidate left
  it keeps retrying the last one until ``max_attempts``;
- a Retry-After longer than ``max_retry_after_s`` moves to the next candidate at once;
- a context-window, authentication or unsupported-feature error is specific to one
  model or provider, so it falls back to the next candidate without waiting;
- content filtered and invalid request are the request's own fault: give up;
- ``max_attempts`` bounds the whole chain.
"""

from __future__ import annotations

from dataclasses import dataclass

from adapters.errors import (
    AuthenticationFailed,
    ContextWindowExceeded,
    ProviderError,
    UnsupportedFeature,
)
from schemas.config import RetryPolicyConfig
from schemas.events import DeadLetterReason, DispatchEvent


@dataclass(frozen=True)
class RetryAttempt:
    next_event: DispatchEvent
    delay_s: float


@dataclass(frozen=True)
class GiveUp:
    reason: DeadLetterReason
    detail: str


RetryDecision = RetryAttempt | GiveUp


def backoff_s(policy: RetryPolicyConfig, model_attempt: int) -> float:
    delay = policy.backoff_initial_s * policy.backoff_multiplier ** (model_attempt - 1)
    return float(min(delay, policy.backoff_max_s))


def _same_model(event: DispatchEvent, delay_s: float) -> RetryAttempt:
    nxt = event.model_copy(
        update={"attempt": event.attempt + 1, "model_attempt": event.model_attempt + 1}
    )
    return RetryAttempt(nxt, delay_s)


def _next_model(event: DispatchEvent) -> RetryAttempt | None:
    index = event.candidate_index + 1
    if index >= len(event.candidates):
        return None
    nxt = event.model_copy(
        update={"attempt": event.attempt + 1, "model_attempt": 1, "candidate_index": index}
    )
    return RetryAttempt(nxt, 0.0)


def decide(error: ProviderError, event: DispatchEvent, policy: RetryPolicyConfig) -> RetryDecision:
    if event.attempt >= policy.max_attempts:
        return GiveUp(
            "attempts_exhausted",
            f"{event.attempt} attempts made (max_attempts={policy.max_attempts});"
            f" last error {error.kind} from {event.model}",
        )
    if isinstance(error, ContextWindowExceeded | AuthenticationFailed | UnsupportedFeature):
        fallback = _next_model(event)
        if fallback is not None:
            return fallback
        return GiveUp("permanent_error", f"{error.kind} from {event.model}, no fallback left")
    if not error.retryable:
        return GiveUp("permanent_error", f"{error.kind} from {event.model}: {error}")

    retry_after = error.retry_after_s
    if retry_after is not None and retry_after > policy.max_retry_after_s:
        fallback = _next_model(event)
        if fallback is not None:
            return fallback
        return GiveUp(
            "retry_after_too_long",
            f"{event.model} asks to wait {retry_after:g}s, above max_retry_after_s"
            f"={policy.max_retry_after_s:g}, and no fallback is left",
        )
    if event.model_attempt > policy.same_model_retries:
        fallback = _next_model(event)
        if fallback is not None:
            return fallback
    delay = retry_after if retry_after is not None else backoff_s(policy, event.model_attempt)
    return _same_model(event, delay)
