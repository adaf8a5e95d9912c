"""One usage row per physical provider call: replays collapse, redone calls both count.

Real embedded engine. A call writes a ``started`` row and then its completion with the
same ``call_id``; ``usage_dedup`` keeps one row per call and shows a call that only
started as ``interrupted``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from schemas.events import UsageEvent
from store import UsageStore
from store.backends import EmbeddedBackend
from store.queries import TimeRange, summary
from store.usage import _row

# Every row these tests write: started_at defaults to now.
EVERYTHING = TimeRange.of(
    datetime.now(UTC) - timedelta(days=1), datetime.now(UTC) + timedelta(days=1)
)

# The release before call_id, verbatim: its table and its view.
_OLD_COLUMNS = """
    request_id      String,
    attempt         UInt16,
    tenant          LowCardinality(String),
    route           LowCardinality(String),
    model           LowCardinality(String),
    provider        LowCardinality(String),
    upstream_model  LowCardinality(String),
    outcome         LowCardinality(String),
    error_kind      LowCardinality(String),
    status_code     UInt16,
    is_fallback     Bool,
    input_tokens    UInt32,
    output_tokens   UInt32,
    cached_input_tokens UInt32,
    cost_usd        Decimal(18, 9),
    latency_ms      Float64,
    complexity      Float32,
    tier            LowCardinality(String),
    task_type       LowCardinality(String),
    started_at      DateTime64(3, 'UTC'),
    inserted_at     DateTime64(3, 'UTC') DEFAULT now64(3)
