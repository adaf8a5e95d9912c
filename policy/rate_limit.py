"""A token bucket that may go into debt, so a delayed request books its slot.

The bucket holds up to ``capacity`` and refills at ``rate_per_s``. A request of ``cost``
conforms when the level covers it (or, for a cost above the capacity, when the bucket is
full). Charging a request that does not conform yet leaves the level negative: the next
request's wait includes this one's, which is how ``delay`` keeps the admitted rate at the
limit however many requests wait.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Bucket:
    level: float
    at: float  # epoch seconds of ``level``


def refill(bucket: Bucket | None, rate_per_s: float, capacity: float, now: float) -> Bucket:
    if bucket is None:
        return Bucket(capacity, now)
    elapsed = max(0.0, now - bucket.at)
    return Bucket(min(capacity, bucket.level + elapsed * rate_per_s), max(now, bucket.at))


def wait_s(bucket: Bucket, cost: float, rate_per_s: float, capacity: float) -> float:
    """How long until a refilled ``bucket`` covers ``cost``; 0 when it does now."""
    need = min(cost, capacity)
    if bucket.level >= need:
        return 0.0
    return (need - bucket.level) / rate_per_s


def charge(bucket: Bucket, cost: float) -> Bucket:
    return Bucket(bucket.level - cost, bucket.at)
