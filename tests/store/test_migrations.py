"""Numbered migrations from an empty store, from main's pre-migration schema and older."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from schemas.events import UsageEvent, UsageOutcome
from store import UsageStore
from store.backends import EmbeddedBackend
from store.migrations import MIGRATIONS, MigrationFailed, Schema, applied_versions, migrate
from store.queries import TimeRange, summary
from store.retention import current_retention_days
from store.usage import _row

BEFORE_MIGRATIONS = Path(__file__).with_name("schema_before_migrations.sql")
NOW = datetime.now(UTC).replace(second=0, microsecond=0)
ALL = TimeRange.of(NOW - timedelta(days=1), NOW + timedelta(minutes=1))


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[EmbeddedBackend]:
    b = EmbeddedBackend(tmp_path / "chdb")
    yield b
    b.close()


def _event(call: str, outcome: UsageOutcome, model: str = "small", minute: int = 0) -> UsageEvent:
    return UsageEvent(
        request_id=f"req-{call}",
        attempt=1,
        call_id=call,
        tenant="acme",
        route="default",
        model=model,
        provider="emu",
        upstream_model=model,
        outcome=outcome,
        input_tokens=10 if outcome == "success" else 0,
        output_tokens=4 if outcome == "success" else 0,
        cost_usd=Decimal("0.000123") if outcome == "success" else Decimal(0),
        latency_ms=100.0 + minute,
        started_at=NOW - timedelta(minutes=minute),
    )


def _rows_by_main(backend: EmbeddedBackend) -> list[UsageEvent]:
    """What main's sink wrote: completions, a started-only call, and a replayed batch."""
    events = [_event(f"c{i}", "success", "small" if i % 3 else "big", i) for i in range(30)]
    events += [_event("c30", "error", minute=2), _event("lost", "started", minute=3)]
    rows = [_row(e) for e in events]
    # main let a replay write rows twice; usage_dedup hid them
    backend.insert_json_rows("routeyard.usage", rows + rows[:5])
    return events


def test_an_empty_store_gets_every_migration_once(backend: EmbeddedBackend) -> None:
    ran = migrate(backend, "routeyard")
    assert [m.version for m in ran] == [m.version for m in MIGRATIONS]
    assert applied_versions(backend, "routeyard") == {m.version for m in MIGRATIONS}
    assert migrate(backend, "routeyard") == []  # the next start has nothing to do
    recorded = backend.query("SELECT version, changed FROM routeyard.schema_migrations")
    assert len(recorded) == len(MIGRATIONS) and all(r["changed"] for r in recorded)


def test_mains_schema_migrates_and_its_rows_survive(backend: EmbeddedBackend) -> None:
    lines = BEFORE_MIGRATIONS.read_text().format(db="routeyard").splitlines()
    sql = "\n".join(line for line in lines if not line.startswith("--"))
    for statement in filter(str.strip, sql.split(";")):
        backend.command(statement)
    _rows_by_main(backend)
    [before] = backend.query("SELECT count() AS n, sum(cost_usd) AS usd FROM routeyard.usage")

    store = UsageStore(backend, "routeyard")
    store.ensure_schema()

    [after] = backend.query("SELECT count() AS n, sum(cost_usd) AS usd FROM routeyard.usage")
    assert after == before  # no row lost, none added
    changed = {
        int(r["version"]): bool(r["changed"])
        for r in backend.query("SELECT version, changed FROM routeyard.schema_migrations")
    }
    # main already had the table, its columns and the view: recorded, not re-made
    assert changed == dict.fromkeys(range(1, 6), False) | dict.fromkeys(range(6, 11), True) | {
        11: True,
        12: True,
        13: True,
        14: True,
    }
    # The rollup's backfill counts main's replayed rows once, as the raw answer does.
    assert summary(store, ALL, ["model"], "rollup") == summary(store, ALL, ["model"], "raw")
    [total] = summary(store, ALL, [], "rollup")
    assert (total["successes"], total["errors"], total["interrupted"]) == (30, 1, 1)
    assert Decimal(total["cost_usd"]) == Decimal("0.000123") * 30

    # New rows go through the view that feeds the rollup, once each.
    assert store.insert([_event("new", "success", minute=1), _event("c0", "success")]) == 1
    [total] = summary(store, ALL, [], "rollup")
    assert total["successes"] == 31


def test_a_first_release_store_gets_its_missing_columns(backend: EmbeddedBackend) -> None:
    first = dataclasses.replace(MIGRATIONS[0])
    migrate(backend, "routeyard", (first,))
    backend.command("DROP TABLE routeyard.schema_migrations")  # stores then had no ledger
    backend.insert_json_rows(
        "routeyard.usage",
        [
            {
                "request_id": "old",
                "attempt": 1,
                "outcome": "success",
                "model": "small",
                "cost_usd": "0.5",
                "started_at": f"{NOW:%Y-%m-%d %H:%M:%S}",
            }
        ],
    )
    UsageStore(backend, "routeyard").ensure_schema()
    columns = Schema(backend, "routeyard").columns("usage")
    assert {"call_id", "cached_input_tokens", "strategy", "arm"} <= columns.keys()
    [row] = backend.query("SELECT call_id, outcome, cost_usd FROM routeyard.usage_dedup")
    assert (row["call_id"], row["outcome"], Decimal(row["cost_usd"])) == (
        "old:1",
        "success",
        Decimal("0.5"),
    )


def test_a_migration_that_does_not_take_stops_start_up(backend: EmbeddedBackend) -> None:
    broken = dataclasses.replace(MIGRATIONS[0], verified=lambda schema: False)
    with pytest.raises(MigrationFailed, match="migration 0001 \\(usage table\\)"):
        migrate(backend, "routeyard", (broken,))
    assert applied_versions(backend, "routeyard") == set()  # tried again next start


def test_retention_follows_the_config(backend: EmbeddedBackend) -> None:
    store = UsageStore(backend, "routeyard")
    schema = Schema(backend, "routeyard")
    store.ensure_schema(raw_retention_days=30)
    assert current_retention_days(schema) == 30
    store.ensure_schema(raw_retention_days=7)
    assert current_retention_days(schema) == 7
    old = _event("old", "success", minute=10 * 24 * 60)  # ten days ago
    store.insert([old, _event("new", "success")])
    backend.command("OPTIMIZE TABLE routeyard.usage FINAL")  # a merge applies the TTL
    assert [r["call_id"] for r in backend.query("SELECT call_id FROM routeyard.usage")] == ["new"]
    [kept] = backend.query("SELECT sum(rows) AS n FROM routeyard.usage_minute")
    assert int(kept["n"]) == 2  # the rollup keeps what retention removed from raw rows

    store.ensure_schema(raw_retention_days=0)
    assert current_retention_days(schema) == 0
