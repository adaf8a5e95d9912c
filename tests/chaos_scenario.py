"""The chaos scenario: real broker, emulator and worker processes through crashes and outages.

Shared by ``benchmarks/chaos.py`` (``make chaos``, full scale) and
``tests/integration/test_chaos.py`` (CI scale). Paced traffic (valid requests, some with
an image by URL, plus events that are not JSON or fail the schema) runs while faults
happen at planned times:

- gateway workers are SIGKILLed and replaced at once;
- a provider outage: the emulator drops every call without an answer (counting it);
- a store outage: the analytics process is SIGKILLed, another process holds the
  embedded store's folder lock, a new analytics process starts while it is held (its
  inserts fail and back off), then the lock is released;
- throughout: hangs past the provider timeout, 429s and 5xx from the emulator.

Then it waits for the pipeline to drain and measures what the architecture promises:
exactly one outcome per request, every bad event dead-lettered, one usage row per
physical provider call. It measures; it does not assume the pipeline meets them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import orjson
import yaml
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from pydantic import BaseModel, ConfigDict, Field

from routeyard.devstack import ROUTEYARD, Emulator, Worker, derive_config, wait_committed
from tests.paths import EXAMPLE_CONFIG
from tests.store_outage import StoreOutage

Topology = Literal["auto", "split", "single"]

# Bad events carry a marker that survives into the dead letter's payload, so each one
# can be matched to its dead letter even when no request_id could be read from it.
_BAD_MARKER = re.compile(r"chaos-bad-(?:json|schema)-\d+")
# The usage sink logs each failed insert; counted to show the store outage bit.
_FAILED_INSERT = re.compile(r"usage insert of \d+ rows failed")
# A worker that exits by itself is restarted, as a supervisor would, but not forever.
_MAX_UNPLANNED_RESTARTS = 5
# How long the store stays held after the new analytics process is ready, at most,
# waiting for its first failed insert.
_FIRST_FAILURE_DEADLINE_S = 30.0


class ChaosPlan(BaseModel):
    """What to inject and how much traffic; times scale with the publishing window."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    requests: int = Field(default=10_000, ge=1, description="valid requests published")
    rate: float = Field(default=150.0, gt=0, description="events published per second")
    kills: int = Field(default=3, ge=0, description="gateway SIGKILLs, each replaced at once")
    provider_outage_s: float = Field(default=30.0, ge=0)
    store_outage_s: float = Field(default=20.0, ge=0)
    provider_timeout_s: float = Field(default=5.0, gt=0, description="every provider's timeout")
    latency_median_ms: float = Field(default=200.0, gt=0)
    error_rates: dict[int, float] = Field(default_factory=lambda: {429: 0.03, 500: 0.02, 503: 0.01})
    hang_rate: float = Field(default=0.02, ge=0, le=1)
    bad_share: float = Field(default=0.02, ge=0, le=1, description="extra bad events, per valid")
    image_share: float = Field(default=0.05, ge=0, le=1)
    drain_deadline_s: float = Field(default=300.0, gt=0, description="after publishing ends")
    usage_deadline_s: float = Field(
        default=120.0, gt=0, description="for the usage topic to be committed, after the drain"
    )
    topology: Topology = "auto"
    gateways: int = Field(default=2, ge=1, description="gateway workers in the split topology")
    seed: int = 7

    @classmethod
    def small(cls) -> ChaosPlan:
        """The CI scale: about two minutes on a 2-core machine."""
        return cls(
            requests=600,
            rate=30.0,
            kills=1,
            provider_outage_s=5.0,
            store_outage_s=5.0,
            drain_deadline_s=60.0,
            usage_deadline_s=30.0,
        )

    @property
    def publish_s(self) -> float:
        return self.requests * (1 + self.bad_share) / self.rate

    def schedule(self) -> list[tuple[float, str]]:
        """(seconds after the first publish, fault), spread over the publishing window."""
        window = self.publish_s
        faults = [
            (window * (0.1 + 0.6 * i / max(self.kills, 1)), "kill") for i in range(self.kills)
        ]
        if self.provider_outage_s > 0:
            faults.append((window * 0.2, "provider_outage"))
        if self.store_outage_s > 0:
            faults.append((window * 0.6, "store_outage"))
        return sorted(faults)


