"""The retry holder with a recording publisher: each event waits for its own due time,
and an attempt whose request was answered meanwhile is not released."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

from schemas.base import utcnow
from schemas.config import TopicsConfig
from schemas.events import DispatchEvent, ErrorInfo, RetryEvent
from streams.outcome_ledger import OutcomeLedger
from streams.retry import RetryHolder
from tests.streams.recording import RecordingPublisher, ready_ledger
from tests.streams.test_dispatch import _event


def _retry(request_id: str, due_in_s: float) -> bytes:
    return RetryEvent(
        request_id=request_id,
        dispatch=_event(request_id=request_id, attempt=2),
        due_at=utcnow() + timedelta(seconds=due_in_s),
        last_error=ErrorInfo(kind="rate_limited", message="slow down", status_code=429),
    ).to_bytes()


def _holder() -> tuple[RetryHolder, RecordingPublisher, OutcomeLedger]:
    ledger = ready_ledger()
    publisher = RecordingPublisher()
    return RetryHolder(TopicsConfig(), publisher, ledger), publisher, ledger  # type: ignore[arg-type]


async def test_a_long_wait_does_not_delay_the_events_behind_it() -> None:
    holder, publisher, _ = _holder()
    t0 = time.monotonic()
    slow = asyncio.create_task(holder.handle(_retry("slow", 5)))
    await holder.handle(_retry("quick", 0.05))
    assert [key for _, _, key in publisher.sent] == ["quick"]
    assert time.monotonic() - t0 < 4
    slow.cancel()


async def test_the_next_attempt_is_released_at_its_due_time() -> None:
    holder, publisher, _ = _holder()
    t0 = time.monotonic()
    await holder.handle(_retry("r-1", 0.3))
    assert time.monotonic() - t0 >= 0.29
    [(topic, event, _)] = publisher.sent
    assert topic == "llm.dispatch"
    assert isinstance(event, DispatchEvent) and event.attempt == 2


async def test_an_answered_request_is_not_released() -> None:
    holder, publisher, ledger = _holder()

    async def nothing() -> None:
        return None

    assert await ledger.settle("r-2", nothing())
    await holder.handle(_retry("r-2", 0))
    assert publisher.sent == []


async def test_an_unreadable_retry_event_is_a_dead_letter() -> None:
    holder, publisher, _ = _holder()
    await holder.handle(b'{"request_id": "x"}')
    [(topic, letter, key)] = publisher.sent
    assert topic == "llm.dlq" and key is None
    assert "retry event fails the schema" in letter.detail  # type: ignore[attr-defined]
