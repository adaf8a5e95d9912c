"""The alert evaluator: windows sliding, min_calls, hysteresis, for_s, dedup, restart."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from policy.alert_window import BUCKETS, CallFact, bin_value, call_fact, latency_bin
from policy.alerts import AlertEvaluator
from schemas.alerts import AlertRule, RuleAlert
from schemas.events import UsageEvent

# A multiple of every window below, so bucket edges fall on whole seconds from T0.
T0 = 1_700_000_040.0
_ids = itertools.count()


def rule(**over: Any) -> AlertRule:
    fields: dict[str, Any] = {
        "name": "errors",
        "metric": "error_rate",
        "by": "model",
        "window_s": 60,
        "threshold": 0.5,
        "min_calls": 4,
    }
    return AlertRule.model_validate({**fields, **over})


def fact(at: float, ok: bool = True, **over: Any) -> CallFact:
    fields: dict[str, Any] = {
        "call_id": f"c{next(_ids)}",
        "at": at,
        "ok": ok,
        "fallback": False,
        "latency_ms": 100.0,
        "cost_usd": Decimal(0),
        "model": "m1",
        "provider": "p1",
        "tenant": "acme",
        "route": "default",
    }
    return CallFact(**{**fields, **over})


def feed(ev: AlertEvaluator, at: float, ok: int = 0, failed: int = 0, **over: Any) -> None:
    for _ in range(ok):
        ev.observe(fact(at, True, **over), at)
    for _ in range(failed):
        ev.observe(fact(at, False, **over), at)


def when(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


def only(alerts: list[RuleAlert]) -> RuleAlert:
    assert len(alerts) == 1, alerts
    return alerts[0]


def test_error_rate_fires_once_with_the_window_figures_and_resolves_with_its_since() -> None:
    ev = AlertEvaluator([rule()], started_at=T0)
    feed(ev, T0, ok=2, failed=2)
    firing = only(ev.evaluate(T0 + 1))
    assert firing.kind == "rule" and firing.state == "firing"
    assert firing.reason == "above_threshold"
    assert (firing.rule, firing.metric, firing.by) == ("errors", "error_rate", "model")
    assert firing.dims == {"model": "m1"} and firing.key == "errors|model=m1"
    assert (firing.value, firing.samples, firing.threshold, firing.window_s) == (0.5, 4, 0.5, 60)
    assert firing.since == firing.at == when(T0 + 1)
    # Still breaching: no second event.
    feed(ev, T0 + 10, failed=3)
    assert ev.evaluate(T0 + 11) == []
    # The failures slide out; successes come in.
    feed(ev, T0 + 70, ok=5)
    resolved = only(ev.evaluate(T0 + 71))
    assert resolved.state == "resolved" and resolved.reason == "below_threshold"
    assert resolved.since == firing.since and resolved.at == when(T0 + 71)
    assert (resolved.value, resolved.samples) == (0.0, 5)
    assert ev.evaluate(T0 + 72) == []


def test_too_few_calls_never_fire() -> None:
    ev = AlertEvaluator([rule(min_calls=None)], started_at=T0)  # the default: 10
    feed(ev, T0, failed=9)
    assert ev.evaluate(T0 + 1) == []
    feed(ev, T0 + 2, failed=1)
    assert only(ev.evaluate(T0 + 3)).samples == 10


def test_below_the_threshold_does_not_fire() -> None:
    ev = AlertEvaluator([rule(threshold=0.5)], started_at=T0)
    feed(ev, T0, ok=6, failed=4)
    assert ev.evaluate(T0 + 1) == []
    feed(ev, T0 + 1, failed=2)  # 6 of 12: reaching the threshold fires
    assert only(ev.evaluate(T0 + 2)).value == 0.5


def test_the_window_slides_to_the_bucket() -> None:
    width = 60 / BUCKETS
    ev = AlertEvaluator([rule()], started_at=T0)
    feed(ev, T0, failed=4)  # in the bucket that starts at T0
    feed(ev, T0 + 30, ok=1)
    assert only(ev.evaluate(T0 + 60)).state == "firing"  # the bucket starts at now - 60
    assert ev.state()[0]["firing"][0]["samples"] == 5
    assert ev.evaluate(T0 + 60 + width / 2) == []
    # The bucket starts before now - 60: gone, whatever second inside it a call came.
    assert ev.state()[0]["firing"][0]["samples"] == 1


def test_calls_older_than_the_window_are_not_counted() -> None:
    ev = AlertEvaluator([rule()], started_at=T0)
    for _ in range(4):
        ev.observe(fact(T0 - 61, ok=False), T0)
    assert ev.evaluate(T0) == []
    assert ev.state()[0]["firing"] == []


def test_a_call_from_a_clock_ahead_counts_now() -> None:
    ev = AlertEvaluator([rule()], started_at=T0)
    for _ in range(4):
        ev.observe(fact(T0 + 3600, ok=False), T0)
    assert only(ev.evaluate(T0)).samples == 4


def test_a_repeated_call_counts_once() -> None:
    ev = AlertEvaluator([rule()], started_at=T0)
    failed = fact(T0, ok=False)
    for _ in range(4):
        assert ev.observe(failed, T0) is (_ == 0)
    feed(ev, T0, ok=3)
    assert ev.duplicates == 3 and ev.observed == 4
    assert ev.evaluate(T0 + 1) == []  # 1 of 4, not 4 of 7


def test_keys_are_judged_apart() -> None:
    ev = AlertEvaluator([rule(by="provider")], started_at=T0)
    feed(ev, T0, failed=4, provider="bad")
    feed(ev, T0, ok=10, failed=1, provider="good")
    assert only(ev.evaluate(T0 + 1)).dims == {"provider": "bad"}


def test_resolve_below_holds_a_firing_key_between_the_two_levels() -> None:
    ev = AlertEvaluator([rule(threshold=0.5, resolve_below=0.2, window_s=20)], started_at=T0)
    feed(ev, T0, ok=2, failed=2)
    assert only(ev.evaluate(T0 + 1)).state == "firing"
    feed(ev, T0 + 30, ok=7, failed=3)  # 0.3: under the threshold, over resolve_below
    assert ev.evaluate(T0 + 31) == []
    feed(ev, T0 + 60, ok=9, failed=1)  # 0.1
    resolved = only(ev.evaluate(T0 + 61))
    assert resolved.state == "resolved" and resolved.value == pytest.approx(0.1)


def test_for_s_needs_the_breach_to_hold_and_a_pause_starts_it_over() -> None:
    ev = AlertEvaluator([rule(for_s=10, window_s=20)], started_at=T0)
    feed(ev, T0, failed=4)
    assert ev.evaluate(T0) == []
    assert ev.state()[0]["pending"][0]["breaching_since"] == "2023-11-14T22:14:00Z"
    assert ev.evaluate(T0 + 9) == []
    feed(ev, T0 + 9, ok=20)  # healthy for a moment: the wait starts again
    assert ev.evaluate(T0 + 9.5) == []
    assert ev.state()[0]["pending"] == []
    feed(ev, T0 + 30, failed=30)
    assert ev.evaluate(T0 + 30) == []
    assert ev.evaluate(T0 + 39) == []
    assert only(ev.evaluate(T0 + 40)).since == when(T0 + 40)


def test_resolve_for_s_needs_health_to_hold() -> None:
    ev = AlertEvaluator([rule(resolve_for_s=5, window_s=20)], started_at=T0)
    feed(ev, T0, failed=4)
    ev.evaluate(T0)
    feed(ev, T0 + 21, ok=4)
    assert ev.evaluate(T0 + 21) == []
    feed(ev, T0 + 23, failed=10)  # breaching again: the healthy spell is over
    assert ev.evaluate(T0 + 23) == []
    feed(ev, T0 + 50, ok=4)
    assert ev.evaluate(T0 + 50) == []
    assert ev.evaluate(T0 + 54) == []
    assert only(ev.evaluate(T0 + 55)).state == "resolved"


def test_a_key_that_gets_no_calls_any_more_resolves_for_want_of_them() -> None:
    ev = AlertEvaluator([rule(window_s=20)], started_at=T0)
    feed(ev, T0, failed=4)
    firing = only(ev.evaluate(T0))
    feed(ev, T0 + 15, failed=1)  # a few calls: no verdict either way
    assert ev.evaluate(T0 + 21) == []
    resolved = only(ev.evaluate(T0 + 36))
    assert (resolved.reason, resolved.value, resolved.samples) == ("no_calls", None, 0)
    assert resolved.since == firing.since
    # Nothing left of the key.
    assert ev.state()[0]["firing"] == [] and ev.evaluate(T0 + 100) == []


def test_p95_latency_is_over_successes_within_half_a_percent() -> None:
    ev = AlertEvaluator([rule(metric="p95_latency_ms", threshold=900)], started_at=T0)
    for ms in range(1, 101):
        ev.observe(fact(T0, latency_ms=float(ms * 10)), T0)
    for _ in range(50):  # failures' latency says nothing about the model's speed
        ev.observe(fact(T0, ok=False, latency_ms=60_000.0), T0)
    firing = only(ev.evaluate(T0 + 1))
    assert firing.samples == 100
    assert firing.value == pytest.approx(950, rel=0.005)


def test_cost_per_tenant_sums_and_fires_from_the_first_call() -> None:
    hourly = rule(
        name="spend", metric="cost_usd", by="tenant", window_s=3600, threshold=1.5, min_calls=None
    )
    ev = AlertEvaluator([hourly], started_at=T0)
    ev.observe(fact(T0, cost_usd=Decimal("1.25"), tenant="big"), T0)
    ev.observe(fact(T0, cost_usd=Decimal("0.1"), tenant="small"), T0)
    assert ev.evaluate(T0 + 1) == []
    ev.observe(fact(T0 + 1800, cost_usd=Decimal("0.25"), tenant="big"), T0 + 1800)
    firing = only(ev.evaluate(T0 + 1800))
    assert firing.dims == {"tenant": "big"} and firing.value == 1.5 and firing.samples == 2


def test_fallback_rate_per_route() -> None:
    ev = AlertEvaluator([rule(metric="fallback_rate", by="route", threshold=0.3)], started_at=T0)
    feed(ev, T0, ok=3, route="r1")
    feed(ev, T0, ok=2, route="r1", fallback=True)
    assert only(ev.evaluate(T0 + 1)).value == pytest.approx(0.4)


def test_only_completions_become_facts() -> None:
    base = UsageEvent(
        request_id="r1",
        attempt=2,
        call_id="",
        tenant="acme",
        route="default",
        model="m1",
        provider="p1",
        upstream_model="u1",
        outcome="error",
        latency_ms=250.0,
        started_at=when(T0),
    )
    got = call_fact(base)
    assert got is not None and not got.ok
    assert got.call_id == "r1:2" and got.at == T0 + 0.25
    for outcome in ("started", "skipped", "rejected"):
        assert call_fact(base.model_copy(update={"outcome": outcome})) is None


def _firing_record(r: AlertRule, key: str, since: float) -> RuleAlert:
    return RuleAlert(
        state="firing",
        rule=r.name,
        metric=r.metric,
        by=r.by,
        dims={r.by: key},
        value=1.0,
        samples=9,
        threshold=r.threshold,
        window_s=r.window_s,
        reason="above_threshold",
        since=when(since),
        at=when(since),
    )


def test_a_restored_firing_key_is_not_announced_again_and_resolves_with_its_since() -> None:
    r = rule(window_s=20)
    before = _firing_record(r, "m1", T0 - 100)
    ev = AlertEvaluator([r], started_at=T0)
    assert ev.restore([before], T0) == []
    assert ev.state()[0]["firing"][0]["since"] == "2023-11-14T22:12:20Z"
    feed(ev, T0 + 1, failed=5)
    assert ev.evaluate(T0 + 2) == []
    feed(ev, T0 + 30, ok=5)
    resolved = only(ev.evaluate(T0 + 31))
    assert resolved.state == "resolved" and resolved.since == when(T0 - 100)


def test_a_restored_key_waits_for_a_full_window_before_no_calls_resolves_it() -> None:
    r = rule(window_s=20)
    ev = AlertEvaluator([r], started_at=T0)
    ev.restore([_firing_record(r, "m1", T0 - 100)], T0)
    assert ev.evaluate(T0 + 19) == []  # empty because it just started, not for want of calls
    assert only(ev.evaluate(T0 + 20)).reason == "no_calls"


def test_restore_takes_the_last_event_per_key() -> None:
    r = rule()
    fired = _firing_record(r, "m1", T0 - 100)
    resolved = fired.model_copy(update={"state": "resolved", "reason": "below_threshold"})
    again = _firing_record(r, "m2", T0 - 50)
    ev = AlertEvaluator([r], started_at=T0)
    assert ev.restore([fired, again, resolved], T0) == []
    assert [f["dims"] for f in ev.state()[0]["firing"]] == [{"model": "m2"}]


@pytest.mark.parametrize(
    "now_rule",
    [None, {"metric": "p95_latency_ms", "threshold": 500}, {"by": "provider"}],
    ids=["rule gone", "metric changed", "by changed"],
)
def test_a_firing_key_of_a_changed_rule_is_resolved_at_restore(
    now_rule: dict[str, Any] | None,
) -> None:
    record = _firing_record(rule(), "m1", T0 - 100)
    rules = [] if now_rule is None else [rule(**now_rule)]
    ev = AlertEvaluator(rules, started_at=T0)
    resolved = only(ev.restore([record], T0))
    assert (resolved.state, resolved.reason, resolved.value) == ("resolved", "rule_changed", None)
    assert resolved.key == record.key and resolved.since == record.since
    assert resolved.at == when(T0)
    assert all(r["firing"] == [] for r in ev.state())


def test_state_lists_every_rule_with_its_settings() -> None:
    ev = AlertEvaluator([rule(), rule(name="slow", metric="p95_latency_ms", threshold=800)], T0)
    feed(ev, T0, failed=4)
    ev.evaluate(T0)
    errors, slow = ev.state()
    assert errors["name"] == "errors" and errors["min_calls"] == 4
    assert errors["firing"] == [
        {"dims": {"model": "m1"}, "value": 1.0, "samples": 4, "since": "2023-11-14T22:14:00Z"}
    ]
    assert slow["name"] == "slow" and slow["firing"] == [] and slow["resolve_below"] == 800


@given(st.floats(min_value=0, max_value=3_600_000, allow_nan=False))
def test_a_latency_bin_stands_for_its_values_within_half_a_percent(ms: float) -> None:
    represented = bin_value(latency_bin(ms))
    if ms >= 1:
        assert represented == pytest.approx(ms, rel=0.00501)
    else:
        assert represented == 0.5
