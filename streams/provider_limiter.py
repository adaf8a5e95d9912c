"""Provider limits (``provider_limits:`` in the config) held by one gateway worker.

The worker holds its share of each limit: ``k/n`` when it owns *k* of the *n* dispatch
partitions (``policy/provider_limits.py`` has the arithmetic and the bound). Dispatch
takes a slot before each provider call::

    if await limiter.acquire(model, tokens):
        ...call the provider...
    else:
        ...next candidate (or a retry later: ``slot_in_s`` says when)...

A call takes a slot in every limit over it (its provider's and its model's). Short of
one, ``on_limit: next_model`` refuses at once and charges nothing; ``wait`` books the
slot at once, into debt, so later calls queue behind it in order, and the call sleeps
until its slot (each call on its own sleep, so a wait for one model holds no other). A
slot further away than ``max_wait_s`` is refused at once instead of waited for.

Rebalances: the app calls :meth:`ProviderLimiter.on_revoked` when its partitions are
revoked and :meth:`ProviderLimiter.on_assigned` with the new count. Revocation empties
the buckets and holds the waiting calls with no slot (the worker may lose their
partitions); assignment rescales every bucket and books the waiting calls again, in the
order they came, under the new share. That no worker holds a share after its revocation
is what keeps the workers' shares summing to the limit while partitions move.

State is per worker and in memory: a restarted worker starts with empty buckets.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from typing import Literal

from policy.provider_limits import NOTHING, Allowance, Need, allowance, decide, rescale, slot_wait
from policy.rate_limit import Bucket, charge, refill
from schemas.config import GatewayConfig
from schemas.provider_limits import ProviderLimitConfig

Unit = Literal["rpm", "tpm"]


@dataclass(eq=False)
class _Limit:
    """One bucket: a config key's ``rpm`` or its ``tpm``."""

    key: str
    unit: Unit
    per_minute: int
    config: ProviderLimitConfig
    bucket: Bucket
    share: Allowance = NOTHING

    def refilled(self, now: float) -> Bucket:
        self.bucket = refill(self.bucket, self.share.rate_per_s, self.share.capacity, now)
        return self.bucket


@dataclass(eq=False)
class _Waiter:
    """A call waiting for its slot."""

    charges: list[tuple[_Limit, float]]
    started: float
    # The longest a call may be held while the worker has no share (between a revocation
    # and the next assignment): the least max_wait_s of its limits.
    max_held_s: float
    due: float | None = None  # its booked slot; None while held
    charged: bool = False
    outcome: bool | None = None
    wake: asyncio.Event = field(default_factory=asyncio.Event)


