"""The health board without a broker: breakers per deployment, background publishing of
transitions (one in flight per deployment), and records other workers wrote.

The send callback is a recorder; reading the topic is tests/integration/test_health_board.py.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from schemas.config import BreakerConfig
from schemas.health import HealthRecord, deployment_key
from streams.health import HealthBoard

T0 = 1_700_000_000.0
API = deployment_key("openai", "gpt-4o-mini")
OTHER = deployment_key("anthropic", "claude-haiku")
CONFIG = BreakerConfig(consecutive_failures=3, cooldown_s=5, probe_calls=1)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


class Sender:
    """Records what the board publishes; ``gate`` holds sends until set."""

    def __init__(self, fail: bool = False) -> None:
        self.sent: list[HealthRecord] = []
        self.started = 0
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail = fail

    async def __call__(self, record: HealthRecord) -> None:
        self.started += 1
        await self.gate.wait()
        if self.fail:
            raise ConnectionError("broker away")
        self.sent.append(record)


def _board(send: Sender, clock: Clock, writer: str = "me") -> HealthBoard:
    return HealthBoard("127.0.0.1:1", "llm.health", send, CONFIG, writer=writer, clock=clock)


async def _until(check: Callable[[], bool], deadline_s: float = 5) -> None:
    async with asyncio.timeout(deadline_s):
        while not check():
            await asyncio.sleep(0.001)


def _fail(board: HealthBoard, deployment: str, times: int) -> None:
    for _ in range(times):
        assert board.allow(deployment)
        board.record(deployment, False)


def _theirs(state: str, since: float, **fields: object) -> HealthRecord:
    data: dict[str, object] = {
        "deployment": API,
        "state": state,
        "since": since,
        "cooldown_s": 5,
        "error_rate": 0.0,
        "calls_in_window": 0,
        "written_by": "them",
    }
    data.update(fields)
    return HealthRecord.model_validate(data)


async def test_an_opening_is_published_in_the_background_and_blocks_calls() -> None:
    send, clock = Sender(), Clock()
    board = _board(send, clock)
    send.gate.clear()
    _fail(board, API, 3)  # returns although the send is held
    assert not board.allow(API)
    assert board.allow(OTHER)  # breakers are per deployment
    await _until(lambda: send.started == 1)
    assert send.sent == []
    send.gate.set()
    await _until(lambda: len(send.sent) == 1)
    record = send.sent[0]
    assert (record.deployment, record.state, record.since, record.cooldown_s) == (
        API,
        "open",
        T0,
        5,
    )
    assert record.written_by == "me"
    assert HealthRecord.from_bytes(record.to_bytes()) == record


async def test_one_publish_in_flight_per_deployment_and_the_latest_state_goes_last() -> None:
    send, clock = Sender(), Clock()
    board = _board(send, clock)
    send.gate.clear()
    _fail(board, API, 3)  # open: publish 1 starts, held
    await _until(lambda: send.started == 1)
    clock.now = T0 + 5
    assert board.allow(API)  # half-open probe
    board.record(API, False)  # re-opened: queued behind the held publish
    clock.now = T0 + 15
    assert board.allow(API)
    board.record(API, True, latency_ms=120)  # closed: coalesced with the re-opening
    _fail(board, OTHER, 3)  # another deployment does not wait for this one
    await _until(lambda: send.started == 2)
    await asyncio.sleep(0.01)
    assert send.started == 2  # the API's second publish waits for its first
    send.gate.set()
    await _until(lambda: len(send.sent) == 3)
    await asyncio.sleep(0.01)
    mine = [(r.state, r.since) for r in send.sent if r.deployment == API]
    # The record is built when it is sent: the first carries the state at that moment.
    assert mine[-1] == ("closed", T0 + 15)
    assert len(mine) == 2  # the re-opening and the close went as one record
    assert send.started == 3


async def test_a_failed_publish_is_logged_and_the_caller_never_sees_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    send, clock = Sender(fail=True), Clock()
    board = _board(send, clock)
    with caplog.at_level(logging.WARNING, logger="streams.health"):
        _fail(board, API, 3)
        await _until(lambda: board.publish_failures == 1)
    assert not board.allow(API)
    assert any(
        "publishing the health of openai/gpt-4o-mini failed" in r.message for r in caplog.records
    )
    # The periodic record restates it once the broker is back (here: calls in the window).
    send.fail = False
    clock.now = T0 + 5
    assert board.allow(API)
    board.record(API, False)  # a failed probe: re-opened with 10 s
    await _until(lambda: len(send.sent) == 1)
    assert send.sent[0].cooldown_s == 10


async def test_records_of_other_workers_apply_and_our_own_are_skipped() -> None:
    send, clock = Sender(), Clock()
    board = _board(send, clock)
    assert not board.apply(_theirs("open", T0, written_by="me"))
    assert board.allow(API)
    assert board.apply(_theirs("open", T0))
    assert board.state(API) == "open" and not board.allow(API)
    assert not board.apply(_theirs("open", T0))  # a restatement changes nothing
    clock.now = T0 + 5
    assert board.state(API) == "half_open"
    assert board.apply(_theirs("closed", T0 + 6))
    assert board.allow(API)
    assert board.applied == 2
    # Applying never publishes: only the worker that saw the change does.
    await asyncio.sleep(0)
    assert send.started == 0


async def test_periodic_records_cover_deployments_called_in_the_window() -> None:
    send, clock = Sender(), Clock()
    board = _board(send, clock)
    for i in range(4):
        board.allow(API)
        board.record(API, i != 0, latency_ms=200 if i else None)
    board.apply(_theirs("closed", T0 - 100, deployment=OTHER, latency_ewma_ms=50))
    board.publish_stats()
    await _until(lambda: len(send.sent) == 1)
    (record,) = send.sent
    assert record.deployment == API and record.state == "closed"
    assert (record.calls_in_window, record.error_rate, record.latency_ewma_ms) == (4, 0.25, 200)
    clock.now = T0 + CONFIG.window_s + 1
    board.publish_stats()  # the calls have left the window: nothing to restate
    await asyncio.sleep(0.01)
    assert len(send.sent) == 1


async def test_latency_prefers_own_fresh_figure_else_the_latest_known() -> None:
    send, clock = Sender(), Clock()
    board = _board(send, clock)
    board.record(API, True, latency_ms=100)
    board.record(OTHER, True, latency_ms=400)
    at = datetime.fromtimestamp(T0 + 10, UTC)
    board.apply(_theirs("closed", T0, latency_ewma_ms=900, at=at))
    board.apply(_theirs("closed", T0, deployment=OTHER, latency_ewma_ms=700, at=at))
    board.apply(_theirs("closed", T0, deployment="groq/llama", latency_ewma_ms=80, at=at))
    clock.now = T0 + 20
    # Own figures are fresh (within the window): they win over another worker's.
    assert board.latency_ms() == {API: 100, OTHER: 400, "groq/llama": 80}
    clock.now = T0 + 31
    board.record(API, True, latency_ms=100)
    # OTHER's own figure is a window old: the newer one another worker wrote counts.
    assert board.latency_ms() == {API: 100, OTHER: 700, "groq/llama": 80}


async def test_snapshot_is_this_worker_view_of_each_deployment() -> None:
    send, clock = Sender(), Clock()
    board = _board(send, clock)
    board.record(OTHER, True, latency_ms=300)
    _fail(board, API, 3)
    clock.now = T0 + 2
    snap = {r.deployment: r for r in board.snapshot()}
    assert list(snap) == sorted([API, OTHER])
    assert snap[API].state == "open" and snap[API].since == T0
    assert snap[OTHER].state == "closed" and snap[OTHER].latency_ewma_ms == 300
    assert snap[OTHER].calls_in_window == 1 and snap[OTHER].written_by == "me"
    clock.now = T0 + 5
    assert {r.deployment: r.state for r in board.snapshot()}[API] == "half_open"


async def test_a_cancelled_probe_is_released() -> None:
    send, clock = Sender(), Clock()
    board = _board(send, clock)
    _fail(board, API, 3)
    clock.now = T0 + 5
    assert board.allow(API) and not board.allow(API)  # probe_calls=1
    board.release(API)
    assert board.allow(API)


async def test_stop_waits_for_a_publish_in_flight() -> None:
    send, clock = Sender(), Clock()
    board = _board(send, clock)
    send.gate.clear()
    _fail(board, API, 3)
    await _until(lambda: send.started == 1)
    stopping = asyncio.create_task(board.stop())
    await asyncio.sleep(0.01)
    assert not stopping.done()
    send.gate.set()
    await asyncio.wait_for(stopping, 5)
    assert [r.state for r in send.sent] == ["open"]
