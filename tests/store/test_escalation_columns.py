"""Migration 0009: the escalation columns, on a store that had rows before them, and the
sink writing them (through the embedded engine)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from schemas.events import UsageEvent
from store import UsageStore
from store.backends import EmbeddedBackend
from store.migrations import MIGRATIONS, Schema, migrate
from store.migrations import m0009_escalation as m0009

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[EmbeddedBackend]:
    b = EmbeddedBackend(tmp_path / "chdb")
    yield b
    b.close()


def _row(call: str, **over: object) -> UsageEvent:
    data: dict[str, object] = {
        "request_id": "r-1",
        "attempt": 1,
        "call_id": call,
        "tenant": "acme",
        "route": "default",
        "model": "cheap",
        "provider": "emu",
        "upstream_model": "cheap",
        "outcome": "success",
        "input_tokens": 10,
        "output_tokens": 4,
        "cost_usd": Decimal("0.000010"),
        "started_at": NOW,
    }
    data.update(over)
    return UsageEvent.model_validate(data)


def test_a_store_before_0009_gets_the_columns_and_keeps_its_rows(
    backend: EmbeddedBackend,
) -> None:
    before = tuple(m for m in MIGRATIONS if m.version < 9)
    migrate(backend, "routeyard", before)
    row = _row("old").model_dump(mode="json", exclude={"schema_version"})
    for new in ("escalated", "escalation_reason", "quality_failure"):
        row.pop(new)  # what the sink of that release wrote
    row["started_at"] = f"{NOW:%Y-%m-%d %H:%M:%S}"
    backend.insert_json_rows("routeyard.usage", [row])
    schema = Schema(backend, "routeyard")
    assert m0009.MIGRATION.applies(schema)

    assert [m.version for m in migrate(backend, "routeyard", (*before, m0009.MIGRATION))] == [9]

    assert not m0009.MIGRATION.applies(schema)  # a second start has nothing to do
    columns = schema.columns("usage")
    assert columns["escalated"] == "Bool"
    assert columns["escalation_reason"] == columns["quality_failure"] == "LowCardinality(String)"
    [old] = backend.query(
        "SELECT call_id, escalated, escalation_reason, quality_failure FROM routeyard.usage_dedup"
    )
    assert old == {
        "call_id": "old",
        "escalated": False,
        "escalation_reason": "",
        "quality_failure": "",
    }


def test_the_sink_writes_an_escalated_answers_rows(backend: EmbeddedBackend) -> None:
    store = UsageStore(backend, "routeyard")
    store.ensure_schema()
    cheap = _row("c-cheap", quality_failure="empty")
    strong = _row(
        "c-strong",
        attempt=2,
        model="strong",
        upstream_model="strong",
        cost_usd=Decimal("0.000200"),
        escalated=True,
        escalation_reason="empty",
    )
    started = strong.model_copy(update={"outcome": "started", "cost_usd": Decimal(0)})
    assert store.insert([cheap, started, strong]) == 3
    rows = backend.query(
        "SELECT call_id, outcome, escalated, escalation_reason, quality_failure, cost_usd"
        " FROM routeyard.usage_dedup ORDER BY call_id"
    )
    assert [
        (
            r["call_id"],
            r["outcome"],
            r["escalated"],
            r["escalation_reason"],
            r["quality_failure"],
            Decimal(r["cost_usd"]),
        )
        for r in rows
    ] == [
        ("c-cheap", "success", False, "", "empty", Decimal("0.000010")),
        ("c-strong", "success", True, "empty", "", Decimal("0.000200")),
    ]
    # A replay of the same events adds nothing.
    assert store.insert([cheap, strong]) == 0
