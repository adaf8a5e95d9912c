"""The worker processes of a chaos run, kept running like a supervisor would."""

from __future__ import annotations

import signal
import subprocess
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from devtools.chaos.plan import ChaosPlan
from devtools.stack import ROUTEYARD, Worker

# A worker that exits by itself is restarted, as a supervisor would, but not forever.
_MAX_UNPLANNED_RESTARTS = 5


def roles_supported() -> bool:
    """Whether ``routeyard worker`` takes ``--role`` yet."""
    help_text = subprocess.run(
        [*ROUTEYARD, "worker", "--help"], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    return "--role" in help_text


@dataclass
class Slot:
    """One process the fleet keeps running: a role, its current worker, its history."""

    name: str
    role: str | None
    gateway: bool
    analytics: bool
    worker: Worker | None = None
    generation: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    restarts: int = 0


class Fleet:
    """The worker processes; every start and stop is by pid, from worker threads."""

    def __init__(self, tmp: Path, config: Path, bootstrap: str, split: bool, plan: ChaosPlan):
        self.tmp, self.config, self.bootstrap = tmp, config, bootstrap
        if split:
            self.slots = [
                Slot(f"gateway-{i + 1}", "gateway", gateway=True, analytics=False)
                for i in range(plan.gateways)
            ]
            self.slots.append(Slot("analytics", "analytics", gateway=False, analytics=True))
        else:
            # "all" once the CLI has roles; before that the flagless worker is the same.
            role = "all" if roles_supported() else None
            self.slots = [Slot("worker", role, gateway=True, analytics=True)]
        self.exits: list[str] = []
        self.closed = False

    def describe(self) -> str:
        parts = Counter(f"--role {s.role}" if s.role else "no --role flag" for s in self.slots)
        return ", ".join(f"{n} worker(s) with {what}" for what, n in parts.items())

    @property
    def gateway_slots(self) -> list[Slot]:
        return [s for s in self.slots if s.gateway]

    @property
    def analytics_slot(self) -> Slot:
        return next(s for s in self.slots if s.analytics)

    def start(self, slot: Slot) -> str:
        """Start the slot's next worker (caller holds its lock); its tag."""
        if self.closed:
            raise RuntimeError("the fleet is stopping")
        slot.generation += 1
        tag = f"{slot.name}-{slot.generation}"
        slot.worker = None
        slot.worker = Worker(self.tmp, self.config, self.bootstrap, tag=tag, role=slot.role)
        return tag

    def kill(self, slot: Slot) -> str:
        """SIGKILL the slot's worker (caller holds its lock); its tag."""
        worker, slot.worker = slot.worker, None
        if worker is None:
            return "(none running)"
        worker.stop(signal.SIGKILL)
        return worker.process.name

    def restart_exited(self, now: Callable[[], float]) -> None:
        """Restart workers that exited without being told to, like a supervisor would."""
        for slot in self.slots:
            if slot.restarts >= _MAX_UNPLANNED_RESTARTS or not slot.lock.acquire(blocking=False):
                continue
            try:
                worker = slot.worker
                if self.closed or (worker is not None and worker.process.alive()):
                    continue
                if worker is not None:
                    code = worker.stop()
                    what = f"{worker.process.name} exited by itself (status {code})"
                else:
                    what = f"{slot.name} had no worker (a start had failed)"
                slot.restarts += 1
                try:
                    tag = self.start(slot)
                    self.exits.append(f"t={now():6.1f}  {what}; restarted as {tag}")
                except (RuntimeError, TimeoutError) as exc:
                    self.exits.append(f"t={now():6.1f}  {what}; restart failed: {exc}")
            finally:
                slot.lock.release()

    def stop_all(self) -> dict[str, int]:
        self.closed = True  # a fault or restart still running starts nothing new after this
        codes: dict[str, int] = {}
        for slot in self.slots:
            with slot.lock:
                if slot.worker is not None:
                    codes[slot.worker.process.name] = slot.worker.stop()
                    slot.worker = None
        return codes