# Traffic


@dataclass(frozen=True)
class Event:
    id: str
    kind: Literal["valid", "not_json", "schema_invalid"]
    value: bytes


def build_traffic(plan: ChaosPlan) -> list[Event]:
    """Valid requests of several routes and tenants, bad events spread among them."""
    rng = random.Random(plan.seed)
    events = [_valid_event(f"chaos-{i:06d}", rng, plan.image_share) for i in range(plan.requests)]
    n_bad = round(plan.requests * plan.bad_share)
    for i in range(n_bad):
        if i % 2 == 0:
            rid = f"chaos-bad-json-{i}"
            bad = Event(rid, "not_json", f'{{"request_id": "{rid}", "tenant": '.encode())
        else:
            rid = f"chaos-bad-schema-{i}"
            body = {"request_id": rid, "tenant": "acme", "messages": []}
            bad = Event(rid, "schema_invalid", orjson.dumps(body))
        events.insert(rng.randrange(len(events) + 1), bad)
    return events


def _valid_event(rid: str, rng: random.Random, image_share: float) -> Event:
    body: dict[str, Any] = {
        "request_id": rid,
        "tenant": "acme",
        "messages": [{"role": "user", "content": f"hello, a short question {rid}"}],
        "params": {"max_tokens": 64},
    }
    draw = rng.random()
    if draw < image_share:
        # task_type chat keeps it off routes whose models take inline images only.
        body["task_type"] = "chat"
        body["messages"][0]["content"] = [
            {"type": "text", "text": f"what is in this picture? {rid}"},
            {"type": "image", "media_type": "image/png", "url": f"https://example.com/{rid}.png"},
        ]
        return Event(rid, "valid", orjson.dumps(body))
    draw = rng.random()
    if draw < 0.15:
        body["task_type"] = "summarize"
        body["messages"][0]["content"] = f"Summarize: the meeting moved to Tuesday. {rid}"
    elif draw < 0.25:
        body["task_type"] = "code"
        body["messages"][0]["content"] = f"Write a function that reverses a list. {rid}"
    elif draw < 0.35:
        body["tenant"] = "tenant-2"
    elif draw < 0.40:
        body["route"] = "budget"
    elif draw < 0.45:
        body["route"] = "search"
    return Event(rid, "valid", orjson.dumps(body))


# Processes


def roles_supported() -> bool:
    """Whether ``routeyard worker`` takes ``--role`` yet."""
    help_text = subprocess.run(
        [*ROUTEYARD, "worker", "--help"], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    return "--role" in help_text


@dataclass
class _Slot:
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
                _Slot(f"gateway-{i + 1}", "gateway", gateway=True, analytics=False)
                for i in range(plan.gateways)
            ]
            self.slots.append(_Slot("analytics", "analytics", gateway=False, analytics=True))
        else:
            # "all" once the CLI has roles; before that the flagless worker is the same.
            role = "all" if roles_supported() else None
            self.slots = [_Slot("worker", role, gateway=True, analytics=True)]
        self.exits: list[str] = []
        self.closed = False

    def describe(self) -> str:
        parts = Counter(f"--role {s.role}" if s.role else "no --role flag" for s in self.slots)
        return ", ".join(f"{n} worker(s) with {what}" for what, n in parts.items())

    @property
    def gateway_slots(self) -> list[_Slot]:
        return [s for s in self.slots if s.gateway]

    @property
    def analytics_slot(self) -> _Slot:
        return next(s for s in self.slots if s.analytics)

    def start(self, slot: _Slot) -> str:
        """Start the slot's next worker (caller holds its lock); its tag."""
        if self.closed:
            raise RuntimeError("the fleet is stopping")
        slot.generation += 1
        tag = f"{slot.name}-{slot.generation}"
        slot.worker = None
        slot.worker = Worker(self.tmp, self.config, self.bootstrap, tag=tag, role=slot.role)
        return tag

    def kill(self, slot: _Slot) -> str:
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


