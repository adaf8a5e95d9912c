import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from adapters.errors import (
    AuthenticationFailed,
    ContentFiltered,
    ContextWindowExceeded,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
    UnsupportedFeature,
)
from policy.classifier import classify
from policy.pricing import cost_usd
from policy.retry import (
    GiveUp,
    RetryAttempt,
    RetryDecision,
    backoff_ceiling_s,
    backoff_s,
    deadline_for,
    decide,
    expired,
)
from schemas.config import GatewayConfig, RetryPolicyConfig
from schemas.events import DispatchEvent, LLMRequest

MakeRequest = Callable[..., LLMRequest]

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
CALL_S = 0.05  # a refused connection fails fast: time passes mostly in backoff


def _at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def _event(make_request: MakeRequest, **over: object) -> DispatchEvent:
    req = over.pop("request", None) or make_request("hello")
    assert isinstance(req, LLMRequest)
    fields: dict[str, object] = {
        "request_id": req.request_id,
        "request": req,
        "classification": classify(req),
        "route": "default",
        "candidates": ["small", "big"],
        "first_seen_at": T0,
    }
    fields.update(over)
    return DispatchEvent.model_validate(fields)


def _decide(
    error: ProviderError,
    event: DispatchEvent,
    policy: RetryPolicyConfig,
    now: datetime = T0,
    draw: float = 0.5,
) -> RetryDecision:
    return decide(error, event, policy, now, draw)


def _policy(config: GatewayConfig) -> RetryPolicyConfig:
    route = config.route("default")
    assert route is not None
    return route.retry


def test_rate_limit_retries_same_model_after_retry_after(
    config: GatewayConfig, make_request: MakeRequest
) -> None:
    error = RateLimited("slow down", provider="a", retry_after_s=2.5)
    d = _decide(error, _event(make_request), _policy(config), draw=1.0)
    assert isinstance(d, RetryAttempt)
    assert d.delay_s == 2.5
    assert (d.next_event.model, d.next_event.attempt, d.next_event.model_attempt) == ("small", 2, 2)


def test_retry_after_is_a_floor_under_a_longer_backoff(
    config: GatewayConfig, make_request: MakeRequest
) -> None:
    policy = RetryPolicyConfig(same_model_retries=10, backoff_max_s=30)
    ev = _event(make_request, attempt=7, model_attempt=7)
    d = _decide(RateLimited("x", provider="a", retry_after_s=1), ev, policy, draw=1.0)
    assert isinstance(d, RetryAttempt) and d.delay_s == 30.0


def test_second_failure_falls_back_immediately(
    config: GatewayConfig, make_request: MakeRequest
) -> None:
    ev = _event(make_request, attempt=2, model_attempt=2)
    d = _decide(ProviderUnavailable("boom", provider="a", status_code=500), ev, _policy(config))
    assert isinstance(d, RetryAttempt)
    assert d.delay_s == 0
    assert (d.next_event.model, d.next_event.attempt, d.next_event.model_attempt) == ("big", 3, 1)


def test_backoff_is_full_jitter_under_a_growing_capped_ceiling(config: GatewayConfig) -> None:
    policy = _policy(config)  # initial 0.5, multiplier 2, max 30
    assert [backoff_ceiling_s(policy, n) for n in (1, 2, 3, 6, 7, 50)] == [
        0.5,
        1.0,
        2.0,
        16.0,
        30.0,
        30.0,
    ]
    rng = random.Random(7)
    for n in (1, 3, 7):
        ceiling = backoff_ceiling_s(policy, n)
        assert backoff_s(policy, n, 0.0) == 0.0
        assert backoff_s(policy, n, 1.0) == ceiling
        delays = [backoff_s(policy, n, rng.random()) for _ in range(2000)]
        assert all(0.0 <= d <= ceiling for d in delays)
        # spread over the whole window, not bunched near the ceiling as plain backoff is
        assert min(delays) < 0.05 * ceiling and max(delays) > 0.95 * ceiling
        assert 0.45 * ceiling < sum(delays) / len(delays) < 0.55 * ceiling


def test_backoff_ceiling_survives_huge_exponents() -> None:
    policy = RetryPolicyConfig(backoff_multiplier=10, backoff_max_s=45)
    assert backoff_ceiling_s(policy, 10_000) == 45.0


@pytest.mark.parametrize("draw", [-0.1, 1.5, float("nan")])
def test_draw_outside_the_unit_interval_is_refused(
    config: GatewayConfig, make_request: MakeRequest, draw: float
) -> None:
    with pytest.raises(ValueError, match="draw"):
        _decide(
            ProviderTimeout("late", provider="a"), _event(make_request), _policy(config), T0, draw
        )


