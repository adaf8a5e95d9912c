"""One route's cache on one partition of the cache topic: entries, requests in flight, and
the pure decisions over them (docs/design/cache.md). No I/O, no clock: ``now`` is given.

A :class:`CacheBook` changes only through :meth:`~CacheBook.lookup`,
:meth:`~CacheBook.fill`, :meth:`~CacheBook.fail`, :meth:`~CacheBook.expire` and
:meth:`~CacheBook.restore`, applied in the cache topic's order by the partition's one
owner. Each key has at most one **entry** (a stored answer, LRU within the limits, served
until ``expires_at``) or one **flight** (a leader sent to dispatch and the identical
requests parked behind it).

Replays are harmless by content, as in policy/admission.py. The stage skips an event at
or below its key's ``confirmed_offset``; above it:

- a lookup by a request the book already knows decides the same again without changing
  anything: the leader gets ``Lead(replay=True)`` (its dispatch may not have been
  published: send it again), a parked waiter ``Wait(replay=True)``, and a request whose
  own answer is stored gets ``Hit(replay=True)`` (it was answered by dispatch: publish
  nothing);
- a fill stores the same entry again (pass the fill event's own timestamp as ``now``, so
  a replay stores the same times) and answers the waiters it still finds;
- a fail by anyone but the current leader changes nothing.

Only decisions that change a key register their offset for :meth:`~CacheBook.confirm`:
replaying a hit publishes the same answer again, which the outcome ledger drops.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Final

from schemas.cache import CacheConfig, CacheRecord, EntryRecord, FlightRecord, WaiterRecord

# Bytes an entry costs beyond its response and origin (key string, Entry object, its two
# floats and int, two ordered-dict slots), measured by benchmarks/cache_book.py so that
# max_bytes bounds the memory the entries really take.
ENTRY_OVERHEAD_BYTES: Final = 600
# How long past the leader's deadline its fill or fail may still come (dispatch publishes
# it before the leader's outcome; this covers a slow publish, not a lost one).
INFLIGHT_GRACE_S: Final = 30.0


@dataclass(frozen=True, slots=True)
class BookLimits:
    max_entries: int
    max_bytes: int
    ttl_s: float
    grace_s: float = INFLIGHT_GRACE_S


def partition_limits(
    cache: CacheConfig, partitions: int, grace_s: float = INFLIGHT_GRACE_S
) -> BookLimits:
    """One partition's share of a route's bounds: they are for the whole route."""
    if partitions < 1:
        raise ValueError(f"partitions: {partitions} is not a partition count")
    return BookLimits(
        max_entries=math.ceil(cache.max_entries / partitions),
        max_bytes=math.ceil(cache.max_bytes / partitions),
        ttl_s=cache.ttl_s,
        grace_s=grace_s,
    )


@dataclass(slots=True)
class Entry:
    response: bytes
    origin: str
    stored_at: float
    expires_at: float
    size: int
    confirmed: int = -1
    prompt: str = ""
    """Semantic routes: the text the index embedded, re-read to verify a neighbour."""
    scope: str = ""
    """Semantic routes: the index scope the prompt sits in."""


@dataclass(frozen=True, slots=True)
class Asker:
    """The request behind a lookup: who, whose, until when, and where its lookup sits."""

    request_id: str
    tenant: str
    deadline: float
    offset: int
    first_seen: float = 0.0
    """Epoch seconds the request was first seen (triage): a waiter's answer's latency."""


Waiter = Asker


@dataclass(slots=True)
class Flight:
    leader: str
    leader_offset: int
    deadline: float
    waiters: dict[str, Waiter] = field(default_factory=dict)
    confirmed: int = -1


@dataclass(frozen=True, slots=True)
class Hit:
    entry: Entry
    replay: bool = False
    """The asker's own answer: dispatch answered it, so nothing is published."""


@dataclass(frozen=True, slots=True)
class Lead:
    replay: bool = False
    """Decided before: its dispatch may or may not have been published."""


@dataclass(frozen=True, slots=True)
class Wait:
    leader: str
    replay: bool = False


@dataclass(frozen=True, slots=True)
class Settled:
    """What a fill or fail settled: the leader in flight (None: none was) and its waiters."""

    leader: str | None
    waiters: list[Waiter]
    evicted: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Expired:
    evicted: list[str]
    """Entries past their TTL: tombstones to write."""
    redispatch: list[Waiter]
    """Waiters of flights past the leader's deadline + grace: their fill is lost. Re-read
    each lookup by its offset and look it up again: the first leads, the rest wait."""
    late: list[Waiter]
    """Waiters past their own deadline: each gets a ``deadline_exceeded`` letter."""


