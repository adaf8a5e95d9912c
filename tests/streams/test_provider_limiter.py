"""ProviderLimiter: a worker's share of provider limits, on an event loop with virtual time.

The loop's clock jumps to the next timer whenever nothing is ready, so a simulated
minute takes milliseconds and every sleep ends exactly when it is due; the limiter reads
the same clock (``clock=loop.time``), as it reads ``time.monotonic`` (the loop's clock)
in a worker.
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest

from policy.provider_limits import most_in_a_minute
from schemas.config import GatewayConfig
from schemas.config_loader import parse_config
from streams.provider_limiter import ProviderLimiter, calling_share

T = TypeVar("T")

CONFIG = """
providers:
  a: {format: openai, base_url: "http://127.0.0.1:1/v1"}
  b: {format: openai, base_url: "http://127.0.0.1:2/v1"}
  c: {format: openai, base_url: "http://127.0.0.1:3/v1"}
models:
  a1: {provider: a, upstream: a1, input_per_mtok: "1", output_per_mtok: "1", context_window: 8000}
  a2: {provider: a, upstream: a2, input_per_mtok: "1", output_per_mtok: "1", context_window: 8000}
  b1: {provider: b, upstream: b1, input_per_mtok: "1", output_per_mtok: "1", context_window: 8000}
  c1: {provider: c, upstream: c1, input_per_mtok: "1", output_per_mtok: "1", context_window: 8000}
routes:
  - {name: default, primary: a1, fallbacks: [a2, b1, c1]}
provider_limits:
  a: {rpm: 300}
  a2: {rpm: 60, max_wait_s: 3.5}
  b: {tpm: 60000, on_limit: next_model}
"""


class _VirtualSelector(selectors.SelectSelector):
    """Never blocks: a select that would sleep moves the clock to its end instead."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready = super().select(0)
        if ready or timeout == 0:
            return ready
        if timeout is None:
            raise RuntimeError("nothing is ready and no timer is set: the test would hang")
        self.now += timeout
        return []


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    def __init__(self) -> None:
        self._virtual = _VirtualSelector()
        super().__init__(self._virtual)

    def time(self) -> float:
        return self._virtual.now


def run(main: Callable[[asyncio.AbstractEventLoop], Awaitable[T]]) -> T:
    loop = VirtualTimeLoop()
    try:
        return loop.run_until_complete(_call(main, loop))
    finally:
        loop.close()


async def _call(main: Callable[[asyncio.AbstractEventLoop], Awaitable[T]], loop: Any) -> T:
    return await main(loop)


def _config(text: str = CONFIG) -> GatewayConfig:
    return parse_config(text, "test.yaml", env={})


def _limiter(loop: asyncio.AbstractEventLoop, owned: int = 4, total: int = 4) -> ProviderLimiter:
    limiter = ProviderLimiter(_config(), clock=loop.time)
    limiter.on_assigned(owned, total)
    return limiter


async def _timed(loop: asyncio.AbstractEventLoop, call: Awaitable[bool]) -> tuple[bool, float]:
    went = await call
    return went, loop.time()


def _sliding_max(times: list[float], window: float) -> int:
    """Most events in any closed interval of ``window`` seconds."""
    times = sorted(times)
    best, start = 0, 0
    for end, t in enumerate(times):
        while times[start] < t - window:
            start += 1
        best = max(best, end - start + 1)
    return best


def test_the_virtual_clock_moves_only_by_sleeping() -> None:
    async def main(loop: asyncio.AbstractEventLoop) -> tuple[float, float]:
        start = loop.time()
        await asyncio.sleep(42.5)
        return start, loop.time()

    assert run(main) == (0.0, 42.5)


def test_a_model_is_under_its_providers_limit_and_its_own() -> None:
    limiter = ProviderLimiter(_config())
    assert limiter.limits_for("a1") == ["a"]
    assert limiter.limits_for("a2") == ["a", "a2"]
    assert limiter.limits_for("b1") == ["b"]
    assert limiter.limits_for("c1") == []
    with pytest.raises(KeyError, match="unknown model 'zz'"):
        limiter.limits_for("zz")