# Watching the topics


@dataclass
class _Seen:
    kind: Literal["response", "dead_letter"]
    reason: str | None
    at: float


class Outcomes:
    """Every outcome seen, by the id of the event it answers, with when it was seen."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.by_id: defaultdict[str, list[_Seen]] = defaultdict(list)
        self.unattributed: list[dict[str, Any]] = []
        self.garbled = 0
        self.last_new_at = 0.0  # when an id last got its first outcome

    def record(self, kind: Literal["response", "dead_letter"], raw: bytes | None) -> None:
        try:
            data = orjson.loads(raw or b"")
        except orjson.JSONDecodeError:
            self.garbled += 1
            return
        rid = data.get("request_id")
        if kind == "dead_letter" and not (isinstance(rid, str) and rid.startswith("chaos-")):
            found = _BAD_MARKER.search(data.get("payload") or "")
            rid = found.group(0) if found else None
        if not isinstance(rid, str):
            self.unattributed.append(data)
            return
        reason = data.get("reason") if kind == "dead_letter" else None
        seen = _Seen(kind, reason, self.clock())
        if not self.by_id[rid]:
            self.last_new_at = seen.at
        self.by_id[rid].append(seen)


class OutcomeCollector:
    """Reads llm.responses and llm.dlq from the beginning for the whole run."""

    def __init__(self, bootstrap: str, responses: str, dlq: str, clock: Callable[[], float]):
        self.topics: dict[str, Literal["response", "dead_letter"]] = {
            responses: "response",
            dlq: "dead_letter",
        }
        self.outcomes = Outcomes(clock)
        self._consumer = AIOKafkaConsumer(
            responses, dlq, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
        )
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._consumer.start()
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            await self._poll()

    async def _poll(self) -> None:
        batches = await self._consumer.getmany(timeout_ms=200)
        for tp, messages in batches.items():
            for message in messages:
                self.outcomes.record(self.topics[tp.topic], message.value)

    async def catch_up(self, deadline_s: float = 60) -> None:
        """Stop reading in the background and read up to the current end of both topics."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        assigned = list(self._consumer.assignment())
        ends = await self._consumer.end_offsets(assigned)
        end = time.monotonic() + deadline_s
        while [tp for tp in assigned if await self._consumer.position(tp) < ends[tp]]:
            if time.monotonic() > end:
                raise TimeoutError(f"could not read the outcome topics to their end: {ends}")
            await self._poll()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._consumer.stop()


class Lag:
    """How far a consumer group's committed offsets are behind the end of some topics."""

    def __init__(self, bootstrap: str, group: str, topics: list[str], partitions: int) -> None:
        self.group = group
        self.tps = [TopicPartition(t, p) for t in topics for p in range(partitions)]
        self._admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        self._probe = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)

    async def start(self) -> None:
        await self._admin.start()
        await self._probe.start()

    async def total(self) -> int:
        ends = await self._probe.end_offsets(self.tps)
        committed = await self._admin.list_consumer_group_offsets(self.group, partitions=self.tps)
        return sum(
            max(0, ends[tp] - (committed[tp].offset if tp in committed else 0)) for tp in self.tps
        )

    async def stop(self) -> None:
        await self._probe.stop()
        await self._admin.close()


# Measuring the store