class CacheBook:
    def __init__(self, route: str, limits: BookLimits) -> None:
        self.route = route
        self.limits = limits
        self.bytes = 0
        self._entries: OrderedDict[str, Entry] = OrderedDict()  # least recently used first
        self._by_expiry: OrderedDict[str, None] = OrderedDict()  # stored order ~ expiry order
        self._flights: dict[str, Flight] = {}
        self._open: dict[str, dict[int, bool]] = {}  # key -> offset -> confirmed, ascending
        self._dirty: set[str] = set()

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def in_flight(self) -> int:
        return len(self._flights)

    def holds(self, key: str) -> bool:
        """Whether an entry for ``key`` is stored (live or not yet expired away)."""
        return key in self._entries

    def flying(self, key: str) -> bool:
        """Whether a leader for ``key`` is in flight."""
        return key in self._flights

    # -- decisions -------------------------------------------------------------------

    def lookup(self, key: str, asker: Asker, now: float) -> Hit | Lead | Wait:
        entry = self._entries.get(key)
        if entry is not None:
            if entry.expires_at > now:
                self._entries.move_to_end(key)
                return Hit(entry, replay=entry.origin == asker.request_id)
            self._remove(key)
            self._dirty.add(key)
        flight = self._flights.get(key)
        if flight is None:
            self._flights[key] = Flight(asker.request_id, asker.offset, asker.deadline)
            self._changed(key, asker.offset)
            return Lead()
        if flight.leader == asker.request_id:
            return Lead(replay=True)
        if asker.request_id in flight.waiters:
            return Wait(flight.leader, replay=True)
        flight.waiters[asker.request_id] = asker
        self._changed(key, asker.offset)
        return Wait(flight.leader)

    def entry(self, key: str, now: float) -> Entry | None:
        """A live entry by key (a semantic neighbour), marked recently used; no change
        otherwise: an expired one is left for :meth:`expire`."""
        found = self._entries.get(key)
        if found is None or found.expires_at <= now:
            return None
        self._entries.move_to_end(key)
        return found

    def fill(
        self,
        key: str,
        request_id: str,
        response: bytes,
        now: float,
        offset: int,
        prompt: str = "",
        scope: str = "",
    ) -> Settled:
        """``request_id``'s answer is ``response``: store it, answer whoever waits for it."""
        flight = self._flights.pop(key, None)
        confirmed = -1
        waiters: list[Waiter] = []
        if flight is not None:
            confirmed = flight.confirmed
            waiters = [w for rid, w in flight.waiters.items() if rid != request_id]
        old = self._entries.get(key)
        if old is not None:
            confirmed = max(confirmed, old.confirmed)
            self._remove(key)
        size = len(response) + len(request_id) + len(prompt) + ENTRY_OVERHEAD_BYTES
        evicted: list[str] = []
        if size <= self.limits.max_bytes:
            expires = now + self.limits.ttl_s
            entry = Entry(response, request_id, now, expires, size, confirmed, prompt, scope)
            self._insert(key, entry)
            evicted = self._evict(keep=key)
        self._changed(key, offset)
        return Settled(flight.leader if flight is not None else None, waiters, evicted)

    def fail(self, key: str, request_id: str, offset: int) -> Settled:
        """The leader ``request_id`` got a dead letter: its waiters get it too.

        Only the current leader fails a flight: a letter of a leader whose flight expired
        (and was taken over) must not fail requests another leader now serves.
        """
        flight = self._flights.get(key)
        if flight is None or flight.leader != request_id:
            return Settled(None, [])
        del self._flights[key]
        self._changed(key, offset)
        return Settled(flight.leader, list(flight.waiters.values()))

    def expire(self, now: float) -> Expired:
        evicted: list[str] = []
        while self._by_expiry:
            key = next(iter(self._by_expiry))
            if self._entries[key].expires_at > now:
                break
            self._remove(key)
            evicted.append(key)
        # An entry stored out of time order (a replayed fill) may sit behind a later one:
        # it is not served past its time (lookup checks) and goes when its turn comes.
        self._dirty.update(evicted)
        late: list[Waiter] = []
        redispatch: list[Waiter] = []
        for key, flight in list(self._flights.items()):
            gone = [w for w in flight.waiters.values() if w.deadline <= now]
            for w in gone:
                del flight.waiters[w.request_id]
            late.extend(gone)
            if flight.deadline + self.limits.grace_s <= now:
                del self._flights[key]
                redispatch.extend(flight.waiters.values())
            if gone or key not in self._flights:
                self._dirty.add(key)
        return Expired(evicted, redispatch, late)

    # -- offsets ---------------------------------------------------------------------

    def confirm(self, key: str, offset: int) -> None:
        """The outputs of the event at ``offset`` for ``key`` are on the broker."""
        opened = self._open.get(key)
        if opened is None or offset not in opened:
            return
        opened[offset] = True
        top = -1
        while opened:
            first = next(iter(opened))
            if not opened[first]:
                break
            del opened[first]
            top = first
        if not opened:
            del self._open[key]
        record = self._entries.get(key) or self._flights.get(key)
        if top >= 0 and record is not None and top > record.confirmed:
            record.confirmed = top
            self._dirty.add(key)

    def decided(self, key: str, offset: int) -> bool:
        record = self._entries.get(key) or self._flights.get(key)
        return record is not None and offset <= record.confirmed

    # -- snapshots -------------------------------------------------------------------

    def take_dirty(self) -> list[str]:
        """Keys changed since the last call: snapshot each (None means a tombstone)."""
        dirty, self._dirty = self._dirty, set()
        return sorted(dirty)

    def mark_dirty(self, keys: list[str]) -> None:
        """Snapshot these again (their last write failed)."""
        self._dirty.update(keys)

    def snapshot(self, key: str) -> bytes | None:
        entry, flight = self._entries.get(key), self._flights.get(key)
        if entry is None and flight is None:
            return None
        confirmed = max(r.confirmed for r in (entry, flight) if r is not None)
        record = CacheRecord(
            key=key,
            route=self.route,
            confirmed_offset=confirmed,
            entry=None if entry is None else _entry_record(key, entry),
            flight=None if flight is None else _flight_record(flight),
        )
        return record.to_bytes()

    def restore(self, data: bytes) -> str:
        """Replace a key's state with a snapshot's; returns the key. A later snapshot of
        the same key replaces this one, so records are restored in topic order."""
        record = CacheRecord.from_bytes(data)
        if record.route != self.route:
            raise ValueError(
                f"route: the record of {record.key} is for {record.route!r}, not {self.route!r}"
            )
        key = record.key
        self.drop(key)
        if record.entry is not None:
            e = record.entry
            response = e.response.encode()
            size = len(response) + len(e.origin) + len(e.prompt) + ENTRY_OVERHEAD_BYTES
            entry = Entry(
                response, e.origin, e.stored_at, e.expires_at, size, prompt=e.prompt, scope=e.scope
            )
            entry.confirmed = record.confirmed_offset
            self._insert(key, entry)
            self._dirty.update(self._evict(keep=key))
        if record.flight is not None:
            f = record.flight
            waiters = {
                w.request_id: Asker(w.request_id, w.tenant, w.deadline, w.offset, w.first_seen)
                for w in f.waiters
            }
            self._flights[key] = Flight(
                f.leader, f.leader_offset, f.deadline, waiters, record.confirmed_offset
            )
        return key

    def drop(self, key: str) -> None:
        """Forget a key (a tombstone read back from the state topic)."""
        if key in self._entries:
            self._remove(key)
        self._flights.pop(key, None)

    # -- internals -------------------------------------------------------------------

    def _changed(self, key: str, offset: int) -> None:
        self._open.setdefault(key, {}).setdefault(offset, False)
        self._dirty.add(key)

    def _insert(self, key: str, entry: Entry) -> None:
        self._entries[key] = entry
        self._by_expiry[key] = None
        self.bytes += entry.size

    def _remove(self, key: str) -> None:
        entry = self._entries.pop(key)
        del self._by_expiry[key]
        self.bytes -= entry.size

    def _evict(self, keep: str) -> list[str]:
        """Drop least recently used entries (never ``keep``) until within the limits."""
        evicted: list[str] = []
        limits = self.limits
        while len(self._entries) > limits.max_entries or self.bytes > limits.max_bytes:
            key = next(iter(self._entries))
            if key == keep:
                break
            self._remove(key)
            evicted.append(key)
        self._dirty.update(evicted)
        return evicted


def _entry_record(key: str, entry: Entry) -> EntryRecord:
    try:
        text = entry.response.decode()
    except UnicodeDecodeError as exc:
        raise ValueError(f"response: the entry of {key} is not UTF-8 text") from exc
    return EntryRecord(
        response=text,
        origin=entry.origin,
        prompt=entry.prompt,
        scope=entry.scope,
        stored_at=entry.stored_at,
        expires_at=entry.expires_at,
    )


def _flight_record(flight: Flight) -> FlightRecord:
    waiters = [
        WaiterRecord(
            request_id=w.request_id,
            tenant=w.tenant,
            deadline=w.deadline,
            offset=w.offset,
            first_seen=w.first_seen,
        )
        for w in flight.waiters.values()
    ]
    return FlightRecord(
        leader=flight.leader,
        leader_offset=flight.leader_offset,
        deadline=flight.deadline,
        waiters=waiters,
    )
