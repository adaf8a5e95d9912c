"""A worker's share of a provider limit: the arithmetic and the decision, on a fake clock."""

import math
import random

import pytest

from policy.provider_limits import (
    NOTHING,
    Allowance,
    Need,
    allowance,
    decide,
    most_in_a_minute,
    rescale,
    slot_wait,
)
from policy.rate_limit import Bucket, charge, refill

T0 = 1000.0


def test_a_worker_holds_its_partitions_share_of_the_limit() -> None:
    # 300 rpm, 2 of 4 partitions: 150 a minute, 2.5 a second
    assert allowance(300, 2, 4, 1.0) == Allowance(2.5, 2.5)
    assert allowance(300, 4, 4, 2.0) == Allowance(5.0, 10.0)
    assert allowance(300, 1, 4, 4.0) == Allowance(1.25, 5.0)


def test_a_small_share_can_still_hold_one_call() -> None:
    # 10 rpm over 4 partitions is a call every 24 s: a capacity of rate * burst_s (1/24)
    # could never cover one call, so the bucket holds at least one.
    share = allowance(10, 1, 4, 1.0)
    assert share.rate_per_s == pytest.approx(10 / 240)
    assert share.capacity == 1.0


def test_no_partition_no_calls() -> None:
    assert allowance(300, 0, 4, 1.0) == NOTHING
    assert slot_wait(Bucket(0.0, T0), 1, NOTHING) == math.inf
    # even a bucket that still held something lets nothing through
    assert slot_wait(Bucket(3.0, T0), 1, NOTHING) == math.inf


@pytest.mark.parametrize(("owned", "total"), [(-1, 4), (5, 4), (0, 0)])
def test_an_impossible_share_is_an_error(owned: int, total: int) -> None:
    with pytest.raises(ValueError, match=f"owns {owned} of {total} partitions"):
        allowance(300, owned, total, 1.0)


def test_rescale_caps_the_level_and_keeps_debt() -> None:
    assert rescale(Bucket(4.0, T0), 2.5) == Bucket(2.5, T0)
    assert rescale(Bucket(1.0, T0), 2.5) == Bucket(1.0, T0)  # a larger share adds nothing now
    assert rescale(Bucket(-3.0, T0), 0.0) == Bucket(-3.0, T0)
    assert rescale(Bucket(2.0, T0), 0.0) == Bucket(0.0, T0)


def test_slot_wait_is_the_missing_amount_over_the_rate() -> None:
    share = Allowance(2.0, 4.0)
    assert slot_wait(Bucket(1.0, T0), 1, share) == 0.0
    assert slot_wait(Bucket(0.5, T0), 1, share) == pytest.approx(0.25)
    assert slot_wait(Bucket(-3.0, T0), 1, share) == pytest.approx(2.0)
    # a call larger than the bucket waits for a full bucket, not forever
    assert slot_wait(Bucket(4.0, T0), 100, share) == 0.0
    assert slot_wait(Bucket(3.0, T0), 100, share) == pytest.approx(0.5)


def test_the_call_waits_for_its_slot_in_every_limit() -> None:
    needs = [Need(0.0, "wait", 30), Need(2.0, "wait", 30), Need(0.5, "wait", 30)]
    assert decide(needs) == 2.0
    assert decide([]) == 0.0


def test_next_model_refuses_only_when_its_own_limit_is_short() -> None:
    assert decide([Need(0.0, "next_model", 30), Need(2.0, "wait", 30)]) == 2.0
    assert decide([Need(0.1, "next_model", 30), Need(2.0, "wait", 30)]) is None
    assert decide([Need(0.0, "next_model", 30)]) == 0.0


def test_a_slot_past_max_wait_is_refused_up_front() -> None:
    assert decide([Need(30.0, "wait", 30)]) == 30.0
    assert decide([Need(30.5, "wait", 30)]) is None
    # the short limit's max_wait_s is the one that counts
    assert decide([Need(0.0, "wait", 1), Need(20.0, "wait", 30)]) == 20.0
    assert decide([Need(2.0, "wait", 1), Need(20.0, "wait", 30)]) is None
    # time already waited (before a rebalance booked it again) counts too
    assert decide([Need(10.0, "wait", 30)], waited_s=20.0) == 10.0
    assert decide([Need(10.0, "wait", 30)], waited_s=20.5) is None
    # a slot free now is taken however long the call waited
    assert decide([Need(0.0, "wait", 30)], waited_s=99.0) == 0.0
    assert decide([Need(math.inf, "wait", 30)]) is None


def test_the_bound_is_the_limit_plus_each_workers_bucket() -> None:
    assert most_in_a_minute(300, [2, 2], 4, 1.0) == 305.0
    assert most_in_a_minute(300, [4], 4, 1.0) == 305.0
    assert most_in_a_minute(300, [1, 1, 1, 0], 4, 1.0) == 300 + 3 * 1.25
    # the floor of one call per worker: 10 rpm, 4 workers of one partition
    assert most_in_a_minute(10, [1, 1, 1, 1], 4, 1.0) == 14.0
    # tokens: a call larger than a bucket can overdraw it once
    assert most_in_a_minute(60_000, [2, 2], 4, 1.0, largest_cost=4000) == 68_000
    with pytest.raises(ValueError, match="own 5 partitions of 4"):
        most_in_a_minute(300, [4, 1], 4, 1.0)


def _sliding_max(times: list[float], window: float) -> float:
    """Most events in any closed interval of ``window`` seconds."""
    best, start = 0, 0
    for end, t in enumerate(times):
        while times[start] < t - window:
            start += 1
        best = max(best, end - start + 1)
    return best


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_two_half_shares_admit_at_most_the_bound_in_any_minute(seed: int) -> None:
    """Two workers, 2 of 4 partitions each, booking slots into debt as dispatch does."""
    per_minute, burst_s = 300, 1.0
    share = allowance(per_minute, 2, 4, burst_s)
    rng = random.Random(seed)
    went: list[float] = []
    for _ in range(2):
        bucket = Bucket(0.0, T0)
        t = T0
        while t < T0 + 600:
            # 4x the worker's share, in bursts and lulls
            t += rng.expovariate(4 * share.rate_per_s)
            bucket = refill(bucket, share.rate_per_s, share.capacity, t)
            wait = decide([Need(slot_wait(bucket, 1, share), "wait", 30)])
            if wait is not None:
                bucket = charge(bucket, 1)
                went.append(t + wait)
    went.sort()
    bound = most_in_a_minute(per_minute, [2, 2], 4, burst_s)
    most = _sliding_max(went, 60.0)
    assert most <= bound
    assert most >= per_minute - 2  # saturated: the limit is used, not just respected
