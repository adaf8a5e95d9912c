"""One route's cache on one partition: entries, coalescing, deadlines, snapshots
(policy/cache_book.py)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from policy.cache_book import (
    ENTRY_OVERHEAD_BYTES,
    Asker,
    BookLimits,
    CacheBook,
    Hit,
    Lead,
    Wait,
    partition_limits,
)
from schemas.cache import CacheConfig, CacheRecord

T0 = 1_000_000.0
LIMITS = BookLimits(max_entries=100, max_bytes=10**7, ttl_s=60.0, grace_s=30.0)


def _book(**over: Any) -> CacheBook:
    return CacheBook("default", dataclasses.replace(LIMITS, **over))


def _ask(n: int, deadline: float = T0 + 100, tenant: str = "acme") -> Asker:
    return Asker(f"r{n}", tenant, deadline, offset=n)


def _answer(text: str = "ok") -> bytes:
    return f'{{"content":"{text}"}}'.encode()


def _filled(book: CacheBook, key: str, n: int, now: float = T0, body: bytes | None = None) -> None:
    assert book.lookup(key, _ask(n), now) == Lead()
    book.fill(key, f"r{n}", body or _answer(key), now, offset=n + 1000)


def _size(body: bytes, origin: str) -> int:
    return len(body) + len(origin) + ENTRY_OVERHEAD_BYTES


# -- entries -----------------------------------------------------------------------------


def test_a_filled_key_is_a_hit_with_its_origin() -> None:
    book = _book()
    _filled(book, "k", 1)
    hit = book.lookup("k", _ask(2), T0 + 1)
    assert isinstance(hit, Hit) and not hit.replay
    assert (hit.entry.response, hit.entry.origin) == (_answer("k"), "r1")
    assert (hit.entry.stored_at, hit.entry.expires_at) == (T0, T0 + 60)
    assert book.bytes == _size(_answer("k"), "r1")


def test_least_recently_used_goes_first() -> None:
    book = _book(max_entries=3)
    for n, key in enumerate("abc"):
        _filled(book, key, n)
    book.take_dirty()
    assert isinstance(book.lookup("a", _ask(10), T0), Hit)  # a is now the most recent
    assert book.lookup("d", _ask(11), T0) == Lead()
    settled = book.fill("d", "r11", _answer(), T0, offset=12)
    assert settled.evicted == ["b"]
    assert len(book) == 3
    assert "b" in book.take_dirty() and book.snapshot("b") is None  # a tombstone
    assert book.lookup("b", _ask(13), T0) == Lead()
    assert all(isinstance(book.lookup(k, _ask(14), T0), Hit) for k in "acd")


def test_bytes_stay_within_the_bound() -> None:
    body = b"x" * 1000
    per_entry = _size(body, "r0")
    book = _book(max_bytes=3 * per_entry + 10)
    for n in range(10):
        _filled(book, f"k{n}", n, body=body)
        assert book.bytes <= 3 * per_entry + 10
    assert len(book) == 3
    assert [isinstance(book.lookup(f"k{n}", _ask(50 + n), T0), Hit) for n in range(10)] == [
        False
    ] * 7 + [True] * 3


def test_an_answer_larger_than_the_bound_is_not_stored_but_still_answers() -> None:
    book = _book(max_bytes=2000)
    assert book.lookup("k", _ask(1), T0) == Lead()
    assert book.lookup("k", _ask(2), T0) == Wait("r1")
    settled = book.fill("k", "r1", b"y" * 5000, T0, offset=3)
    assert [w.request_id for w in settled.waiters] == ["r2"]
    assert len(book) == 0 and book.bytes == 0 and book.in_flight == 0
    assert book.lookup("k", _ask(4), T0) == Lead()


def test_entries_expire_at_their_ttl() -> None:
    book = _book(ttl_s=10.0)
    _filled(book, "old", 1, now=T0)
    _filled(book, "new", 2, now=T0 + 5)
    assert isinstance(book.lookup("old", _ask(3), T0 + 9.99), Hit)
    book.take_dirty()
    # Past its time an entry is never served, even before expire() has run.
    assert book.lookup("old", _ask(4), T0 + 10) == Lead()
    assert "old" in book.take_dirty()
    expired = book.expire(T0 + 15)
    assert expired.evicted == ["new"]
    assert len(book) == 0 and book.bytes == 0
    assert book.expire(T0 + 16).evicted == []


def test_expire_keeps_what_has_time_left() -> None:
    book = _book(ttl_s=10.0)
    for n in range(5):
        _filled(book, f"k{n}", n, now=T0 + n)
    assert book.expire(T0 + 12).evicted == ["k0", "k1", "k2"]
    assert sorted(book.take_dirty()) == ["k0", "k1", "k2", "k3", "k4"]
    assert [isinstance(book.lookup(f"k{n}", _ask(9), T0 + 12), Hit) for n in (3, 4)] == [
        True,
        True,
    ]


# -- coalescing --------------------------------------------------------------------------


def _hundred(book: CacheBook) -> list[Hit | Lead | Wait]:
    return [book.lookup("k", _ask(n), T0 + n / 1000) for n in range(100)]


def test_a_hundred_identical_lookups_make_one_leader() -> None:
    book = _book()
    decisions = _hundred(book)
    assert decisions[0] == Lead()
    assert decisions[1:] == [Wait("r0")] * 99
    assert book.in_flight == 1


def test_fill_answers_every_waiter_once() -> None:
    book = _book()
    _hundred(book)
    settled = book.fill("k", "r0", _answer(), T0 + 1, offset=100)
    assert settled.leader == "r0"
    assert [w.request_id for w in settled.waiters] == [f"r{n}" for n in range(1, 100)]
    assert [w.offset for w in settled.waiters] == list(range(1, 100))
    assert book.in_flight == 0
    again = book.fill("k", "r0", _answer(), T0 + 1, offset=100)  # a replayed fill
    assert again.waiters == [] and again.leader is None
    hit = book.lookup("k", _ask(200), T0 + 2)
    assert isinstance(hit, Hit) and hit.entry.origin == "r0"


def test_fail_letters_every_waiter_and_frees_the_key() -> None:
    book = _book()
    _hundred(book)
    assert book.fail("k", "r5", offset=100).waiters == []  # not the leader: nothing
    settled = book.fail("k", "r0", offset=101)
    assert settled.leader == "r0"
    assert len(settled.waiters) == 99 and {w.tenant for w in settled.waiters} == {"acme"}
    assert book.in_flight == 0 and len(book) == 0
    assert book.fail("k", "r0", offset=101).waiters == []  # a replayed fail
    assert book.lookup("k", _ask(300), T0 + 1) == Lead()


def test_a_fill_by_another_request_answers_the_waiters_but_not_itself() -> None:
    book = _book()
    _hundred(book)
    settled = book.fill("k", "r7", _answer(), T0 + 1, offset=100)
    assert settled.leader == "r0"
    assert "r7" not in {w.request_id for w in settled.waiters}
    assert len(settled.waiters) == 98


# -- deadlines ---------------------------------------------------------------------------


def test_a_waiter_past_its_deadline_gets_a_letter_and_the_flight_goes_on() -> None:
    book = _book()
    assert book.lookup("k", _ask(1, deadline=T0 + 100), T0) == Lead()
    book.lookup("k", _ask(2, deadline=T0 + 5), T0)
    book.lookup("k", _ask(3, deadline=T0 + 50), T0)
    book.take_dirty()
    expired = book.expire(T0 + 5)
    assert [w.request_id for w in expired.late] == ["r2"]
    assert expired.redispatch == [] and book.in_flight == 1
    assert book.take_dirty() == ["k"]
    settled = book.fill("k", "r1", _answer(), T0 + 6, offset=9)
    assert [w.request_id for w in settled.waiters] == ["r3"]


def test_a_lost_fill_sends_the_waiters_back_to_look_up_again() -> None:
    book = _book()
    book.lookup("k", _ask(1, deadline=T0 + 10), T0)
    book.lookup("k", _ask(2, deadline=T0 + 100), T0)
    book.lookup("k", _ask(3, deadline=T0 + 100), T0)
    assert book.expire(T0 + 39.9).redispatch == []  # within the leader's deadline + grace
    expired = book.expire(T0 + 40)
    assert [(w.request_id, w.offset) for w in expired.redispatch] == [("r2", 2), ("r3", 3)]
    assert expired.late == [] and book.in_flight == 0
    # Re-read by offset and looked up again, they coalesce behind a new leader.
    again = [book.lookup("k", w, T0 + 41) for w in expired.redispatch]
    assert again == [Lead(), Wait("r2")]
    assert book.fail("k", "r1", offset=50).waiters == []  # the old leader fails no one now


# -- replays and offsets -----------------------------------------------------------------


def test_the_same_lookup_replayed_decides_the_same_and_changes_nothing() -> None:
    book = _book()
    assert book.lookup("k", _ask(1), T0) == Lead()
    assert book.lookup("k", _ask(2), T0) == Wait("r1")
    book.take_dirty()
    assert book.lookup("k", _ask(1), T0 + 1) == Lead(replay=True)
    assert book.lookup("k", _ask(2), T0 + 1) == Wait("r1", replay=True)
    assert book.take_dirty() == []
    settled = book.fill("k", "r1", _answer(), T0 + 2, offset=3)
    assert [w.request_id for w in settled.waiters] == ["r2"]  # parked once
    own = book.lookup("k", _ask(1), T0 + 3)
    assert isinstance(own, Hit) and own.replay  # the leader's own answer: publish nothing
    other = book.lookup("k", _ask(2), T0 + 3)
    assert isinstance(other, Hit) and not other.replay


def test_confirmed_offset_moves_only_over_a_contiguous_run() -> None:
    book = _book()
    book.lookup("k", _ask(10), T0)
    book.lookup("k", _ask(11), T0)
    book.lookup("k", _ask(12), T0)
    book.take_dirty()
    book.confirm("k", 11)
    assert not book.decided("k", 10) and not book.decided("k", 11)
    assert book.take_dirty() == []
    book.confirm("k", 10)
    assert book.decided("k", 11) and not book.decided("k", 12)
    assert book.take_dirty() == ["k"]
    book.confirm("k", 99)  # never decided here: ignored
    assert not book.decided("k", 12)
    book.fill("k", "r10", _answer(), T0, offset=13)
    assert book.decided("k", 11)  # carried from the flight to the entry
    book.confirm("k", 12)
    book.confirm("k", 13)
    assert book.decided("k", 13)


def test_hits_do_not_register_offsets() -> None:
    book = _book()
    _filled(book, "k", 1)
    book.confirm("k", 1)
    book.confirm("k", 1001)
    assert book.decided("k", 1001)
    book.take_dirty()
    book.lookup("k", _ask(2000), T0)
    book.confirm("k", 2000)
    assert not book.decided("k", 2000) and book.take_dirty() == []


# -- snapshots ---------------------------------------------------------------------------


def _record(data: bytes | None) -> CacheRecord:
    assert data is not None
    return CacheRecord.from_bytes(data)


def test_snapshots_round_trip_entries_and_flights() -> None:
    book = _book()
    _filled(book, "e", 1, body='{"content":"café \\"q\\""}'.encode())
    book.confirm("e", 1)
    book.lookup("f", _ask(5, deadline=T0 + 7), T0)
    book.lookup("f", _ask(6, deadline=T0 + 8, tenant="globex"), T0)
    book.confirm("f", 5)
    copy = _book()
    assert sorted(copy.restore(book.snapshot(k) or b"") for k in book.take_dirty()) == ["e", "f"]
    for key in ("e", "f"):
        a, b = _record(book.snapshot(key)), _record(copy.snapshot(key))
        assert a.model_copy(update={"written_at": b.written_at}) == b
    assert copy.bytes == book.bytes and copy.decided("e", 1) and copy.decided("f", 5)
    hit = copy.lookup("e", _ask(7), T0 + 1)
    assert isinstance(hit, Hit) and hit.entry.response == '{"content":"café \\"q\\""}'.encode()
    assert copy.lookup("f", _ask(6), T0) == Wait("r5", replay=True)
    settled = copy.fill("f", "r5", _answer(), T0 + 2, offset=9)
    assert [(w.request_id, w.tenant, w.deadline) for w in settled.waiters] == [
        ("r6", "globex", T0 + 8)
    ]


def test_a_later_snapshot_replaces_the_state_and_a_tombstone_drops_it() -> None:
    book = _book()
    book.lookup("k", _ask(1), T0)
    in_flight = book.snapshot("k")
    book.fill("k", "r1", _answer(), T0, offset=2)
    filled = book.snapshot("k")
    copy = _book()
    copy.restore(in_flight or b"")
    copy.restore(filled or b"")
    assert copy.in_flight == 0 and isinstance(copy.lookup("k", _ask(3), T0), Hit)
    copy.drop("k")
    assert len(copy) == 0 and copy.bytes == 0
    assert book.snapshot("unknown") is None


def test_restore_enforces_the_limits_and_the_route() -> None:
    book = _book()
    for n in range(5):
        _filled(book, f"k{n}", n)
    small = _book(max_entries=2)
    for key in book.take_dirty():
        small.restore(book.snapshot(key) or b"")
    assert len(small) == 2
    other = CacheBook("code", LIMITS)
    with pytest.raises(ValueError, match="route: the record of k0 is for 'default'"):
        other.restore(book.snapshot("k0") or b"")


def test_partition_limits_split_the_route_bounds() -> None:
    cache = CacheConfig(max_entries=1000, max_bytes=10**6, ttl_s=30)
    limits = partition_limits(cache, 3)
    assert (limits.max_entries, limits.max_bytes, limits.ttl_s) == (334, 333_334, 30)
    with pytest.raises(ValueError, match="partitions"):
        partition_limits(cache, 0)
