from collections.abc import Callable
from decimal import Decimal

from adapters.errors import (
    AuthenticationFailed,
    ContentFiltered,
    ContextWindowExceeded,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
    UnsupportedFeature,
)
from policy.classifier import classify
from policy.pricing import cost_usd
from policy.retry import GiveUp, RetryAttempt, backoff_s, decide
from schemas.config import GatewayConfig
from schemas.events import DispatchEvent, LLMRequest

MakeRequest = Callable[..., LLMRequest]


def _event(make_request: MakeRequest, **over: object) -> DispatchEvent:
    req = make_request("hello")
    fields: dict[str, object] = {
        "request_id": req.request_id,
        "request": req,
        "classification": classify(req),
        "route": "default",
        "candidates": ["small", "big"],
    }
    fields.update(over)
    return DispatchEvent.model_validate(fields)


def test_rate_limit_retries_same_model_after_retry_after(
    config: GatewayConfig, make_request: MakeRequest
) -> None:
    policy = config.route("default").retry  # type: ignore[union-attr]
    d = decide(
        RateLimited("slow down", provider="a", retry_after_s=2.5), _event(make_request), policy
    )
    assert isinstance(d, RetryAttempt)
    assert d.delay_s == 2.5
    assert (d.next_event.model, d.next_event.attempt, d.next_event.model_attempt) == ("small", 2, 2)


def test_second_failure_falls_back_immediately(
    config: GatewayConfig, make_request: MakeRequest
) -> None:
    policy = config.route("default").retry  # type: ignore[union-attr]
    ev = _event(make_request, attempt=2, model_attempt=2)
    d = decide(ProviderUnavailable("boom", provider="a", status_code=500), ev, policy)
    assert isinstance(d, RetryAttempt)
    assert d.delay_s == 0
    assert (d.next_event.model, d.next_event.attempt, d.next_event.model_attempt) == ("big", 3, 1)


def test_backoff_without_retry_after_grows(
    config: GatewayConfig, make_request: MakeRequest
) -> None:
    policy = config.route("default").retry  # type: ignore[union-attr]
    d = decide(ProviderTimeout("late", provider="a"), _event(make_request), policy)
    assert isinstance(d, RetryAttempt) and d.delay_s == backoff_s(policy, 1) == 0.5
    assert backoff_s(policy, 3) == 2.0


def test_long_retry_after_moves_to_next_model(
    config: GatewayConfig, make_request: MakeRequest
) -> None:
    policy = config.route("default").retry  # type: ignore[union-attr]
    d = decide(RateLimited("x", provider="a", retry_after_s=600), _event(make_request), policy)
    assert isinstance(d, RetryAttempt) and d.next_event.model == "big" and d.delay_s == 0
    last = _event(make_request, candidate_index=1)
    g = decide(RateLimited("x", provider="b", retry_after_s=600), last, policy)
    assert isinstance(g, GiveUp) and g.reason == "retry_after_too_long"


def test_attempts_are_bounded(config: GatewayConfig, make_request: MakeRequest) -> None:
    policy = config.route("default").retry  # type: ignore[union-attr]
    ev = _event(make_request, attempt=4, candidate_index=1)
    d = decide(ProviderUnavailable("boom", provider="b"), ev, policy)
    assert isinstance(d, GiveUp) and d.reason == "attempts_exhausted"


def test_model_specific_errors_fall_back_then_give_up(
    config: GatewayConfig, make_request: MakeRequest
) -> None:
    policy = config.route("default").retry  # type: ignore[union-attr]
    for error in (
        ContextWindowExceeded("long", provider="a"),
        AuthenticationFailed("k", provider="a"),
    ):
        d = decide(error, _event(make_request), policy)
        assert isinstance(d, RetryAttempt) and d.next_event.model == "big"
        g = decide(error, _event(make_request, candidate_index=1), policy)
        assert isinstance(g, GiveUp) and g.reason == "permanent_error"


def test_content_filter_gives_up(config: GatewayConfig, make_request: MakeRequest) -> None:
    policy = config.route("default").retry  # type: ignore[union-attr]
    d = decide(ContentFiltered("no", provider="a"), _event(make_request), policy)
    assert isinstance(d, GiveUp) and d.reason == "permanent_error"


def test_cost_is_exact_decimal(config: GatewayConfig) -> None:
    small = config.models["small"]
    assert cost_usd(small, 1000, 500) == Decimal("0.00045")
    total = sum((cost_usd(small, 7, 0) for _ in range(300_000)), Decimal(0))
    assert total == Decimal("0.315")


def test_unsupported_feature_falls_back(config: GatewayConfig, make_request: MakeRequest) -> None:
    policy = config.route("default").retry  # type: ignore[union-attr]
    error = UnsupportedFeature("no tools here", provider="a")
    d = decide(error, _event(make_request), policy)
    assert isinstance(d, RetryAttempt) and d.next_event.model == "big" and d.delay_s == 0


def test_cached_tokens_use_their_own_price(config: GatewayConfig) -> None:
    small = config.models["small"].model_copy(update={"cached_input_per_mtok": Decimal("0.075")})
    # 1000 prompt tokens of which 800 cached, 100 out: 200*0.15 + 800*0.075 + 100*0.60
    assert cost_usd(small, 1000, 100, 800) == Decimal("0.00015")
    # without a cached price, cached tokens cost what input costs
    assert cost_usd(config.models["small"], 1000, 100, 800) == cost_usd(
        config.models["small"], 1000, 100
    )
