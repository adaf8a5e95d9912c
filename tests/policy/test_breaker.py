"""The circuit breaker's state machine: opening, cool-down, probes, and shared transitions."""

from __future__ import annotations

import pytest

from policy.breaker import LATENCY_ALPHA, Breaker, Transition, state_at
from schemas.config import BreakerConfig

T0 = 1_700_000_000.0
CONFIG = BreakerConfig(
    window_s=30,
    min_calls=10,
    failure_rate=0.5,
    consecutive_failures=5,
    cooldown_s=5,
    cooldown_max_s=12,
    probe_calls=2,
)


def _opened(config: BreakerConfig = CONFIG, at: float = T0) -> Breaker:
    breaker = Breaker(config)
    for i in range(config.consecutive_failures - 1):
        assert breaker.record(False, at - 1 + i * 0.01) is None
    assert breaker.record(False, at) == Transition("open", at, config.cooldown_s)
    return breaker


def test_consecutive_failures_open_it_and_a_success_resets_the_run() -> None:
    breaker = Breaker(CONFIG)
    for i in range(4):
        assert breaker.record(False, T0 + i) is None
    assert breaker.record(True, T0 + 4) is None
    for i in range(4):
        assert breaker.record(False, T0 + 5 + i) is None
    assert breaker.allow(T0 + 9)
    assert breaker.record(False, T0 + 9) == Transition("open", T0 + 9, 5)
    assert breaker.state == "open" and breaker.reason == "5 failures in a row"
    assert not breaker.allow(T0 + 9.1)


def test_failure_rate_opens_it_only_with_min_calls_in_the_window() -> None:
    breaker = Breaker(CONFIG)
    # Alternating failures never make 5 in a row; at 4 of 8 the window is still too small.
    for i in range(8):
        assert breaker.record(i % 2 == 0, T0 + i) is None
    assert breaker.error_rate(T0 + 8) == 0.5
    assert breaker.record(True, T0 + 8) is None  # 9 calls, 4 failures
    transition = breaker.record(False, T0 + 9)  # 10 calls, 5 failures: 0.5 reaches the rate
    assert transition == Transition("open", T0 + 9, 5)
    assert breaker.reason == "5 failures of 10 calls in 30s"


def test_calls_older_than_the_window_do_not_count() -> None:
    breaker = Breaker(CONFIG.model_copy(update={"consecutive_failures": 100}))
    for i in range(9):
        assert breaker.record(False, T0 + i) is None  # 9 calls: fewer than min_calls
    # 40 s later those 9 failures are out of the window: counted, 1 more would open it.
    later = T0 + 40
    assert breaker.record(False, later) is None
    assert breaker.calls_in_window(later) == 1 and breaker.error_rate(later) == 1.0
    for i in range(1, 9):
        assert breaker.record(i < 5, later + i) is None  # 4 ok, then failures
    assert breaker.calls_in_window(later + 8) == 9
    # The 10th call brings the window to min_calls, with 6 failures of 10.
    assert breaker.record(False, later + 9) == Transition("open", later + 9, 5)


def test_open_lets_nothing_through_until_the_cooldown_then_probe_calls() -> None:
    breaker = _opened()
    assert not breaker.allow(T0 + 4.99)
    assert breaker.allow(T0 + 5)  # half-open: first probe
    assert breaker.state == "half_open" and breaker.since == T0 + 5
    assert breaker.allow(T0 + 5.1)
    assert not breaker.allow(T0 + 5.2)  # probe_calls=2 in flight
    assert breaker.record(True, T0 + 6) == Transition("closed", T0 + 6, 5)
    assert all(breaker.allow(T0 + 6 + i) for i in range(20))


def test_a_failed_probe_reopens_with_a_doubled_capped_cooldown_reset_by_a_close() -> None:
    breaker = _opened()
    t = T0
    expected = [10.0, 12.0, 12.0]  # 5 doubled, then capped at cooldown_max_s=12
    for cooldown in expected:
        t = breaker.opened_at + breaker.cooldown_s
        assert breaker.allow(t)
        assert breaker.record(False, t + 0.5) == Transition("open", t + 0.5, cooldown)
        assert breaker.reason == "a probe failed"
    t = breaker.opened_at + breaker.cooldown_s
    assert breaker.allow(t)
    assert breaker.record(True, t + 0.1) == Transition("closed", t + 0.1, 5)
    # The next opening starts again from the configured cool-down.
    reopened = _opened_again(breaker, t + 1)
    assert reopened == Transition("open", reopened.since, 5)


def _opened_again(breaker: Breaker, at: float) -> Transition:
    for i in range(CONFIG.consecutive_failures):
        found = breaker.record(False, at + i * 0.01)
    assert found is not None
    return found


def test_results_of_calls_started_before_the_opening_change_nothing() -> None:
    breaker = _opened()
    assert breaker.record(True, T0 + 1) is None
    assert breaker.record(False, T0 + 2) is None
    assert breaker.state == "open" and breaker.since == T0
    # Half-open without a probe let through: a late result is no probe result either.
    assert breaker.state_at(T0 + 6) == "half_open"
    assert breaker.record(True, T0 + 6) is None
    assert breaker.state_at(T0 + 6) == "half_open"