def test_naive_now_is_refused(config: GatewayConfig, make_request: MakeRequest) -> None:
    with pytest.raises(ValueError, match="timezone"):
        _decide(
            ProviderTimeout("late", provider="a"),
            _event(make_request),
            _policy(config),
            datetime(2025, 3, 1, 12, 0),
        )


def test_decide_scales_the_backoff_by_the_draw(
    config: GatewayConfig, make_request: MakeRequest
) -> None:
    policy = _policy(config)
    delays = []
    for draw in (0.0, 0.3, 1.0):
        d = _decide(ProviderTimeout("late", provider="a"), _event(make_request), policy, T0, draw)
        assert isinstance(d, RetryAttempt) and d.next_event.model == "small"
        delays.append(d.delay_s)
    assert delays == [0.0, pytest.approx(0.15), 0.5]


def test_long_retry_after_moves_to_next_model(
    config: GatewayConfig, make_request: MakeRequest
) -> None:
    policy = _policy(config)
    d = _decide(RateLimited("x", provider="a", retry_after_s=600), _event(make_request), policy)
    assert isinstance(d, RetryAttempt) and d.next_event.model == "big" and d.delay_s == 0
    last = _event(make_request, candidate_index=1)
    g = _decide(RateLimited("x", provider="b", retry_after_s=600), last, policy)
    assert isinstance(g, GiveUp) and g.reason == "retry_after_too_long"


def test_attempts_are_bounded(config: GatewayConfig, make_request: MakeRequest) -> None:
    ev = _event(make_request, attempt=4, candidate_index=1)
    d = _decide(ProviderUnavailable("boom", provider="b"), ev, _policy(config))
    assert isinstance(d, GiveUp) and d.reason == "attempts_exhausted"
    assert "max_attempts=4" in d.detail


def test_model_specific_errors_fall_back_then_give_up(
    config: GatewayConfig, make_request: MakeRequest
) -> None:
    policy = _policy(config)
    for error in (
        ContextWindowExceeded("long", provider="a"),
        AuthenticationFailed("k", provider="a"),
    ):
        d = _decide(error, _event(make_request), policy)
        assert isinstance(d, RetryAttempt) and d.next_event.model == "big"
        g = _decide(error, _event(make_request, candidate_index=1), policy)
        assert isinstance(g, GiveUp) and g.reason == "permanent_error"


def test_content_filter_gives_up(config: GatewayConfig, make_request: MakeRequest) -> None:
    d = _decide(ContentFiltered("no", provider="a"), _event(make_request), _policy(config))
    assert isinstance(d, GiveUp) and d.reason == "permanent_error"


def test_the_requests_own_fault_is_named_even_when_attempts_ran_out(
    config: GatewayConfig, make_request: MakeRequest
) -> None:
    ev = _event(make_request, attempt=4, candidate_index=1)
    d = _decide(ContentFiltered("no", provider="b"), ev, _policy(config))
    assert isinstance(d, GiveUp) and d.reason == "permanent_error"
    assert "content_filtered from big" in d.detail


def test_cost_is_exact_decimal(config: GatewayConfig) -> None:
    small = config.models["small"]
    assert cost_usd(small, 1000, 500) == Decimal("0.00045")
    total = sum((cost_usd(small, 7, 0) for _ in range(300_000)), Decimal(0))
    assert total == Decimal("0.315")


def test_unsupported_feature_falls_back(config: GatewayConfig, make_request: MakeRequest) -> None:
    error = UnsupportedFeature("no tools here", provider="a")
    d = _decide(error, _event(make_request), _policy(config))
    assert isinstance(d, RetryAttempt) and d.next_event.model == "big" and d.delay_s == 0


def test_cached_tokens_use_their_own_price(config: GatewayConfig) -> None:
    small = config.models["small"].model_copy(update={"cached_input_per_mtok": Decimal("0.075")})
    # 1000 prompt tokens of which 800 cached, 100 out: 200*0.15 + 800*0.075 + 100*0.60
    assert cost_usd(small, 1000, 100, 800) == Decimal("0.00015")
    # without a cached price, cached tokens cost what input costs
    assert cost_usd(config.models["small"], 1000, 100, 800) == cost_usd(
        config.models["small"], 1000, 100
    )