_COUNT_USAGE = """
import sys, orjson
from adapters.store.backends import EmbeddedBackend
store, db = EmbeddedBackend(sys.argv[1]), sys.argv[2]
q = lambda sql: store.query(sql.format(db=db))
tables = {r["name"] for r in q("SELECT name FROM system.tables WHERE database = '{db}'")}
out = {"tables": sorted(tables)}
if "usage" in tables:
    cols = {r["name"] for r in q(
        "SELECT name FROM system.columns WHERE database = '{db}' AND table = 'usage'")}
    out["call_id"] = "call_id" in cols
    out.update(q("SELECT count() AS rows, countIf(outcome = 'rejected') AS rejected"
                 " FROM {db}.usage")[0])
    out["outcomes"] = {r["outcome"]: int(r["n"]) for r in q(
        "SELECT outcome, count() AS n FROM {db}.usage GROUP BY outcome")}
    if "call_id" in cols:
        out.update(q("SELECT uniqExactIf(call_id, outcome != 'rejected') AS calls"
                     " FROM {db}.usage")[0])
if "usage_dedup" in tables:
    out.update(q("SELECT count() AS dedup_rows, countIf(outcome != 'rejected') AS dedup_calls,"
                 " countIf(outcome IN ('success', 'error')) AS completed_calls,"
                 " countIf(outcome = 'interrupted') AS interrupted_calls"
                 " FROM {db}.usage_dedup")[0])
store.close()
print(orjson.dumps(out).decode())
"""


