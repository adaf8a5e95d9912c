"""A worker's share of a provider limit, and whether a call may take its slot.

Every gateway worker holds ``k/n`` of each ``rpm``/``tpm`` limit, where it owns *k* of the
*n* partitions of the dispatch topic: a token bucket (``policy/rate_limit.py``, with debt)
refilled at ``limit/60 * k/n`` per second, holding ``rate * burst_s`` (at least one call).
Only the owner of a dispatch partition makes calls for its events, so the shares sum to
the whole limit however the partitions are spread.

The bound (README "Provider limits"): a bucket lets through, in any interval of ``T``
seconds, at most what it held at the start plus what it gained during the interval, plus
the overdraft of one call larger than the bucket (only a ``tpm`` call can be). A bucket
holds at most its capacity, and it is emptied when its worker's partitions are revoked,
so a rebalance hands no stored tokens over. The workers' rates sum to at most the limit
at every instant as long as no worker holds a share after its revocation (the consumer
group revokes every member before it assigns any). Hence in any 60 s the provider sees
at most ``limit + sum(capacity_i)`` (:func:`most_in_a_minute`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from policy.rate_limit import Bucket
from schemas.provider_limits import OnProviderLimit


@dataclass(frozen=True)
class Allowance:
    """One worker's part of one limit, as a token bucket's refill rate and capacity."""

    rate_per_s: float
    capacity: float


NOTHING = Allowance(0.0, 0.0)


def allowance(per_minute: int, owned: int, total: int, burst_s: float) -> Allowance:
    """``owned/total`` of ``per_minute``; capacity ``rate * burst_s``, but at least 1.

    The floor of one unit lets a small share make a call at all (1 rpm over 4 partitions
    would otherwise hold a quarter of a call). A ``tpm`` call larger than the capacity
    still goes once the bucket is full, paying for the rest with debt (:func:`slot_wait`).
    No partition owned: nothing, since the worker makes no calls.
    """
    if total < 1 or not 0 <= owned <= total:
        raise ValueError(f"owns {owned} of {total} partitions: want 0 <= owned <= total >= 1")
    if owned == 0:
        return NOTHING
    rate = per_minute / 60.0 * owned / total
    return Allowance(rate, max(rate * burst_s, 1.0))


def rescale(bucket: Bucket, capacity: float) -> Bucket:
    """The bucket under a new capacity: its level kept, but never above the capacity.

    The caller refills it at the old rate first. Debt (a negative level) stays debt.
    """
    return Bucket(min(bucket.level, capacity), bucket.at)


def slot_wait(bucket: Bucket, cost: float, share: Allowance) -> float:
    """Seconds until a refilled ``bucket`` covers ``cost`` (0: now; inf: never).

    A cost above the capacity waits for a full bucket, as in ``policy/rate_limit.py``.
    """
    need = min(cost, share.capacity)
    if share.capacity > 0 and bucket.level >= need:
        return 0.0
    if share.rate_per_s <= 0:
        return math.inf
    return (need - bucket.level) / share.rate_per_s


@dataclass(frozen=True)
class Need:
    """What one applicable limit says about one call."""

    wait_s: float
    on_limit: OnProviderLimit
    max_wait_s: float


def decide(needs: Sequence[Need], waited_s: float = 0.0) -> float | None:
    """Seconds the call waits for its slot (0: it goes now), or None: it must not wait.

    The call waits for its slot in every limit, so for the longest wait. Each limit it is
    short of decides by its own setting: ``next_model`` refuses at once, ``wait`` refuses
    when the call's whole wait (``waited_s`` already spent, plus this one) would pass its
    ``max_wait_s``. Refusing up front rather than after ``max_wait_s`` lets the caller
    move on at once, and leaves the slot to the calls behind it.
    """
    wait = max((n.wait_s for n in needs), default=0.0)
    if wait == 0.0:
        return 0.0
    for n in needs:
        if n.wait_s > 0 and (n.on_limit == "next_model" or waited_s + wait > n.max_wait_s):
            return None
    return wait


def most_in_a_minute(
    per_minute: int, owned: Iterable[int], total: int, burst_s: float, largest_cost: float = 1
) -> float:
    """The most the provider can see in any 60 s from workers owning ``owned`` partitions.

    The limit, plus what each worker's bucket can hold when the minute starts, plus the
    overdraft of one call larger than a bucket (``largest_cost``, tokens for ``tpm``).
    """
    shares = list(owned)
    if sum(shares) > total:
        raise ValueError(f"the workers own {sum(shares)} partitions of {total}: shares overlap")
    extra = 0.0
    for k in shares:
        capacity = allowance(per_minute, k, total, burst_s).capacity
        extra += max(capacity, largest_cost) if k else 0.0
    return per_minute + extra