class ProviderLimiter:
    """One worker's share of every provider limit; see the module docstring."""

    def __init__(self, config: GatewayConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        now = clock()
        # Buckets start empty: a worker's first assignment hands it no stored calls.
        self._limits: dict[str, list[_Limit]] = {}
        for key, limit in config.provider_limits.items():
            units: list[tuple[Unit, int | None]] = [("rpm", limit.rpm), ("tpm", limit.tpm)]
            self._limits[key] = [
                _Limit(key, unit, per_minute, limit, Bucket(0.0, now))
                for unit, per_minute in units
                if per_minute is not None
            ]
        self._keys: dict[str, list[str]] = {
            model: [k for k in (m.provider, model) if k in self._limits]
            for model, m in config.models.items()
        }
        self._share: tuple[int, int] | None = None  # None: no partitions (not yet / revoked)
        self._waiters: dict[int, _Waiter] = {}  # by arrival: dicts keep insertion order
        self._seq = itertools.count()

    # -- what dispatch calls ---------------------------------------------------------

    def limits_for(self, model: str) -> list[str]:
        """The ``provider_limits`` keys over ``model``: its provider's, then its own."""
        try:
            return list(self._keys[model])
        except KeyError:
            raise KeyError(f"unknown model {model!r}: not in the config's models") from None

    async def acquire(self, model: str, tokens: int) -> bool:
        """Take a slot for one call of ``tokens`` (estimated input plus max_tokens).

        True: the call may go now (it has been counted). False: it must not go; nothing
        is charged. Waits (``on_limit: wait``) up to ``max_wait_s`` for its slot.
        Cancelled while waiting, it gives its slot back.
        """
        keys = self.limits_for(model)
        if not keys:
            return True
        limits = [lim for key in keys for lim in self._limits[key]]
        now = self._clock()
        waiter = _Waiter(
            charges=[(lim, 1.0 if lim.unit == "rpm" else float(tokens)) for lim in limits],
            started=now,
            max_held_s=min(lim.config.max_wait_s for lim in limits),
        )
        self._book(waiter, now)
        if waiter.outcome is not None:
            return waiter.outcome
        seq = next(self._seq)
        self._waiters[seq] = waiter
        try:
            return await self._wait(waiter)
        except BaseException:
            if waiter.outcome is not True:
                self._refund(waiter, self._clock())
            raise
        finally:
            del self._waiters[seq]

    def slot_in_s(self, model: str, tokens: int) -> float:
        """Seconds until ``acquire`` would let such a call go without waiting; no charge.

        ``inf`` while the worker owns no dispatch partition. For scheduling a retry when
        every candidate refused.
        """
        now = self._clock()
        wait = 0.0
        for key in self.limits_for(model):
            for lim in self._limits[key]:
                cost = 1.0 if lim.unit == "rpm" else float(tokens)
                wait = max(wait, slot_wait(lim.refilled(now), cost, lim.share))
        return wait

    # -- rebalances ------------------------------------------------------------------

    def on_assigned(self, owned: int, total: int) -> None:
        """The worker owns ``owned`` of the ``total`` dispatch partitions now."""
        if total < 1 or not 0 <= owned <= total:
            raise ValueError(f"owns {owned} of {total} dispatch partitions")
        self._reshare((owned, total))

    def on_revoked(self) -> None:
        """Partitions were revoked: no share until the next assignment."""
        self._reshare(None)

    @property
    def share(self) -> tuple[int, int] | None:
        """(owned, total) dispatch partitions, or None before an assignment."""
        return self._share

    @property
    def waiting(self) -> int:
        return sum(w.outcome is None for w in self._waiters.values())

    # -- internals -------------------------------------------------------------------

    def _reshare(self, share: tuple[int, int] | None) -> None:
        now = self._clock()
        pending = [w for w in self._waiters.values() if w.outcome is None]
        for limits in self._limits.values():
            for lim in limits:
                lim.refilled(now)
        # Slots booked under the old share are given back and booked again under the new
        # one: a worker that lost partitions must not call on the rate it had.
        for waiter in pending:
            self._refund(waiter, now)
        for limits in self._limits.values():
            for lim in limits:
                lim.share = (
                    NOTHING
                    if share is None
                    else allowance(lim.per_minute, *share, lim.config.burst_s)
                )
                lim.bucket = rescale(lim.bucket, lim.share.capacity)
        self._share = share
        for waiter in pending:
            self._book(waiter, now)
            waiter.wake.set()

    def _book(self, waiter: _Waiter, now: float) -> None:
        """Book the waiter's slot in all its limits, or settle its outcome."""
        waiter.due = None
        if self._share is None:
            # No share: no slot can be booked until the next assignment says the share.
            refuse = any(lim.config.on_limit == "next_model" for lim, _ in waiter.charges)
            if refuse or now - waiter.started >= waiter.max_held_s:
                waiter.outcome = False
            return
        needs = [
            Need(
                slot_wait(lim.refilled(now), cost, lim.share),
                lim.config.on_limit,
                lim.config.max_wait_s,
            )
            for lim, cost in waiter.charges
        ]
        wait = decide(needs, now - waiter.started)
        if wait is None:
            waiter.outcome = False
            return
        for lim, cost in waiter.charges:
            lim.bucket = charge(lim.bucket, cost)
        waiter.charged = True
        if wait == 0.0:
            waiter.outcome = True
        else:
            waiter.due = now + wait

    def _refund(self, waiter: _Waiter, now: float) -> None:
        if not waiter.charged:
            return
        waiter.charged = False
        for lim, cost in waiter.charges:
            level = lim.refilled(now).level + cost
            lim.bucket = Bucket(min(level, lim.share.capacity), lim.bucket.at)

    async def _wait(self, waiter: _Waiter) -> bool:
        while waiter.outcome is None:
            held = waiter.due is None
            until = waiter.started + waiter.max_held_s if waiter.due is None else waiter.due
            if self._clock() >= until:
                # Its slot has come; or, held with no share, its patience has run out and
                # it moves on having cost nothing.
                waiter.outcome = not held
                break
            waiter.wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(until - self._clock()):
                    await waiter.wake.wait()
        return waiter.outcome


def calling_share(
    owned: Iterable[tuple[str, int]], calling: Collection[str], partitions: int
) -> tuple[int, int]:
    """(owned, total) of the partitions a worker makes provider calls from: those of the
    ``calling`` topics (each of ``partitions``) among its ``owned`` (topic, partition)s."""
    mine = sum(1 for topic, _ in owned if topic in calling)
    return mine, len(calling) * partitions