def count_usage(path: Path, database: str) -> dict[str, Any]:
    """Usage rows in the embedded store, read by a process of its own after the workers
    stopped (the engine lets one process hold the folder)."""
    done = subprocess.run(
        [sys.executable, "-c", _COUNT_USAGE, str(path), database],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode != 0:
        raise RuntimeError(f"counting usage rows in {path} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = orjson.loads(done.stdout.strip().splitlines()[-1])
    return result


# The run


@dataclass
class FaultRecord:
    planned_at: float
    what: str
    started_at: float | None = None
    cleared_at: float | None = None
    detail: str = ""

    def line(self) -> str:
        began = f"{self.started_at:6.1f}" if self.started_at is not None else "  -   "
        cleared = f"cleared t={self.cleared_at:6.1f}" if self.cleared_at is not None else "failed"
        return f"t={began} (planned {self.planned_at:5.1f})  {self.what}: {cleared}. {self.detail}"


@dataclass
class ChaosResult:
    method: list[str]
    published_valid: int
    published_bad: dict[str, int]
    answered: int
    dead_lettered: dict[str, int]
    lost: list[str]
    bad_dead_lettered: dict[str, int]
    bad_missing: list[str]
    duplicates: int
    conflicting: list[str]
    unattributed_dead_letters: int
    garbled_outcomes: int
    usage: dict[str, Any]
    provider_calls: int
    emulator_outcomes: dict[str, int]
    drain: dict[str, float | None]
    run_s: float
    exit_codes: dict[str, int]
    notes: list[str]

    @property
    def usage_calls(self) -> int:
        """Provider calls according to the store: distinct call_ids once they exist."""
        key = "calls" if self.usage.get("call_id") else "dedup_calls"
        return int(self.usage.get(key, 0))

    @property
    def completed_calls(self) -> int:
        return int(self.usage.get("completed_calls", 0))

    @property
    def interrupted_calls(self) -> int:
        return int(self.usage.get("interrupted_calls", 0))

    def usage_matches_calls(self) -> bool:
        """Every call the provider saw has a row, and every row but an interrupted one is a
        call it saw. A worker killed between recording a call and sending it leaves an
        interrupted row for a call that never left: the only gap the design allows."""
        if not self.usage.get("call_id"):
            return self.usage_calls == self.provider_calls
        low, high = self.completed_calls, self.completed_calls + self.interrupted_calls
        return low <= self.provider_calls <= high

    def failures(self) -> list[str]:
        found = []
        if self.lost:
            found.append(f"LOST {len(self.lost)}")
        if self.conflicting:
            found.append(f"CONFLICTING {len(self.conflicting)}")
        if not self.usage.get("call_id") and not self.usage_matches_calls():
            found.append(f"usage {self.usage_calls} != calls {self.provider_calls}")
        elif not self.usage_matches_calls():
            found.append(
                f"provider calls {self.provider_calls} outside usage calls"
                f" [{self.completed_calls}, {self.completed_calls + self.interrupted_calls}]"
            )
        if self.bad_missing:
            found.append(f"{len(self.bad_missing)} bad events without a dead letter")
        return found


async def run_chaos(plan: ChaosPlan, bootstrap: str, tmp: Path, name: str) -> ChaosResult:
    """Run the whole scenario in ``tmp`` on topics prefixed ``name``; stops what it started."""
    if os.environ.get("CLICKHOUSE_URL"):
        raise RuntimeError(
            "the chaos run needs the embedded store (its outage holds the folder lock):"
            " unset CLICKHOUSE_URL"
        )
    wall_start = time.monotonic()
    hang_s = plan.provider_timeout_s + 2
    profile = {
        "seed": plan.seed,
        "default": {
            "latency": {
                "dist": "lognormal",
                "median_ms": plan.latency_median_ms,
                "sigma": 0.5,
                "max_ms": plan.latency_median_ms * 10,
            },
            "error_rates": plan.error_rates,
            "retry_after_s": 1,
            "hang_rate": plan.hang_rate,
            # Past the provider timeout so the gateway gives up first; not much past, so
            # hung handlers do not pile up in the emulator.
            "hang_s": hang_s,
        },
    }
    emulator = await asyncio.to_thread(Emulator, tmp, profile)
    try:
        return await _run_with_emulator(plan, bootstrap, tmp, name, emulator, wall_start, hang_s)
    finally:
        await asyncio.to_thread(emulator.stop)


async def _run_with_emulator(
    plan: ChaosPlan,
    bootstrap: str,
    tmp: Path,
    name: str,
    emulator: Emulator,
    wall_start: float,
    hang_s: float,
) -> ChaosResult:
    config = derive_config(EXAMPLE_CONFIG, tmp, emulator.url, name)
    data = yaml.safe_load(config.read_text())
    for provider in data["providers"].values():
        provider["timeout_s"] = plan.provider_timeout_s
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    topics: dict[str, Any] = data["topics"]
    group = str(data["app_id"])
    store_path = Path(data["store"]["path"])

    split = {"split": True, "single": False}.get(plan.topology)
    if split is None:
        split = await asyncio.to_thread(roles_supported)
    fleet = Fleet(tmp, config, bootstrap, split, plan)
    for slot in fleet.slots:
        slot.lock.acquire()
    try:
        await asyncio.gather(*(asyncio.to_thread(fleet.start, s) for s in fleet.slots))
    finally:
        for slot in fleet.slots:
            slot.lock.release()

    traffic = build_traffic(plan)
    t0 = time.monotonic()

    def now() -> float:
        return time.monotonic() - t0

    collector = OutcomeCollector(bootstrap, topics["responses"], topics["dlq"], now)
    gateway_lag = Lag(
        bootstrap,
        group,
        [topics["requests"], topics["dispatch"], topics["retry"]],
        int(topics["partitions"]),
    )
    await collector.start()
    await gateway_lag.start()
    records: list[FaultRecord] = []
    stop_watch = asyncio.Event()
    watchdog: asyncio.Task[None] | None = None
    faults: list[asyncio.Task[None]] = []
    try:
        t0 = time.monotonic()
        watchdog = asyncio.create_task(_watch(fleet, now, stop_watch))
        faults = [
            asyncio.create_task(
                _fault(kind, at, i, plan, fleet, emulator, store_path, now, records)
            )
            for i, (at, kind) in enumerate(plan.schedule())
        ]
        await _publish(bootstrap, topics["requests"], traffic, plan.rate, t0)
        published_at = now()
        await asyncio.gather(*faults)
        cleared = [r.cleared_at for r in records if r.cleared_at is not None]
        # Without faults, draining starts when publishing ends.
        last_cleared = max(cleared) if cleared else published_at
        valid = [e.id for e in traffic if e.kind == "valid"]
        bad = [e.id for e in traffic if e.kind != "valid"]
        complete_at, idle_at, notes = await _drain(
            plan, collector.outcomes, gateway_lag, valid, bad, now
        )
        stop_watch.set()
        await watchdog
        await collector.catch_up()
        usage_at: float | None = None
        try:
            await wait_committed(
                bootstrap,
                await _usage_group(bootstrap, group),
                topics["usage"],
                int(topics["partitions"]),
                deadline_s=plan.usage_deadline_s,
            )
            usage_at = now()
        except TimeoutError as exc:
            notes.append(f"usage topic not fully committed: {exc}")
    finally:
        stop_watch.set()
        for task in [*faults, *([watchdog] if watchdog else [])]:
            task.cancel()
        await asyncio.gather(*faults, *([watchdog] if watchdog else []), return_exceptions=True)
        await collector.stop()
        await gateway_lag.stop()
        exit_codes = await asyncio.to_thread(fleet.stop_all)
    done_at = now()
    stats = await asyncio.to_thread(emulator.stats)
    usage = await asyncio.to_thread(count_usage, store_path, data["store"]["database"])

    method = _method(plan, fleet, hang_s, traffic, published_at, records)
    return summarize(
        method=method,
        traffic=traffic,
        outcomes=collector.outcomes,
        usage=usage,
        stats=stats,
        drain={
            "last_fault_cleared_at": last_cleared,
            "published_at": published_at,
            "outcomes_complete": None if complete_at is None else complete_at - last_cleared,
            "pipeline_idle": None if idle_at is None else idle_at - last_cleared,
            "usage_committed": None if usage_at is None else usage_at - last_cleared,
            "traffic_s": done_at,
        },
        run_s=time.monotonic() - wall_start,
        exit_codes=exit_codes,
        notes=[*notes, *fleet.exits],
    )


async def _usage_group(bootstrap: str, app_id: str) -> str:
    """The usage sink's consumer group: its own when it runs in an analytics process."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        groups = {str(g[0]) for g in await admin.list_consumer_groups()}
    finally:
        await admin.close()
    analytics = f"{app_id}-analytics"
    return analytics if analytics in groups else app_id


async def _publish(
    bootstrap: str, topic: str, traffic: list[Event], rate: float, t0: float
) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await producer.start()
    try:
        pending: list[asyncio.Future[Any]] = []
        for i, event in enumerate(traffic):
            delay = t0 + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            pending.append(await producer.send(topic, event.value, key=event.id.encode()))
            if len(pending) >= 1000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


async def _watch(fleet: Fleet, now: Callable[[], float], stop: asyncio.Event) -> None:
    while not stop.is_set():
        await asyncio.to_thread(fleet.restart_exited, now)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)


async def _fault(
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
    fleet: Fleet, slot: _Slot, record: FaultRecord, now: Callable[[], float]
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
    slot: _Slot,
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


async def _drain(
    plan: ChaosPlan,
    outcomes: Outcomes,
    lag: Lag,
    valid: list[str],
    bad: list[str],
    now: Callable[[], float],
) -> tuple[float | None, float | None, list[str]]:
    """Wait until every event has its outcome and the gateway group has nothing left.

    Returns when outcomes were complete, when the pipeline went idle, and notes. Gives
    up at the deadline, or when the pipeline has been idle for a while with outcomes
    still missing: nothing would produce them any more.
    """
    notes: list[str] = []
    deadline = now() + plan.drain_deadline_s
    complete_at: float | None = None
    idle_since: float | None = None
    expected = [*valid, *bad]
    while True:
        complete = all(outcomes.by_id.get(rid) for rid in expected)
        if complete and complete_at is None:
            complete_at = outcomes.last_new_at
        idle = await lag.total() == 0
        if not idle:
            idle_since = None
        elif idle_since is None:
            idle_since = now()
        # Two looks a second apart: a stage may publish between reading two topics.
        if complete and idle_since is not None and now() - idle_since >= 1.0:
            return complete_at, idle_since, notes
        if idle_since is not None and now() - max(idle_since, outcomes.last_new_at) > 15:
            notes.append(
                f"gave up waiting at t={now():.1f}: the pipeline was idle for 15 s"
                " with outcomes still missing"
            )
            return complete_at, idle_since, notes
        if now() > deadline:
            notes.append(
                f"gave up waiting at t={now():.1f}: drain deadline of"
                f" {plan.drain_deadline_s:g} s passed"
            )
            return complete_at, idle_since if idle else None, notes
        await asyncio.sleep(0.5)


def _method(
    plan: ChaosPlan,
    fleet: Fleet,
    hang_s: float,
    traffic: list[Event],
    published_at: float,
    records: list[FaultRecord],
) -> list[str]:
    kinds = Counter(e.kind for e in traffic)
    errors = ", ".join(f"{status} {rate:.0%}" for status, rate in sorted(plan.error_rates.items()))
    return [
        f"processes: real Kafka broker, the provider emulator, {fleet.describe()}",
        f"traffic: {len(traffic)} events paced at {plan.rate:g}/s over {published_at:.1f} s:"
        f" {kinds['valid']} valid requests (~{plan.image_share:.0%} with an image by URL;"
        " routes default, summarize, code, on-prem, budget, search),"
        f" {kinds['not_json']} not JSON, {kinds['schema_invalid']} schema-invalid",
        f"emulator: latency lognormal median {plan.latency_median_ms:g} ms; errors {errors};"
        f" hangs {plan.hang_rate:.0%} for {hang_s:g} s; provider timeout"
        f" {plan.provider_timeout_s:g} s",
        "faults (t = seconds since the first publish):",
        *(f"  {r.line()}" for r in sorted(records, key=lambda r: r.planned_at)),
    ]


def summarize(
    *,
    method: list[str],
    traffic: list[Event],
    outcomes: Outcomes,
    usage: dict[str, Any],
    stats: dict[str, Any],
    drain: dict[str, float | None],
    run_s: float,
    exit_codes: dict[str, int],
    notes: list[str],
) -> ChaosResult:
    valid = [e.id for e in traffic if e.kind == "valid"]
    bad = [e for e in traffic if e.kind != "valid"]
    answered = 0
    dead: Counter[str] = Counter()
    lost: list[str] = []
    duplicates = 0
    conflicting: list[str] = []
    for rid in valid:
        seen = outcomes.by_id.get(rid, [])
        if not seen:
            lost.append(rid)
            continue
        kinds = {(s.kind, s.reason) for s in seen}
        if len(kinds) > 1:
            conflicting.append(
                f"{rid}: " + ", ".join(sorted(f"{k}{f' {r}' if r else ''}" for k, r in kinds))
            )
        elif len(seen) > 1:
            duplicates += 1
        if any(s.kind == "response" for s in seen):
            answered += 1
        else:
            dead[str(seen[0].reason)] += 1
    bad_dead: Counter[str] = Counter()
    bad_missing: list[str] = []
    for event in bad:
        letters = [s for s in outcomes.by_id.get(event.id, []) if s.kind == "dead_letter"]
        if letters:
            bad_dead[f"{event.kind} -> {letters[0].reason}"] += 1
        else:
            bad_missing.append(event.id)
    return ChaosResult(
        method=method,
        published_valid=len(valid),
        published_bad=dict(Counter(e.kind for e in bad)),
        answered=answered,
        dead_lettered=dict(dead),
        lost=lost,
        bad_dead_lettered=dict(bad_dead),
        bad_missing=bad_missing,
        duplicates=duplicates,
        conflicting=conflicting,
        unattributed_dead_letters=len(outcomes.unattributed),
        garbled_outcomes=outcomes.garbled,
        usage=usage,
        provider_calls=int(stats["requests"]),
        emulator_outcomes={k: int(v) for k, v in stats["outcomes"].items()},
        drain=drain,
        run_s=run_s,
        exit_codes=exit_codes,
        notes=notes,
    )


def render(result: ChaosResult) -> str:
    """The method, then the table, then the verdict."""

    def secs(value: float | None) -> str:
        if value is None:
            return "never"
        return f"{value:.1f} s" if value >= 0 else f"{-value:.1f} s before it"

    def counts(values: dict[str, int]) -> str:
        return ", ".join(f"{k} {v}" for k, v in sorted(values.items())) or "none"

    usage = result.usage
    basis = (
        "distinct call_id, outcome != 'rejected'"
        if usage.get("call_id")
        else "usage_dedup rows, outcome != 'rejected' (no call_id column yet)"
    )
    multi = result.duplicates + len(result.conflicting)
    drain = result.drain
    rows = [
        ("published", f"{result.published_valid} valid + {counts(result.published_bad)}"),
        ("answered", str(result.answered)),
        ("dead-lettered (valid ids)", counts(result.dead_lettered)),
        ("bad events dead-lettered", counts(result.bad_dead_lettered)),
        ("bad events w/o dead letter", str(len(result.bad_missing))),
        ("LOST", str(len(result.lost))),
        (
            "more than one outcome",
            f"{multi}: same kind {result.duplicates}, CONFLICTING {len(result.conflicting)}",
        ),
        (
            "usage rows",
            f"table {usage.get('rows', 0)} (rejected {usage.get('rejected', 0)}),"
            f" dedup view {usage.get('dedup_rows', 0)}",
        ),
        ("usage calls", f"{result.usage_calls} ({basis})"),
        ("usage row outcomes", counts(usage.get("outcomes", {}))),
        (
            "provider calls (emulator)",
            f"{result.provider_calls}: {counts(result.emulator_outcomes)}",
        ),
        ("usage calls - provider calls", f"{result.usage_calls - result.provider_calls:+d}"),
        (
            "usage calls by state",
            f"completed {result.completed_calls}, interrupted {result.interrupted_calls}"
            " (killed mid-call: sent or not, unknown)",
        ),
        (
            "last fault cleared",
            f"t={drain['last_fault_cleared_at']:.1f}"
            f" (publishing ended t={drain['published_at']:.1f})",
        ),
        (
            "drain after it",
            f"outcomes complete {secs(drain['outcomes_complete'])},"
            f" pipeline idle {secs(drain['pipeline_idle'])},"
            f" usage committed {secs(drain['usage_committed'])}",
        ),
        (
            "run",
            f"{result.run_s:.1f} s in all, {drain['traffic_s']:.1f} s from first publish"
            " to workers stopped",
        ),
        ("worker exit codes at the end", counts(result.exit_codes)),
    ]
    if result.unattributed_dead_letters or result.garbled_outcomes:
        rows.append(
            (
                "unmatched outcomes",
                f"{result.unattributed_dead_letters} dead letters"
                f" without a known id, {result.garbled_outcomes} not JSON",
            )
        )
    width = max(len(k) for k, _ in rows)
    lines = ["method:", *(f"  {m}" for m in result.method)]
    lines += [f"  {note}" for note in result.notes]
    lines += ["", "result:", *(f"  {k.ljust(width)}  {v}" for k, v in rows)]
    if result.lost:
        lines.append(f"  lost, first ids: {', '.join(result.lost[:5])}")
    if result.conflicting:
        lines.append(f"  conflicting, first: {'; '.join(result.conflicting[:3])}")
    failures = result.failures()
    lines.append("")
    lines.append("verdict: " + ("PASS" if not failures else "FAIL (" + "; ".join(failures) + ")"))
    return "\n".join(lines)
