"""The admission stage and its tenant books: no snapshot may call an event decided
before that event's outputs are sent, however its handler's waits wake."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from schemas.admission import AdmitEvent, TenantSnapshot
from schemas.config import GatewayConfig
from schemas.events import Classification, DispatchEvent, LLMRequest
from streams.admission import AdmissionStage
from streams.window import Source
from tests.streams.recording import RecordingPublisher, ready_ledger
from tests.streams.stage_states import EmptyTenantStates, one_model_config

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _config() -> GatewayConfig:
    return one_model_config(
        admission={
            "snapshot_interval_ms": 1,
            "tenants": {"acme": {"budgets": [{"period": "day", "limit_usd": "1000"}]}},
        }
    )


def _admit(request_id: str) -> bytes:
    request = LLMRequest(
        request_id=request_id,
        tenant="acme",
        messages=[{"role": "user", "content": "hi"}],
        created_at=T0,
    )
    dispatch = DispatchEvent(
        request_id=request_id,
        request=request,
        classification=Classification(score=0.1, tier="simple", task_type="chat"),
        route="default",
        candidates=["m"],
        first_seen_at=T0,
    )
    return AdmitEvent(request_id=request_id, tenant="acme", dispatch=dispatch).to_bytes()


async def test_a_snapshot_never_passes_an_event_still_waiting_for_its_partition() -> None:
    publisher = RecordingPublisher()
    # Each snapshot as written, with the requests whose dispatch events were sent by then.
    written: list[tuple[int, set[str]]] = []

    async def send_snapshot(partition: int, tenant: str, snap: TenantSnapshot) -> None:
        sent = {event.request_id for event in publisher.on("llm.dispatch")}
        written.append((snap.confirmed_offset, sent))

    config = _config()
    states = EmptyTenantStates("unused:9092", "state", send_snapshot, 0.001)
    stage = AdmissionStage(config, publisher, ready_ledger(), states)  # type: ignore[arg-type]
    writer = asyncio.create_task(states.run())
    try:
        # Offset 10 arrives before the worker's assignment signal ran: its handler polls
        # for the partition. Offset 11 arrives once the partition is loaded.
        early = asyncio.create_task(stage.handle(_admit("r10"), Source("adm", 0, 10)))
        await asyncio.sleep(0)
        states.on_assigned([0])
        await asyncio.wait_for(states.ready(0), 5)
        late = asyncio.create_task(stage.handle(_admit("r11"), Source("adm", 0, 11)))
        await asyncio.wait_for(asyncio.gather(early, late), 5)
    finally:
        writer.cancel()
    assert written, "no snapshot was written"
    for confirmed, sent in written:
        decided = {rid for offset, rid in [(10, "r10"), (11, "r11")] if offset <= confirmed}
        assert decided <= sent, f"snapshot at offset {confirmed} before {decided - sent} was sent"
    # And the book met them in offset order.
    assert [e.request_id for e in publisher.on(config.topics.dispatch)] == ["r10", "r11"]