def test_every_failed_attempt_is_recorded(config: GatewayConfig, make_request: MakeRequest) -> None:
    policy = _policy(config)
    error = RateLimited("slow", provider="a", status_code=429, retry_after_s=1.5)
    d = decide(error, _event(make_request), policy, _at(2), 0.5, started_at=_at(1.5))
    assert isinstance(d, RetryAttempt)
    (record,) = d.next_event.history
    assert (record.attempt, record.model, record.provider) == (1, "small", "a")
    assert (record.error_kind, record.status_code, record.retry_after_s) == (
        "rate_limited",
        429,
        1.5,
    )
    assert (record.started_at, record.ended_at) == (_at(1.5), _at(2))
    d2 = _decide(ProviderTimeout("late", provider="a"), d.next_event, policy, _at(5))
    assert isinstance(d2, RetryAttempt)
    assert [r.error_kind for r in d2.next_event.history] == ["rate_limited", "timeout"]
    assert [r.attempt for r in d2.next_event.history] == [1, 2]


# --- deadlines -------------------------------------------------------------------------


def test_caller_deadline_shortens_the_route_deadline_never_lengthens(
    make_request: MakeRequest,
) -> None:
    route = RetryPolicyConfig(deadline_s=300)
    assert deadline_for(make_request("x"), route, T0) == _at(300)
    assert deadline_for(make_request("x", deadline_s=30), route, T0) == _at(30)
    assert deadline_for(make_request("x", deadline_s=900), route, T0) == _at(300)
    assert deadline_for(make_request("x", deadline_at=_at(10).isoformat()), route, T0) == _at(10)
    assert deadline_for(make_request("x", deadline_at=_at(3600).isoformat()), route, T0) == _at(300)


def test_the_events_deadline_rules_over_the_routes(
    config: GatewayConfig, make_request: MakeRequest
) -> None:
    policy = _policy(config)  # deadline_s 300 by default
    stamped = _event(make_request, deadline_at=_at(5))
    d = _decide(ProviderTimeout("late", provider="a"), stamped, policy, _at(6))
    assert isinstance(d, GiveUp) and d.reason == "deadline_exceeded"
    # an event from before triage stamped deadlines: the caller's deadline_s still counts
    legacy = _event(make_request, request=make_request("x", deadline_s=5))
    d = _decide(ProviderTimeout("late", provider="a"), legacy, policy, _at(6))
    assert isinstance(d, GiveUp) and d.reason == "deadline_exceeded"
    d = _decide(ProviderTimeout("late", provider="a"), _event(make_request), policy, _at(6))
    assert isinstance(d, RetryAttempt)


def test_retry_after_beyond_the_deadline_gives_up_instead_of_waiting(
    make_request: MakeRequest,
) -> None:
    policy = RetryPolicyConfig(deadline_s=10, max_retry_after_s=60)
    only = _event(make_request, candidates=["small"])
    d = _decide(RateLimited("x", provider="a", retry_after_s=20), only, policy, _at(1))
    assert isinstance(d, GiveUp) and d.reason == "deadline_exceeded"
    assert "due in 20.0s" in d.detail and len(d.history) == 1
    # with a fallback left, it is tried at once rather than giving up
    d = _decide(RateLimited("x", provider="a", retry_after_s=20), _event(make_request), policy)
    assert isinstance(d, RetryAttempt) and d.next_event.model == "big" and d.delay_s == 0


def test_a_backoff_never_waits_past_the_deadline(make_request: MakeRequest) -> None:
    policy = RetryPolicyConfig(deadline_s=60)
    ev = _event(make_request, candidates=["small"], attempt=8, model_attempt=8)
    error = ProviderConnectionError("refused", provider="a")
    d = _decide(error, ev, policy, _at(40), 0.5)  # ceiling 30 s: due at 55 s
    assert isinstance(d, RetryAttempt) and d.delay_s == 15.0
    d = _decide(error, ev, policy, _at(45.5), 0.5)  # due at 60.5 s, past the deadline
    assert isinstance(d, GiveUp) and d.reason == "deadline_exceeded"
    assert "small connection_error x1" in d.detail


def test_expired_event_is_not_attempted(config: GatewayConfig, make_request: MakeRequest) -> None:
    policy = _policy(config)
    ev = _event(make_request, deadline_at=_at(60))
    assert expired(ev, policy, _at(59)) is None
    g = expired(ev, policy, _at(60))
    assert g is not None and g.reason == "deadline_exceeded"
    assert "before attempt 1" in g.detail


# --- outages, simulated ----------------------------------------------------------------

Fault = Callable[[str, float], ProviderError | None]


@dataclass(frozen=True)
class Answered:
    event: DispatchEvent
    at_s: float


def _simulate(event: DispatchEvent, policy: RetryPolicyConfig, fault: Fault, seed: int) -> object:
    """Run attempts the way dispatch and the retry stage do, on a simulated clock."""
    rng = random.Random(seed)
    t = 0.0
    for _ in range(policy.max_attempts + 1):
        error = fault(event.model, t)
        end = t + CALL_S
        if error is None:
            return Answered(event, end)
        d = decide(error, event, policy, _at(end), rng.random(), started_at=_at(t))
        if isinstance(d, GiveUp):
            return d
        event = d.next_event
        t = end + d.delay_s
    raise AssertionError(f"neither answered nor given up after {policy.max_attempts} attempts")


