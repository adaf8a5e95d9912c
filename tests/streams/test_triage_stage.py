"""The triage stage with a recording publisher: what reaches dispatch, what is settled as
a dead letter, and what is dropped because the request is answered or seen."""

from __future__ import annotations

import orjson
import pytest

from schemas.config import GatewayConfig
from schemas.config_loader import load_config
from schemas.events import DeadLetter, DispatchEvent
from streams.triage import TriageStage
from tests.paths import EXAMPLE_CONFIG
from tests.streams.recording import RecordingPublisher, ready_ledger


@pytest.fixture
def config() -> GatewayConfig:
    return load_config(EXAMPLE_CONFIG)


def _raw(request_id: str, **over: object) -> bytes:
    return orjson.dumps(
        {
            "request_id": request_id,
            "tenant": "acme",
            "messages": [{"role": "user", "content": "hello"}],
            **over,
        }
    )


async def test_a_request_goes_to_dispatch_once(config: GatewayConfig) -> None:
    publisher, ledger = RecordingPublisher(), ready_ledger()
    stage = TriageStage(config, publisher, ledger)  # type: ignore[arg-type]
    await stage.handle(_raw("r-1"))
    await stage.handle(_raw("r-1"))  # republished while in flight
    sent: list[DispatchEvent] = publisher.on("llm.dispatch")
    assert [d.request_id for d in sent] == ["r-1"]


async def test_an_answered_request_is_dropped_even_by_a_fresh_worker(
    config: GatewayConfig,
) -> None:
    publisher, ledger = RecordingPublisher(), ready_ledger()

    async def nothing() -> None:
        return None

    assert await ledger.settle("r-2", nothing())  # the ledger read its answer from the topic
    stage = TriageStage(config, publisher, ledger)  # type: ignore[arg-type]
    await stage.handle(_raw("r-2"))
    assert publisher.sent == []


async def test_a_failed_forward_is_not_a_duplicate_when_run_again(config: GatewayConfig) -> None:
    publisher, ledger = RecordingPublisher(), ready_ledger()
    publisher.failures["llm.dispatch"] = 1
    stage = TriageStage(config, publisher, ledger)  # type: ignore[arg-type]
    with pytest.raises(ConnectionError):
        await stage.handle(_raw("r-3"))
    await stage.handle(_raw("r-3"))
    assert [d.request_id for d in publisher.on("llm.dispatch")] == ["r-3"]


async def test_a_rejection_is_settled_once(config: GatewayConfig) -> None:
    publisher, ledger = RecordingPublisher(), ready_ledger()
    stage = TriageStage(config, publisher, ledger)  # type: ignore[arg-type]
    await stage.handle(_raw("r-4", route="platinum"))
    stage.recent.forget("r-4")  # a fresh worker replaying it after a crash
    await stage.handle(_raw("r-4", route="platinum"))
    letters: list[DeadLetter] = publisher.on("llm.dlq")
    assert [(d.request_id, d.reason) for d in letters] == [("r-4", "unknown_route")]
    assert ledger.answered("r-4")
    assert len(publisher.on("llm.usage")) == 1


async def test_an_inline_stage_makes_the_first_attempt_itself(config: GatewayConfig) -> None:
    publisher, ledger = RecordingPublisher(), ready_ledger()
    called: list[DispatchEvent] = []

    async def inline(dispatch: DispatchEvent) -> None:
        called.append(dispatch)

    stage = TriageStage(config, publisher, ledger, inline=inline)  # type: ignore[arg-type]
    await stage.handle(_raw("r-6"), 0)
    await stage.handle(_raw("r-6"), 0)  # republished while in flight
    assert [d.request_id for d in called] == ["r-6"]
    assert [d.attempt for d in called] == [1]
    assert publisher.sent == []


async def test_a_request_read_elsewhere_goes_through_the_dispatch_topic(
    config: GatewayConfig,
) -> None:
    publisher, ledger = RecordingPublisher(), ready_ledger()
    called: list[DispatchEvent] = []

    async def inline(dispatch: DispatchEvent) -> None:
        called.append(dispatch)

    stage = TriageStage(
        config,
        publisher,  # type: ignore[arg-type]
        ledger,
        inline=inline,
        inline_here=lambda partition, request_id: partition == 1,
    )
    await stage.handle(_raw("r-9"), 3)  # e.g. a copy on another partition
    await stage.handle(_raw("r-10"))  # where it was read is not known
    await stage.handle(_raw("r-11"), 1)
    assert [d.request_id for d in publisher.on("llm.dispatch")] == ["r-9", "r-10"]
    assert [d.request_id for d in called] == ["r-11"]


async def test_a_tenant_with_admission_is_not_called_inline(config: GatewayConfig) -> None:
    budgets = {"default": {"budgets": [{"period": "day", "limit_usd": "5"}]}}
    admitted = GatewayConfig.model_validate({**config.model_dump(), "admission": budgets})
    publisher, ledger = RecordingPublisher(), ready_ledger()

    async def inline(dispatch: DispatchEvent) -> None:
        raise AssertionError("admission comes before any call")

    stage = TriageStage(admitted, publisher, ledger, inline=inline)  # type: ignore[arg-type]
    await stage.handle(_raw("r-7"), 0)
    assert [a.request_id for a in publisher.on("llm.admission")] == ["r-7"]


async def test_a_failed_inline_attempt_is_not_a_duplicate_when_run_again(
    config: GatewayConfig,
) -> None:
    publisher, ledger = RecordingPublisher(), ready_ledger()
    called: list[str] = []

    async def inline(dispatch: DispatchEvent) -> None:
        called.append(dispatch.request_id)
        if len(called) == 1:
            raise ConnectionError("the started row could not be written")

    stage = TriageStage(config, publisher, ledger, inline=inline)  # type: ignore[arg-type]
    with pytest.raises(ConnectionError):
        await stage.handle(_raw("r-8"), 0)
    await stage.handle(_raw("r-8"), 0)  # the window's next run of the handler
    assert called == ["r-8", "r-8"]