def test_a_model_without_limits_always_goes() -> None:
    async def main(loop: asyncio.AbstractEventLoop) -> list[bool]:
        limiter = ProviderLimiter(_config(), clock=loop.time)  # not even assigned
        return [await limiter.acquire("c1", 10**6) for _ in range(1000)]

    assert all(run(main))


def test_two_half_shares_admit_at_most_the_limit_plus_their_buckets_in_any_minute() -> None:
    """2 workers, 2 of 4 dispatch partitions each, offered 4x the 300 rpm of provider a."""

    async def main(loop: asyncio.AbstractEventLoop) -> list[float]:
        workers = [_limiter(loop, 2, 4), _limiter(loop, 2, 4)]
        went: list[float] = []
        tasks: list[asyncio.Task[None]] = []

        async def call(limiter: ProviderLimiter) -> None:
            if await limiter.acquire("a1", 100):
                went.append(loop.time())

        # 20 calls/s in all, alternating workers, for 10 simulated minutes
        for i in range(20 * 600):
            tasks.append(asyncio.ensure_future(call(workers[i % 2])))
            await asyncio.sleep(0.05)
        await asyncio.gather(*tasks)
        return went

    went = run(main)
    bound = most_in_a_minute(300, [2, 2], 4, burst_s=1.0)
    assert bound == 305
    most = _sliding_max(went, 60.0)
    assert most <= bound
    assert most >= 299, "saturated: the workers should use the limit, not only respect it"


def test_a_rebalance_moves_the_share_without_passing_the_bound() -> None:
    """One worker holds all 4 partitions; a second joins and they split 2/2, then it leaves."""

    async def main(loop: asyncio.AbstractEventLoop) -> list[float]:
        first = _limiter(loop, 4, 4)
        second = ProviderLimiter(_config(), clock=loop.time)
        went: list[float] = []
        tasks: list[asyncio.Task[None]] = []

        async def call(limiter: ProviderLimiter) -> None:
            if await limiter.acquire("a1", 100):
                went.append(loop.time())

        async def offer(seconds: float, limiters: list[ProviderLimiter]) -> None:
            for i in range(int(seconds * 20)):
                tasks.append(asyncio.ensure_future(call(limiters[i % len(limiters)])))
                await asyncio.sleep(0.05)

        await offer(90, [first])
        # the group revokes every member before it assigns any (eager rebalancing)
        first.on_revoked()
        await offer(2, [first])  # calls of kept partitions keep coming during the rebalance
        second.on_assigned(2, 4)
        await offer(0.5, [first, second])
        first.on_assigned(2, 4)
        await offer(90, [first, second])
        first.on_revoked()
        second.on_revoked()
        await offer(1, [first])
        first.on_assigned(4, 4)
        second.on_assigned(0, 4)
        await offer(90, [first])
        await asyncio.gather(*tasks)
        return went

    went = run(main)
    most = _sliding_max(went, 60.0)
    # at every instant the owned partitions add up to at most 4, so the bound is the same
    assert most <= most_in_a_minute(300, [4], 4, burst_s=1.0)
    assert most >= 295


def test_next_model_refuses_at_once_and_charges_nothing() -> None:
    async def main(loop: asyncio.AbstractEventLoop) -> None:
        limiter = _limiter(loop)  # b: 60000 tpm, all 4 partitions: 1000 tokens/s, bucket 1000
        await asyncio.sleep(1.0)  # the bucket fills
        assert await limiter.acquire("b1", 800)
        start = loop.time()
        assert not await limiter.acquire("b1", 800)
        assert not await limiter.acquire("b1", 800)
        assert loop.time() == start  # refused without waiting
        # the refusals took nothing: 200 left, so 800 more are due 0.6 s later
        assert limiter.slot_in_s("b1", 800) == pytest.approx(0.6)
        await asyncio.sleep(0.6)
        assert await limiter.acquire("b1", 800)

    run(main)


