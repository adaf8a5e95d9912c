"""ArrivalOrder: turns begin in the order they were asked for, whatever wakes first."""

from __future__ import annotations

import asyncio

import pytest

from streams.arrival_order import ArrivalOrder


async def _visit(
    order: ArrivalOrder, partition: int, name: str, delay_s: float, log: list[str]
) -> None:
    async with order.turn(partition):
        # A wait inside the turn that ends sooner for later arrivals, like a poll for an
        # assignment that a later event no longer needs.
        await asyncio.sleep(delay_s)
        log.append(name)


async def test_turns_follow_arrival_not_wake_up() -> None:
    order, log = ArrivalOrder(), list[str]()
    tasks = [
        asyncio.create_task(_visit(order, 0, f"e{i}", delay, log))
        for i, delay in enumerate([0.05, 0.0, 0.02, 0.0])
    ]
    await asyncio.wait_for(asyncio.gather(*tasks), 5)
    assert log == ["e0", "e1", "e2", "e3"]


async def test_partitions_do_not_wait_on_each_other() -> None:
    order, log = ArrivalOrder(), list[str]()
    slow = asyncio.create_task(_visit(order, 0, "p0", 0.2, log))
    fast = asyncio.create_task(_visit(order, 1, "p1", 0.0, log))
    await asyncio.wait_for(fast, 5)
    assert log == ["p1"] and not slow.done()
    await asyncio.wait_for(slow, 5)


async def test_a_cancelled_waiter_does_not_let_later_ones_pass() -> None:
    order, log = ArrivalOrder(), list[str]()
    release = asyncio.Event()

    async def first() -> None:
        async with order.turn(0):
            await release.wait()
            log.append("first")

    head = asyncio.create_task(first())
    middle = asyncio.create_task(_visit(order, 0, "middle", 0.0, log))
    last = asyncio.create_task(_visit(order, 0, "last", 0.0, log))
    await asyncio.sleep(0.01)
    middle.cancel()
    await asyncio.sleep(0.05)
    assert log == [] and not last.done()  # still behind the head of the line
    release.set()
    await asyncio.wait_for(asyncio.gather(head, last), 5)
    assert log == ["first", "last"]
    assert middle.cancelled()


async def test_a_turn_that_raises_ends_and_the_next_goes_on() -> None:
    order, log = ArrivalOrder(), list[str]()

    async def failing() -> None:
        async with order.turn(0):
            await asyncio.sleep(0.01)
            raise RuntimeError("handler failed")

    bad = asyncio.create_task(failing())
    good = asyncio.create_task(_visit(order, 0, "next", 0.0, log))
    with pytest.raises(RuntimeError):
        await bad
    await asyncio.wait_for(good, 5)
    assert log == ["next"]
    assert not order.waiting(0)
