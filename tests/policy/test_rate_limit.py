import random

import pytest

from policy.rate_limit import Bucket, charge, refill, wait_s

T0 = 1_772_366_400.0  # 2026-03-01T12:00Z, a whole number of seconds


def test_a_new_bucket_starts_full() -> None:
    assert refill(None, 1.0, 5.0, T0) == Bucket(5.0, T0)


def test_refill_adds_rate_times_elapsed_up_to_capacity() -> None:
    empty = Bucket(0.0, T0)
    assert refill(empty, 2.0, 10.0, T0 + 3) == Bucket(6.0, T0 + 3)
    assert refill(empty, 2.0, 10.0, T0 + 60) == Bucket(10.0, T0 + 60)
    # a debt is paid off first
    assert refill(Bucket(-4.0, T0), 2.0, 10.0, T0 + 3) == Bucket(2.0, T0 + 3)


def test_refill_never_goes_back_in_time() -> None:
    bucket = Bucket(1.0, T0 + 10)
    # a clock that stepped back adds nothing and keeps the later instant
    assert refill(bucket, 2.0, 10.0, T0 + 5) == bucket


def test_wait_is_zero_when_the_level_covers_the_cost() -> None:
    assert wait_s(Bucket(1.0, T0), 1.0, 1.0, 5.0) == 0.0
    assert wait_s(Bucket(5.0, T0), 3.0, 1.0, 5.0) == 0.0


def test_wait_is_the_missing_amount_over_the_rate() -> None:
    assert wait_s(Bucket(0.5, T0), 1.0, 2.0, 5.0) == pytest.approx(0.25)
    assert wait_s(Bucket(-3.0, T0), 1.0, 2.0, 5.0) == pytest.approx(2.0)


def test_a_cost_above_capacity_waits_only_for_a_full_bucket() -> None:
    # Otherwise it could never conform and would wait forever.
    assert wait_s(Bucket(5.0, T0), 50.0, 1.0, 5.0) == 0.0
    assert wait_s(Bucket(4.0, T0), 50.0, 1.0, 5.0) == pytest.approx(1.0)


def test_charge_may_go_into_debt_and_keeps_the_instant() -> None:
    assert charge(Bucket(0.5, T0), 2.0) == Bucket(-1.5, T0)


def test_delayed_requests_get_slots_spaced_by_one_over_the_rate() -> None:
    rate, capacity = 2.0, 4.0  # 120 per minute, burst of 2 s
    bucket = refill(None, rate, capacity, T0)
    waits = []
    for _ in range(10):
        bucket = refill(bucket, rate, capacity, T0)
        waits.append(wait_s(bucket, 1.0, rate, capacity))
        bucket = charge(bucket, 1.0)
    assert waits[:4] == [0.0] * 4
    assert waits[4:] == pytest.approx([0.5, 1.0, 1.5, 2.0, 2.5, 3.0])


def _sliding_max(times: list[float], window: float) -> int:
    best, start = 0, 0
    for end, t in enumerate(times):
        while times[start] <= t - window:
            start += 1
        best = max(best, end - start + 1)
    return best


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_conforming_requests_in_any_minute_are_at_most_per_minute_plus_capacity(
    seed: int,
) -> None:
    per_minute, burst_s = 30, 10.0
    rate, capacity = per_minute / 60, per_minute * burst_s / 60
    rng = random.Random(seed)
    bucket: Bucket | None = None
    admitted: list[float] = []
    t = T0
    while t < T0 + 600:
        t += rng.expovariate(2.0)  # ~4x the limit, in bursts and lulls
        bucket = refill(bucket, rate, capacity, t)
        if wait_s(bucket, 1.0, rate, capacity) == 0.0:
            bucket = charge(bucket, 1.0)
            admitted.append(t)
    assert _sliding_max(admitted, 60.0) <= per_minute + capacity
    # and the limit is not stricter than asked: ~per_minute in a steady overload
    assert len(admitted) >= 10 * per_minute