def test_waiting_calls_go_in_order_one_slot_apart() -> None:
    async def main(loop: asyncio.AbstractEventLoop) -> list[tuple[bool, float]]:
        limiter = _limiter(loop)  # a2: 60 rpm (1/s, bucket 1), max_wait_s 3.5; a: 300 rpm
        # a starts empty: the first slot of a2 is 1 s away
        calls = [_timed(loop, limiter.acquire("a2", 10)) for _ in range(5)]
        return await asyncio.gather(*calls)

    results = run(main)
    assert results[:3] == [(True, 1.0), (True, 2.0), (True, 3.0)]
    # slots 4 s and 5 s away are past max_wait_s: refused at once, not after waiting
    assert results[3:] == [(False, 0.0), (False, 0.0)]


def test_a_wait_for_one_model_holds_no_other() -> None:
    async def main(loop: asyncio.AbstractEventLoop) -> list[tuple[bool, float]]:
        limiter = _limiter(loop)
        slow = [asyncio.ensure_future(_timed(loop, limiter.acquire("a2", 10))) for _ in range(3)]
        await asyncio.sleep(0)
        quick = await _timed(loop, limiter.acquire("c1", 10))
        b = await _timed(loop, limiter.acquire("b1", 0))
        return [quick, b, *await asyncio.gather(*slow)]

    assert run(main) == [(True, 0.0), (True, 0.0), (True, 1.0), (True, 2.0), (True, 3.0)]


def test_a_cancelled_wait_gives_its_slot_back() -> None:
    async def main(loop: asyncio.AbstractEventLoop) -> tuple[bool, float]:
        limiter = _limiter(loop)
        first = asyncio.ensure_future(limiter.acquire("a2", 10))  # slot at 1 s
        second = asyncio.ensure_future(limiter.acquire("a2", 10))  # slot at 2 s
        await asyncio.sleep(0.5)
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        assert limiter.waiting == 1
        await second  # keeps its booked slot
        assert loop.time() == 2.0
        # the cancelled slot was given back: the bucket has 1 call again at 2 s, so the next
        # call goes at once rather than at 3 s
        return await _timed(loop, limiter.acquire("a2", 10))

    assert run(main) == (True, 2.0)


def test_before_any_assignment_a_call_waits_up_to_max_wait_then_moves_on() -> None:
    async def main(loop: asyncio.AbstractEventLoop) -> list[tuple[bool, float]]:
        limiter = ProviderLimiter(_config(), clock=loop.time)
        assert limiter.share is None
        assert limiter.slot_in_s("a1", 1) == float("inf")
        assert not await limiter.acquire("b1", 1)  # next_model: no slot now
        held = await _timed(loop, limiter.acquire("a1", 1))  # a: wait, max_wait_s 30
        return [held]

    assert run(main) == [(False, 30.0)]


def test_an_assignment_books_held_calls_in_the_order_they_came() -> None:
    async def main(loop: asyncio.AbstractEventLoop) -> list[tuple[bool, float]]:
        limiter = ProviderLimiter(_config(), clock=loop.time)
        calls = [asyncio.ensure_future(_timed(loop, limiter.acquire("a2", 1))) for _ in range(4)]
        await asyncio.sleep(1.0)
        assert limiter.waiting == 4
        limiter.on_assigned(4, 4)  # a2: 1/s from an empty bucket
        return list(await asyncio.gather(*calls))

    # the 3rd slot would come 3 s after the assignment, 4 s after the call: past a2's 3.5 s
    assert run(main) == [(True, 2.0), (True, 3.0), (False, 1.0), (False, 1.0)]


def test_losing_partitions_rebooks_waiting_calls_at_the_smaller_share() -> None:
    async def main(loop: asyncio.AbstractEventLoop) -> list[tuple[bool, float]]:
        config = _config(CONFIG.replace("a: {rpm: 300}", "a: {rpm: 240, max_wait_s: 10}"))
        limiter = ProviderLimiter(config, clock=loop.time)
        limiter.on_assigned(4, 4)  # a: 4/s
        calls = [asyncio.ensure_future(_timed(loop, limiter.acquire("a1", 1))) for _ in range(6)]
        await asyncio.sleep(0.1)
        limiter.on_revoked()
        await asyncio.sleep(0.4)
        limiter.on_assigned(1, 4)  # 1/s from an empty bucket; the first call waited 0.5 s
        return list(await asyncio.gather(*calls))

    # one a second from 1 s after the assignment; the first waited 1.5 s of its 10
    assert run(main) == [(True, 1.5 + i) for i in range(6)]


