"""The faults a chaos run injects: worker kills, a provider outage, a store outage."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from devtools.chaos.fleet import Fleet, Slot
from devtools.chaos.plan import ChaosPlan
from devtools.stack import Emulator
from devtools.store_outage import StoreOutage

# The usage sink logs each failed insert; counted to show the store outage bit.
_FAILED_INSERT = re.compile(r"usage insert of \d+ rows failed")
# How long the store stays held after the new analytics process is ready, at most,
# waiting for its first failed insert.
_FIRST_FAILURE_DEADLINE_S = 30.0


@dataclass
class FaultRecord:
    """One injected fault: when it was planned, when it began and cleared, what happened."""

    planned_at: float
    what: str
    started_at: float | None = None
    cleared_at: float | None = None
    detail: str = ""

    def line(self) -> str:
        began = f"{self.started_at:6.1f}" if self.started_at is not None else "  -   "
        cleared = f"cleared t={self.cleared_at:6.1f}" if self.cleared_at is not None else "failed"
        return f"t={began} (planned {self.planned_at:5.1f})  {self.what}: {cleared}. {self.detail}"


async def inject_fault(
    kind: str,
    at: float,
    index: int,
    plan: ChaosPlan,
    fleet: Fleet,
    emulator: Emulator,
    store_path: Path,
    now: Callable[[], float],
    records: list[FaultRecord],
) -> None:
    """Wait until ``at`` (seconds since the first publish), then inject ``kind``."""
    await asyncio.sleep(max(0.0, at - now()))
    if kind == "kill":
        gateways = fleet.gateway_slots
        slot = gateways[sum(1 for r in records if r.what.startswith("SIGKILL")) % len(gateways)]
        record = FaultRecord(at, f"SIGKILL {slot.name}")
        records.append(record)
        await asyncio.to_thread(_kill_and_replace, fleet, slot, record, now)
    elif kind == "provider_outage":
        record = FaultRecord(at, f"provider outage of {plan.provider_outage_s:g} s")
        records.append(record)
        record.started_at = now()
        await asyncio.to_thread(emulator.outage, plan.provider_outage_s)
        await asyncio.sleep(plan.provider_outage_s)
        record.cleared_at = now()
        record.detail = "every call dropped without an answer, counted by the emulator"
    elif kind == "store_outage":
        slot = fleet.analytics_slot
        record = FaultRecord(at, f"store outage of {plan.store_outage_s:g} s ({slot.name})")
        records.append(record)
        await asyncio.to_thread(
            _store_outage, fleet, slot, store_path, plan.store_outage_s, record, now
        )
    else:
        raise ValueError(f"unknown fault {kind!r} (#{index})")


def _kill_and_replace(
    fleet: Fleet, slot: Slot, record: FaultRecord, now: Callable[[], float]
) -> None:
    with slot.lock:
        record.started_at = now()
        killed = fleet.kill(slot)
        try:
            tag = fleet.start(slot)
        except (RuntimeError, TimeoutError) as exc:
            record.detail = f"killed {killed}; the replacement failed to start: {exc}"
            return
        record.cleared_at = now()
        record.detail = f"killed {killed}; replacement {tag} ready"


def _store_outage(
    fleet: Fleet,
    slot: Slot,
    store_path: Path,
    hold_s: float,
    record: FaultRecord,
    now: Callable[[], float],
) -> None:
    with slot.lock:
        record.started_at = now()
        killed = fleet.kill(slot)
        outage = StoreOutage(store_path)
        try:
            held_at = now()
            try:
                tag = fleet.start(slot)
            except (RuntimeError, TimeoutError) as exc:
                record.detail = f"killed {killed}; the new process failed to start: {exc}"
                tag = None
            ready_at = now()
            # Hold for the planned time and until the new process has failed an insert
            # (it first tries once a batch is due), within a deadline.
            release_at, deadline = held_at + hold_s, ready_at + _FIRST_FAILURE_DEADLINE_S
            failed = 0
            while now() < release_at or (not failed and tag is not None and now() < deadline):
                time.sleep(0.2)
                if tag is not None and slot.worker is not None:
                    failed = len(_FAILED_INSERT.findall(slot.worker.process.log_text()))
        finally:
            outage.end()
        record.cleared_at = now()
        if tag is not None:
            record.detail = (
                f"killed {killed}, lock held from t={held_at:.1f}; {tag} ready at"
                f" t={ready_at:.1f}, {failed} failed inserts while held"
            )
