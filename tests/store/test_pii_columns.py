"""Migration 0012: ``pii_counts`` on a store that had rows before it, and the sink writing
it (through the embedded engine): kinds and counts, queryable per kind."""

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
from store.migrations import m0012_pii as m0012

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[EmbeddedBackend]:
    b = EmbeddedBackend(tmp_path / "chdb")
    yield b
    b.close()


def _row(call: str, **over: object) -> UsageEvent:
    data: dict[str, object] = {
        "request_id": f"r-{call}",
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


def test_a_store_before_0012_gets_the_column_and_keeps_its_rows(backend: EmbeddedBackend) -> None:
    before = tuple(m for m in MIGRATIONS if m.version < 12)
    migrate(backend, "routeyard", before)
    row = _row("old").model_dump(mode="json", exclude={"schema_version", "pii_counts"})
    row = {k: v for k, v in row.items() if k in Schema(backend, "routeyard").columns("usage")}
    row["started_at"] = f"{NOW:%Y-%m-%d %H:%M:%S}"
    backend.insert_json_rows("routeyard.usage", [row])
    schema = Schema(backend, "routeyard")
    assert m0012.MIGRATION.applies(schema)

    assert [m.version for m in migrate(backend, "routeyard", (*before, m0012.MIGRATION))] == [12]

    assert not m0012.MIGRATION.applies(schema)  # a second start has nothing to do
    assert schema.columns("usage")["pii_counts"] == "Map(LowCardinality(String), UInt32)"
    [old] = backend.query("SELECT call_id, pii_counts FROM routeyard.usage_dedup")
    assert old == {"call_id": "old", "pii_counts": {}}


def test_the_sink_writes_kinds_and_counts(backend: EmbeddedBackend) -> None:
    store = UsageStore(backend, "routeyard")
    store.ensure_schema()
    redacted = _row("c-1", pii_counts={"email": 2, "phone": 1})
    refused = _row(
        "c-2", attempt=0, outcome="rejected", error_kind="pii_blocked", pii_counts={"iban": 1}
    )
    assert store.insert([redacted, refused, _row("c-3")]) == 3
    rows = backend.query("SELECT call_id, pii_counts FROM routeyard.usage_dedup ORDER BY call_id")
    assert [(r["call_id"], r["pii_counts"]) for r in rows] == [
        ("c-1", {"email": 2, "phone": 1}),
        ("c-2", {"iban": 1}),
        ("c-3", {}),
    ]
    # Per kind, as an analyst asks it.
    [per_kind] = backend.query(
        "SELECT sum(pii_counts['email']) AS emails, countIf(mapContains(pii_counts, 'iban'))"
        " AS with_iban FROM routeyard.usage"
    )
    assert (int(per_kind["emails"]), int(per_kind["with_iban"])) == (2, 1)
