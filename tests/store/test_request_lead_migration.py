"""Migration 0013: the rollup's view counts a consensus request once, rows written before
it keep their counts, and rollup and raw answers still agree across the change."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from schemas.consensus import CallPurpose
from schemas.events import UsageEvent, UsageOutcome
from store import UsageStore
from store.backends import EmbeddedBackend
from store.migrations import MIGRATIONS, Schema, applied_versions, migrate
from store.migrations.m0013_request_lead import MIGRATION as REQUEST_LEAD
from store.queries import TimeRange, summary
from store.usage import _row

NOW = datetime.now(UTC).replace(second=0, microsecond=0)
ALL = TimeRange.of(NOW - timedelta(hours=2), NOW + timedelta(minutes=1))


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[EmbeddedBackend]:
    b = EmbeddedBackend(tmp_path / "chdb")
    yield b
    b.close()


def _call(request: str, model: str, outcome: UsageOutcome, purpose: CallPurpose = "") -> UsageEvent:
    return UsageEvent(
        request_id=request,
        attempt=1,
        call_id=f"{request}:{model}",
        tenant="acme",
        route="vote",
        model=model,
        provider="emu",
        upstream_model=model,
        outcome=outcome,
        input_tokens=7,
        output_tokens=2,
        cost_usd=Decimal("0.000002"),
        latency_ms=40.0,
        started_at=NOW - timedelta(minutes=30),
        purpose=purpose,
    )


def _fan_out(request: str) -> list[UsageEvent]:
    return [
        _call(request, "a", "success", "consensus_lead"),
        _call(request, "b", "success", "consensus"),
        _call(request, "c", "error", "consensus"),
        _call(request, "judge", "success", "judge"),
    ]


def test_rows_before_the_change_keep_their_counts_and_new_fan_outs_count_once(
    backend: EmbeddedBackend,
) -> None:
    before = tuple(m for m in MIGRATIONS if m.version < REQUEST_LEAD.version)
    migrate(backend, "routeyard", before)
    store = UsageStore(backend, "routeyard")
    # Written through the old view: ordinary calls only, as before consensus existed.
    store.backend.insert_json_rows(
        "routeyard.usage", [_row(_call(f"old-{i}", "a", "success")) for i in range(4)]
    )
    old_rollup = backend.query("SELECT sum(rows) AS n FROM routeyard.usage_minute")

    store.ensure_schema()  # the rest: 0013 replaces the view
    assert REQUEST_LEAD.version in applied_versions(backend, "routeyard")
    assert "consensus_lead" in Schema(backend, "routeyard").create_query("usage_minute_mv")
    # The rollup's rows were kept, not rebuilt.
    assert backend.query("SELECT sum(rows) AS n FROM routeyard.usage_minute") == old_rollup

    store.insert([*_fan_out("vote-1"), *_fan_out("vote-2"), _call("plain", "b", "success")])
    rollup = summary(store, ALL, ["model"], "rollup")
    assert rollup == summary(store, ALL, ["model"], "raw")
    assert {r["model"]: r["requests"] for r in rollup} == {"a": 6, "b": 1, "c": 0, "judge": 0}
    assert {r["model"]: r["calls"] for r in rollup} == {"a": 6, "b": 3, "c": 2, "judge": 2}
    [total] = summary(store, ALL, [], "rollup")
    assert (total["requests"], total["calls"]) == (4 + 2 + 1, 4 + 8 + 1)


def test_a_run_cut_between_drop_and_create_is_finished_next_start(
    backend: EmbeddedBackend,
) -> None:
    migrate(backend, "routeyard", tuple(m for m in MIGRATIONS if m.version < REQUEST_LEAD.version))
    schema = Schema(backend, "routeyard")
    schema.run("DROP TABLE {db}.usage_minute_mv")  # 0013 dropped the old view, then died
    assert REQUEST_LEAD.applies(schema) and not REQUEST_LEAD.verified(schema)
    ran = migrate(backend, "routeyard")
    assert [m.version for m in ran] == [m.version for m in MIGRATIONS if m.version >= 13]
    store = UsageStore(backend, "routeyard")
    store.insert(_fan_out("after"))
    [total] = summary(store, ALL, [], "rollup")
    assert (total["requests"], total["calls"]) == (1, 4)