def test_a_call_held_past_max_wait_by_a_rebalance_moves_on() -> None:
    async def main(loop: asyncio.AbstractEventLoop) -> list[tuple[bool, float]]:
        limiter = _limiter(loop)
        calls = [asyncio.ensure_future(_timed(loop, limiter.acquire("a2", 1))) for _ in range(3)]
        await asyncio.sleep(0.5)
        limiter.on_revoked()
        await asyncio.sleep(1.0)
        limiter.on_assigned(2, 4)  # a2: 0.5/s; slots at 3.5, 5.5, 7.5 s
        return list(await asyncio.gather(*calls))

    assert run(main) == [(True, 3.5), (False, 1.5), (False, 1.5)]


def test_owning_no_partition_refuses_every_limited_call() -> None:
    async def main(loop: asyncio.AbstractEventLoop) -> list[tuple[bool, float]]:
        limiter = _limiter(loop, 0, 4)
        return [
            await _timed(loop, limiter.acquire("a1", 1)),
            await _timed(loop, limiter.acquire("b1", 1)),
            await _timed(loop, limiter.acquire("c1", 1)),
        ]

    assert run(main) == [(False, 0.0), (False, 0.0), (True, 0.0)]


def test_a_call_larger_than_the_token_bucket_goes_when_it_is_full() -> None:
    async def main(loop: asyncio.AbstractEventLoop) -> list[tuple[bool, float]]:
        config = _config(CONFIG.replace("on_limit: next_model", "max_wait_s: 60"))
        limiter = ProviderLimiter(config, clock=loop.time)
        limiter.on_assigned(4, 4)  # b: 1000 tokens/s, bucket 1000
        big = await _timed(loop, limiter.acquire("b1", 5000))  # waits for a full bucket
        # then the bucket owes 4000: the next call waits for it to be paid back
        small = await _timed(loop, limiter.acquire("b1", 1000))
        return [big, small]

    assert run(main) == [(True, 1.0), (True, 6.0)]


def test_an_impossible_share_is_refused() -> None:
    limiter = ProviderLimiter(_config())
    with pytest.raises(ValueError, match="owns 5 of 4 dispatch partitions"):
        limiter.on_assigned(5, 4)


def test_a_smaller_share_keeps_the_stored_calls_only_up_to_its_capacity() -> None:
    async def main(loop: asyncio.AbstractEventLoop) -> list[float]:
        limiter = _limiter(loop)  # a: 5/s, bucket 5
        await asyncio.sleep(2.0)
        assert limiter.slot_in_s("a1", 1) == 0.0
        limiter.on_assigned(1, 4)  # 1.25/s, bucket 1.25: the 5 stored calls become 1.25
        waits = []
        for _ in range(2):
            waits.append(limiter.slot_in_s("a1", 1))
            assert await limiter.acquire("a1", 1)
        waits.append(limiter.slot_in_s("a1", 1))
        return waits

    assert run(main) == [0.0, pytest.approx(0.6), pytest.approx(0.8)]


def test_a_revocation_hands_no_stored_calls_to_the_next_assignment() -> None:
    async def main(loop: asyncio.AbstractEventLoop) -> tuple[bool, float]:
        limiter = _limiter(loop)  # a: 5/s, bucket 5
        await asyncio.sleep(2.0)  # full
        limiter.on_revoked()
        await asyncio.sleep(1.0)
        limiter.on_assigned(4, 4)
        # Kept, the 5 calls would add to what the partitions' new owners may call.
        return await _timed(loop, limiter.acquire("a1", 1))

    assert run(main) == (True, 3.2)


def test_the_share_counts_the_partitions_calls_are_made_from() -> None:
    owned = [("llm.requests", 0), ("llm.requests", 3), ("llm.dispatch", 1), ("llm.usage", 2)]
    assert calling_share(owned, {"llm.dispatch"}, 4) == (1, 4)
    # First attempts made by triage: the request topic's partitions count too.
    assert calling_share(owned, {"llm.dispatch", "llm.requests"}, 4) == (3, 8)
    assert calling_share([], {"llm.dispatch", "llm.requests"}, 4) == (0, 8)
