"""The window: bounded work in flight, acks in order per partition, poison events
dead-lettered, rebalances handing work over.

faust hands an agent a stream; the window only uses ``noack()``, ``events()`` and
``ack(event)`` of it, so a small in-memory stream stands in for faust's here. The
broker-backed behaviour (crash, replay, rebalance) is covered by tests/integration.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, cast

import pytest

from streams.window import Handler, Source, Window


@dataclass
class _Message:
    topic: str
    partition: int
    offset: int


@dataclass
class _Event:
    value: bytes
    message: _Message


@dataclass
class _Stream:
    """Events pushed by the test; a live stream never ends on its own."""

    queue: asyncio.Queue[_Event] = field(default_factory=asyncio.Queue)
    acked: list[tuple[int, int]] = field(default_factory=list)
    offsets: dict[int, int] = field(default_factory=dict)

    def push(self, value: bytes, partition: int = 0, offset: int | None = None) -> None:
        if offset is None:
            offset = self.offsets.get(partition, 0)
        self.offsets[partition] = offset + 1
        self.queue.put_nowait(_Event(value, _Message("t", partition, offset)))

    def noack(self) -> _Stream:
        return self

    async def events(self) -> AsyncIterator[_Event]:
        while True:
            yield await self.queue.get()

    async def ack(self, event: _Event) -> bool:
        self.acked.append((event.message.partition, event.message.offset))
        return True


Poisoned = list[tuple[bytes, Source, Exception]]


def _window(
    handle: Handler,
    poisoned: Poisoned,
    *,
    max_in_flight: int = 8,
    max_unacked: int = 100,
    tries: int = 2,
) -> Window:
    async def on_poison(raw: bytes, source: Source, exc: Exception) -> None:
        poisoned.append((raw, source, exc))

    return Window(
        handle,
        max_in_flight=max_in_flight,
        max_unacked=max_unacked,
        on_poison=on_poison,
        handler_tries=tries,
        retry_backoff_s=0.001,
    )


async def _until(check: Callable[[], bool], task: asyncio.Task[None], what: str) -> None:
    async with asyncio.timeout(10):
        while not check():
            if task.done():
                task.result()
            await asyncio.sleep(0.002)


async def test_acks_follow_arrival_order_per_partition_while_work_overlaps() -> None:
    stream = _Stream()
    running = peak = 0

    async def handle(raw: bytes, source: Source) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.001 * (20 - int(raw)))  # later events finish first
        running -= 1

    for i in range(20):
        stream.push(str(i).encode())
    window = _window(handle, [], max_in_flight=8)
    task = asyncio.create_task(window.run(cast(Any, stream)))
    try:
        await _until(lambda: len(stream.acked) == 20, task, "20 acks")
    finally:
        task.cancel()
    assert stream.acked == [(0, i) for i in range(20)]
    assert 1 < peak <= 8


async def test_a_hung_event_holds_its_partition_back_but_not_the_work_behind_it() -> None:
    stream = _Stream()
    release = asyncio.Event()
    handled: list[bytes] = []

    async def handle(raw: bytes, source: Source) -> None:
        if raw == b"hang":
            await release.wait()
        handled.append(raw)

    stream.push(b"hang", partition=0)
    for i in range(50):
        stream.push(f"p0-{i}".encode(), partition=0)
        stream.push(f"p1-{i}".encode(), partition=1)
    # Two calls in flight at most: the hung one holds one slot, the rest flow through.
    window = _window(handle, [], max_in_flight=2)
    task = asyncio.create_task(window.run(cast(Any, stream)))
    try:
        await _until(lambda: len(handled) == 100, task, "100 handled")
        # Partition 1 is committed through; partition 0 waits for its hung head.
        assert [o for p, o in stream.acked if p == 1] == list(range(50))
        assert not [o for p, o in stream.acked if p == 0]
        assert window.unacked == 51
        release.set()
        await _until(lambda: len(stream.acked) == 101, task, "all acks")
    finally:
        task.cancel()
    assert [o for p, o in stream.acked if p == 0] == list(range(51))


async def test_unacked_bound_stops_consumption_until_the_head_finishes() -> None:
    stream = _Stream()
    release = asyncio.Event()
    started: list[bytes] = []

    async def handle(raw: bytes, source: Source) -> None:
        started.append(raw)
        if raw == b"0":
            await release.wait()

    for i in range(10):
        stream.push(str(i).encode())
    window = _window(handle, [], max_in_flight=8, max_unacked=4)
    task = asyncio.create_task(window.run(cast(Any, stream)))
    try:
        await _until(lambda: len(started) == 4, task, "4 started")
        await asyncio.sleep(0.05)  # give the feeder every chance to overrun the bound
        assert len(started) == 4
        release.set()
        await _until(lambda: len(stream.acked) == 10, task, "all acks")
    finally:
        task.cancel()


async def test_a_poison_event_is_retried_then_dead_lettered_and_the_stream_moves_on() -> None:
    stream = _Stream()
    calls: dict[bytes, int] = {}
    poisoned: Poisoned = []

    async def handle(raw: bytes, source: Source) -> None:
        calls[raw] = calls.get(raw, 0) + 1
        if raw == b"boom":
            raise TypeError("cannot encode HttpUrl")

    for value in (b"0", b"boom", b"2", b"3"):
        stream.push(value)
    window = _window(handle, poisoned, tries=3)
    task = asyncio.create_task(window.run(cast(Any, stream)))
    try:
        await _until(lambda: len(stream.acked) == 4, task, "4 acks")
    finally:
        task.cancel()
    assert calls[b"boom"] == 3
    assert [(raw, src) for raw, src, _ in poisoned] == [(b"boom", Source("t", 0, 1))]
    assert isinstance(poisoned[0][2], TypeError)
    assert stream.acked == [(0, 0), (0, 1), (0, 2), (0, 3)]


async def test_a_failing_dead_letter_stops_the_window() -> None:
    stream = _Stream()

    async def handle(raw: bytes, source: Source) -> None:
        raise ValueError("bug")

    async def on_poison(raw: bytes, source: Source, exc: Exception) -> None:
        raise ConnectionError("broker unreachable")

    stream.push(b"x")
    window = Window(handle, max_in_flight=2, max_unacked=2, on_poison=on_poison, handler_tries=1)
    with pytest.raises(ConnectionError, match="broker unreachable"):
        async with asyncio.timeout(10):
            await window.run(cast(Any, stream))
    assert stream.acked == []


async def test_after_a_rebalance_redelivered_events_adopt_their_running_work() -> None:
    stream = _Stream()
    release = asyncio.Event()
    runs: list[bytes] = []

    async def handle(raw: bytes, source: Source) -> None:
        runs.append(raw)
        await release.wait()

    stream.push(b"a", partition=0)
    stream.push(b"b", partition=1)
    window = _window(handle, [])
    task = asyncio.create_task(window.run(cast(Any, stream)))
    try:
        await _until(lambda: len(runs) == 2, task, "2 running")
        window.on_revoked()
        window.on_assigned([("t", 0)])  # partition 1 moved to another worker
        assert window.in_flight == 1
        stream.push(b"a", partition=0, offset=0)  # faust redelivers from the commit
        await asyncio.sleep(0.02)
        release.set()
        await _until(lambda: stream.acked == [(0, 0)], task, "the adopted ack")
    finally:
        task.cancel()
    assert runs == [b"a", b"b"]  # nothing ran twice


async def test_no_ack_while_a_rebalance_is_under_way_and_acks_resume_after() -> None:
    stream = _Stream()
    rebalancing = True

    async def handle(raw: bytes, source: Source) -> None:
        return None

    window = Window(
        cast(Any, handle),
        max_in_flight=4,
        max_unacked=10,
        on_poison=cast(Any, None),
        acks_paused=lambda: rebalancing,
    )
    stream.push(b"a")
    task = asyncio.create_task(window.run(cast(Any, stream)))
    try:
        await asyncio.sleep(0.3)  # the handler is long done; the ack must still wait
        assert stream.acked == []
        rebalancing = False
        await _until(lambda: stream.acked == [(0, 0)], task, "the ack after the rebalance")
    finally:
        task.cancel()


async def test_an_event_that_waited_through_a_rebalance_is_left_to_its_redelivery() -> None:
    stream = _Stream()
    release = asyncio.Event()
    runs: list[bytes] = []

    async def handle(raw: bytes, source: Source) -> None:
        runs.append(raw)
        if raw == b"slow":
            await release.wait()

    window = _window(handle, [], max_in_flight=1)
    stream.push(b"slow")  # holds the only slot
    stream.push(b"next")  # waits for the slot, then a rebalance comes
    task = asyncio.create_task(window.run(cast(Any, stream)))
    try:
        await _until(lambda: runs == [b"slow"], task, "the slow one running")
        await asyncio.sleep(0.02)
        window.on_revoked()
        window.on_assigned([("t", 0)])
        release.set()
        stream.push(b"slow", offset=0)  # faust redelivers from the commit
        stream.push(b"next", offset=1)
        await _until(lambda: stream.acked == [(0, 0), (0, 1)], task, "both acked once")
    finally:
        task.cancel()
    assert runs == [b"slow", b"next"]  # the adopted slow one did not run again


async def test_a_failing_handler_is_logged_without_its_message(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # An exception's message can quote the event (pydantic quotes input values); the
    # log gets the type and the stack, the dead letter the message.
    stream = _Stream()
    poisoned: Poisoned = []

    async def handle(raw: bytes, source: Source) -> None:
        raise ValueError(f"bad input_value='{raw.decode()}'")

    stream.push(b"jane.doe@example.com")
    window = _window(handle, poisoned, tries=2)
    caplog.set_level(logging.WARNING, logger="streams.window")
    task = asyncio.create_task(window.run(cast(Any, stream)))
    try:
        await _until(lambda: len(stream.acked) == 1, task, "1 ack")
    finally:
        task.cancel()
    assert "jane.doe@example.com" in str(poisoned[0][2])
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "retrying: ValueError" in logged
    assert "dead-lettering the event: ValueError, raised at" in logged
    assert "in handle" in logged  # the stack says where
    assert "jane.doe@example.com" not in logged


async def test_shared_slots_bound_the_window_and_work_started_elsewhere_together() -> None:
    slots = asyncio.Semaphore(3)
    stream = _Stream()
    running = peak = 0
    release = asyncio.Event()

    async def busy() -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await release.wait()
        running -= 1

    async def handle(raw: bytes, source: Source) -> None:
        await busy()

    async def elsewhere() -> None:  # e.g. triage's inline first attempts
        async with slots:
            await busy()

    outside = [asyncio.create_task(elsewhere()) for _ in range(2)]
    await asyncio.sleep(0)
    for i in range(5):
        stream.push(str(i).encode())
    window = Window(handle, max_in_flight=100, max_unacked=100, on_poison=_never, slots=slots)
    task = asyncio.create_task(window.run(cast(Any, stream)))
    try:
        await _until(lambda: running == 3, task, "three running")
        await asyncio.sleep(0.05)  # nothing else may start while the slots are taken
        assert running == 3 and window.in_flight == 1
        release.set()
        await _until(lambda: len(stream.acked) == 5, task, "5 acks")
    finally:
        task.cancel()
        for t in outside:
            t.cancel()
    assert peak == 3


async def _never(raw: bytes, source: Source, exc: Exception) -> None:
    raise AssertionError(f"no event is poison here: {exc!r}")