def test_a_lost_probe_frees_its_slot_on_release_or_after_the_window() -> None:
    breaker = _opened()
    assert breaker.allow(T0 + 5) and breaker.allow(T0 + 5)
    assert not breaker.allow(T0 + 6)
    breaker.release(T0 + 6)
    assert breaker.allow(T0 + 6)
    assert not breaker.allow(T0 + 34)
    assert breaker.allow(T0 + 35)  # the probes of T0+5 are a window old: presumed lost


def test_the_window_starts_empty_after_a_close() -> None:
    breaker = Breaker(CONFIG)
    for i in range(9):
        breaker.record(i < 4, T0 + i * 0.1)  # 4 ok, then 5 failures would open at the 5th
    assert breaker.state == "open"
    breaker.allow(T0 + 10)
    breaker.record(True, T0 + 10)
    assert breaker.state_at(T0 + 10) == "closed"
    assert breaker.calls_in_window(T0 + 10) == 0 and breaker.error_rate(T0 + 10) == 0
    for i in range(4):
        assert breaker.record(False, T0 + 11 + i) is None


def test_an_opening_from_another_worker_sets_the_same_reopening_time() -> None:
    mine, theirs = Breaker(CONFIG), _opened(at=T0 + 3)
    for i in range(3):
        mine.record(False, T0 + i)
    assert mine.apply(theirs.transition(T0 + 3))
    assert mine.state == "open" and mine.opened_at == T0 + 3 and mine.cooldown_s == 5
    # Its own failures before the opening are gone: after the close they do not count.
    assert mine.calls_in_window(T0 + 3) == 0
    assert not mine.allow(T0 + 7.99) and not theirs.allow(T0 + 7.99)
    assert mine.allow(T0 + 8) and theirs.allow(T0 + 8)
    assert mine.since == theirs.since == T0 + 8


def test_apply_keeps_the_later_state_and_ignores_stale_or_repeated_ones() -> None:
    breaker = _opened(at=T0 + 10)
    assert not breaker.apply(Transition("closed", T0 + 2, 5))  # older than our opening
    assert not breaker.apply(Transition("open", T0 + 10, 5))  # the same opening
    assert breaker.state == "open"
    # Two workers opening almost together both end with the later opening.
    assert breaker.apply(Transition("open", T0 + 10.2, 10))
    assert (breaker.opened_at, breaker.cooldown_s) == (T0 + 10.2, 10)
    assert breaker.apply(Transition("closed", T0 + 25, 10))
    assert breaker.state_at(T0 + 25) == "closed" and breaker.cooldown_s == CONFIG.cooldown_s
    assert breaker.allow(T0 + 25)


def test_a_half_open_state_from_another_worker_allows_probes_at_once() -> None:
    breaker = Breaker(CONFIG)
    assert breaker.apply(Transition("half_open", T0 + 10, 10))
    assert breaker.opened_at == T0
    assert breaker.allow(T0 + 11) and breaker.allow(T0 + 11) and not breaker.allow(T0 + 11)
    assert breaker.record(False, T0 + 12) == Transition("open", T0 + 12, 12)


def test_an_old_opening_read_at_start_up_goes_straight_to_probing() -> None:
    breaker = Breaker(CONFIG)
    assert breaker.apply(Transition("open", T0 - 3600, 120))
    assert breaker.allow(T0)
    assert breaker.state == "half_open" and breaker.since == T0 - 3600 + 120


def test_state_at_turns_a_published_opening_half_open_after_its_cooldown() -> None:
    opened = Transition("open", T0, 5)
    assert state_at(opened, T0 + 4.9) == opened
    assert state_at(opened, T0 + 5) == Transition("half_open", T0 + 5, 5)
    closed = Transition("closed", T0, 5)
    assert state_at(closed, T0 + 100) == closed


def test_latency_ewma_follows_successes_only() -> None:
    breaker = Breaker(CONFIG)
    assert breaker.latency_ewma_ms is None
    breaker.record(True, T0, latency_ms=100)
    assert breaker.latency_ewma_ms == 100
    breaker.record(True, T0 + 1, latency_ms=600)
    assert breaker.latency_ewma_ms == pytest.approx(100 + LATENCY_ALPHA * 500)
    breaker.record(False, T0 + 2, latency_ms=30_000)  # a timeout says nothing of speed
    assert breaker.latency_ewma_ms == pytest.approx(200)
    for i in range(30):
        breaker.record(True, T0 + 3 + i, latency_ms=800)
    assert breaker.latency_ewma_ms == pytest.approx(800, abs=1)
    assert breaker.latency_at == T0 + 32


def test_config_rejects_a_cap_below_the_first_cooldown() -> None:
    with pytest.raises(ValueError, match="cooldown_max_s: 4 is below cooldown_s"):
        BreakerConfig(cooldown_s=5, cooldown_max_s=4)