def _outage(until_s: float, model: str = "small") -> Fault:
    def fault(m: str, t: float) -> ProviderError | None:
        if m == model and t < until_s:
            return ProviderConnectionError("connection refused", provider="a")
        return None

    return fault


def test_a_30s_outage_of_the_only_provider_is_answered_after_recovery(
    make_request: MakeRequest,
) -> None:
    policy = RetryPolicyConfig()  # the defaults are what has to hold up
    ev = _event(make_request, candidates=["small"])
    attempts = []
    for seed in range(1000):
        out = _simulate(ev, policy, _outage(30), seed)
        assert isinstance(out, Answered), f"seed {seed}: {out}"
        # answered by the first attempt after recovery, at most one capped backoff later
        assert 30 <= out.at_s <= 30 + policy.backoff_max_s + CALL_S
        assert {r.error_kind for r in out.event.history} == {"connection_error"}
        attempts.append(out.event.attempt)
    assert max(attempts) < policy.max_attempts / 2
    # counted instead of timed, the old cap of 4 dead-lettered exactly this outage
    old = _simulate(ev, RetryPolicyConfig(max_attempts=4), _outage(30), 0)
    assert isinstance(old, GiveUp) and old.reason == "attempts_exhausted"


def test_unsupported_last_fallback_sends_the_request_back_to_the_primary(
    make_request: MakeRequest,
) -> None:
    policy = RetryPolicyConfig()

    def fault(model: str, t: float) -> ProviderError | None:
        if model == "big":
            return UnsupportedFeature("tools are not supported", provider="b")
        return _outage(30)(model, t)

    for seed in range(200):
        out = _simulate(_event(make_request), policy, fault, seed)
        assert isinstance(out, Answered), f"seed {seed}: {out}"
        assert out.event.model == "small" and out.at_s >= 30
        kinds = [(r.model, r.error_kind) for r in out.event.history]
        # the fallback is asked once; it can never serve this request, so not again
        assert kinds.count(("big", "unsupported_feature")) == 1
        assert kinds[:3] == [
            ("small", "connection_error"),
            ("small", "connection_error"),
            ("big", "unsupported_feature"),
        ]


def test_the_deadline_passing_gives_up_with_the_whole_history(make_request: MakeRequest) -> None:
    policy = RetryPolicyConfig(deadline_s=60)

    def fault(model: str, t: float) -> ProviderError | None:
        if model == "big":
            return UnsupportedFeature("tools are not supported", provider="b")
        return ProviderUnavailable("down", provider="a", status_code=503)

    out = _simulate(_event(make_request), policy, fault, seed=3)
    assert isinstance(out, GiveUp) and out.reason == "deadline_exceeded"
    n = len(out.history)
    assert [r.attempt for r in out.history] == list(range(1, n + 1))
    assert n < policy.max_attempts
    assert out.history[-1].ended_at <= _at(60 + CALL_S)
    assert out.detail.startswith(
        f"deadline_exceeded after {n} attempts: small unavailable x{n - 1},"
        " big unsupported_feature x1;"
    )


def test_unsupported_last_fallback_after_transient_failures_out_of_attempts(
    make_request: MakeRequest,
) -> None:
    policy = RetryPolicyConfig(max_attempts=3)
    ev = _event(make_request)
    for error in (ProviderUnavailable("down", provider="a"),) * 2:
        d = _decide(error, ev, policy)
        assert isinstance(d, RetryAttempt)
        ev = d.next_event
    assert ev.model == "big"
    g = _decide(UnsupportedFeature("no tools", provider="b"), ev, policy)
    # the primary's outage, not the fallback's missing feature, is why it failed
    assert isinstance(g, GiveUp) and g.reason == "attempts_exhausted"
    assert "small unavailable x2, big unsupported_feature x1" in g.detail


def test_model_specific_failures_everywhere_stay_a_permanent_error(
    make_request: MakeRequest,
) -> None:
    policy = RetryPolicyConfig()
    d = _decide(ContextWindowExceeded("long", provider="a"), _event(make_request), policy)
    assert isinstance(d, RetryAttempt) and d.next_event.model == "big"
    g = _decide(UnsupportedFeature("no tools", provider="b"), d.next_event, policy)
    assert isinstance(g, GiveUp) and g.reason == "permanent_error"
    assert "small context_window x1, big unsupported_feature x1" in g.detail
    assert len(g.history) == 2