"""


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[EmbeddedBackend]:
    b = EmbeddedBackend(tmp_path / "chdb")
    yield b
    b.close()


@pytest.fixture
def store(backend: EmbeddedBackend) -> UsageStore:
    s = UsageStore(backend, "routeyard")
    s.ensure_schema()
    return s


def _call(call_id: str, outcome: str, request_id: str = "r1", **over: object) -> UsageEvent:
    done = outcome in ("success", "error")
    fields: dict[str, object] = {
        "request_id": request_id,
        "attempt": 1,
        "call_id": call_id,
        "tenant": "acme",
        "route": "default",
        "model": "small",
        "provider": "emu",
        "upstream_model": "s",
        "outcome": outcome,
        "error_kind": "timeout" if outcome == "error" else "",
        "input_tokens": 10 if done else 0,
        "output_tokens": 5 if outcome == "success" else 0,
        "cost_usd": Decimal("0.000123") if outcome == "success" else Decimal(0),
        "latency_ms": 100.0 if done else 0.0,
    }
    fields.update(over)
    return UsageEvent.model_validate(fields)


def _dedup(store: UsageStore) -> dict[str, dict[str, Any]]:
    rows = store.query(
        "SELECT call_id, request_id, attempt, outcome, cost_usd FROM routeyard.usage_dedup"
    )
    by_call = {r["call_id"]: r for r in rows}
    assert len(by_call) == len(rows), f"usage_dedup repeats a call: {rows}"
    return by_call


def test_replays_of_the_same_call_are_inserted_once(store: UsageStore) -> None:
    started, done = _call("c1", "started"), _call("c1", "success")
    assert store.insert([started, done]) == 2
    assert store.insert([started, done]) == 0  # the whole batch replayed after a sink crash
    assert store.insert([done, done]) == 0  # and the completion once more, twice
    raw = store.query("SELECT count() AS n FROM routeyard.usage")[0]["n"]
    assert int(raw) == 2
    assert {k: r["outcome"] for k, r in _dedup(store).items()} == {"c1": "success"}


def test_the_view_collapses_rows_written_twice_before_insert_dedup(store: UsageStore) -> None:
    # Stores from before the insert check hold replayed rows; the view still shows one.
    started, done = _call("c1", "started"), _call("c1", "success")
    rows = [_row(e) for e in (started, done, started, done, done)]
    store.backend.insert_json_rows("routeyard.usage", rows)
    assert {k: r["outcome"] for k, r in _dedup(store).items()} == {"c1": "success"}


def test_two_calls_of_the_same_attempt_both_count(store: UsageStore) -> None:
    # A worker died after the provider answered but before its offset was committed:
    # the attempt is redone, a second real call with the same (request_id, attempt).
    store.insert([_call("first", "started"), _call("first", "success")])
    store.insert([_call("redo", "started"), _call("redo", "success")])
    rows = _dedup(store)
    assert set(rows) == {"first", "redo"}
    assert {(r["request_id"], int(r["attempt"])) for r in rows.values()} == {("r1", 1)}
    [total] = store.query("SELECT sum(cost_usd) AS usd FROM routeyard.usage_dedup")
    assert Decimal(total["usd"]) == Decimal("0.000246")


def test_a_call_that_only_started_is_interrupted(store: UsageStore) -> None:
    store.insert([_call("lost", "started"), _call("lost", "started")])  # and its replay
    store.insert([_call("ok", "started"), _call("bad", "started")])
    store.insert([_call("ok", "success"), _call("bad", "error")])
    outcomes = {k: r["outcome"] for k, r in _dedup(store).items()}
    assert outcomes == {"lost": "interrupted", "ok": "success", "bad": "error"}


def test_the_completion_wins_even_when_inserted_before_its_started_row(
    store: UsageStore,
) -> None:
    # Different batches, the started row's insert retried later: order must not matter.
    store.insert([_call("c1", "success")])
    store.insert([_call("c1", "started")])
    assert _dedup(store)["c1"]["outcome"] == "success"


def test_replayed_rejections_collapse(store: UsageStore) -> None:
    reject = _call("r9:rejected", "rejected", request_id="r9", attempt=0, model="")
    store.insert([reject])
    store.insert([reject])
    assert {k: r["outcome"] for k, r in _dedup(store).items()} == {"r9:rejected": "rejected"}


def test_an_old_store_is_migrated_and_its_rows_still_dedupe(backend: EmbeddedBackend) -> None:
    backend.command("CREATE DATABASE IF NOT EXISTS routeyard")
    backend.command(
        f"CREATE TABLE routeyard.usage ({_OLD_COLUMNS})"
        " ENGINE = MergeTree PARTITION BY toYYYYMM(started_at)"
        " ORDER BY (toDate(started_at), model, request_id, attempt)"
    )
    backend.command(
        "CREATE VIEW routeyard.usage_dedup AS SELECT * FROM routeyard.usage"
        " ORDER BY inserted_at LIMIT 1 BY request_id, attempt"
    )

    def old_row(request_id: str, attempt: int, outcome: str) -> dict[str, Any]:
        row = _row(_call("unused", outcome, request_id=request_id, attempt=attempt))
        del row["call_id"]
        return row

    old = [old_row("o1", 1, "error"), old_row("o1", 2, "success"), old_row("o2", 1, "success")]
    backend.insert_json_rows("routeyard.usage", old)
    backend.insert_json_rows("routeyard.usage", old[1:])  # an old-style replay

    store = UsageStore(backend, "routeyard")
    store.ensure_schema()
    store.ensure_schema()  # every start runs it again
    store.insert([_call("n1", "started", request_id="n"), _call("n1", "success", request_id="n")])

    [raw] = store.query("SELECT count() AS n, countIf(call_id = '') AS old FROM routeyard.usage")
    assert (int(raw["n"]), int(raw["old"])) == (7, 5), "old rows must survive the migration"
    rows = _dedup(store)
    assert set(rows) == {"o1:1", "o1:2", "o2:1", "n1"}
    assert rows["o1:1"]["outcome"] == "error" and rows["o2:1"]["outcome"] == "success"
    [whole] = summary(store, EVERYTHING, [], "raw")
    assert (whole["calls"], whole["interrupted"]) == (4, 0)
    assert Decimal(whole["cost_usd"]) == Decimal("0.000123") * 3
    assert summary(store, EVERYTHING, [], "rollup") == [whole]  # the backfill took old rows


def test_report_counts_every_distinct_call(store: UsageStore) -> None:
    calls = [
        # (call_id, request_id, attempt, model, completion or None if it never finished)
        ("a", "r1", 1, "small", "error"),
        ("b", "r1", 2, "big", "success"),
        ("c", "r2", 1, "small", "success"),
        ("c-redo", "r2", 1, "small", "success"),  # redone after a crash
        ("d", "r3", 1, "small", None),  # its worker was killed mid-call
        ("e", "r4", 1, "big", None),
    ]
    batch: list[UsageEvent] = []
    for call_id, request_id, attempt, model, end in calls:
        batch.append(_call(call_id, "started", request_id, attempt=attempt, model=model))
        if end is not None:
            batch.append(_call(call_id, end, request_id, attempt=attempt, model=model))
    batch.append(_call("r5:rejected", "rejected", "r5", attempt=0, model=""))
    store.insert(batch)
    store.insert(batch[2:7])  # replays

    for source in ("rollup", "raw"):
        report = {r["model"]: r for r in summary(store, EVERYTHING, ["model"], source)}
        assert set(report) == {"small", "big", ""}  # "": the rejection, made before any call
        counts = {
            m: tuple(int(r[k]) for k in ("calls", "successes", "interrupted", "rejected"))
            for m, r in report.items()
        }
        assert counts == {"small": (3, 2, 1, 0), "big": (1, 1, 1, 0), "": (0, 0, 0, 1)}
        assert report["small"]["error_rate"] == round(1 / 3, 4)
        total = sum(r["calls"] + r["interrupted"] for r in report.values())
        assert total == len(calls)
        cost = sum(Decimal(r["cost_usd"]) for r in report.values())
        assert cost == Decimal("0.000123") * 3
