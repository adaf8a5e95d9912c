"""The usage table: rows of provider calls and rejections, each call named by ``call_id``.

A call writes a ``started`` row before it and a completion row (success/error) after it.
Analysts query ``usage`` directly or ``usage_dedup``, which keeps one row per call: the
completion when there is one, else the started row shown as ``interrupted`` (its worker
died mid-call, or the call is still in flight).

Delivery is at least once, so a replayed event can come back; :meth:`UsageStore.insert`
drops the rows whose (call_id, outcome) the table already holds, so each lands once and
the rollups fed by insert count it once (docs/design/analytics.md). Two real calls of
the same (request_id, attempt), e.g. one redone after a crash, have two call ids and
stay two rows. The schema is in ``store/migrations/``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from schemas.events import UsageEvent
from store.backends import StoreBackend
from store.migrations import Schema, migrate
from store.retention import apply_retention


class UsageStore:
    def __init__(self, backend: StoreBackend, database: str) -> None:
        self.backend = backend
        self.database = database

    def ensure_schema(self, raw_retention_days: int | None = None) -> None:
        """Apply the migrations the store lacks; set retention when it is given."""
        migrate(self.backend, self.database)
        if raw_retention_days is not None:
            apply_retention(Schema(self.backend, self.database), raw_retention_days)

    def insert(self, events: Sequence[UsageEvent]) -> int:
        """Insert the events' rows that the table does not hold yet; returns how many."""
        rows = [_row(e) for e in events]
        seen = self._held(rows)
        fresh = []
        for r in rows:
            key = (r["call_id"], r["outcome"])
            if r["call_id"] and key in seen:
                continue  # in the table, or twice in this batch
            seen.add(key)
            fresh.append(r)
        self.backend.insert_json_rows(f"{self.database}.usage", fresh)
        return len(fresh)

    def _held(self, rows: list[dict[str, Any]]) -> set[tuple[str, str]]:
        """The (call_id, outcome) pairs among ``rows`` already in the table.

        A replayed event carries its first publication's started_at, so the lookup reads
        only the batch's time range, and the bloom-filter index on call_id (m0006) narrows
        that to a few granules.
        """
        ids = {r["call_id"] for r in rows if r["call_id"]}
        if not ids:
            return set()
        times = [r["started_at"] for r in rows]
        found = self.backend.query(
            f"SELECT call_id, outcome FROM {self.database}.usage"
            f" WHERE started_at BETWEEN '{min(times)}' AND '{max(times)}'"
            f" AND call_id IN ({', '.join(_quote(i) for i in sorted(ids))})"
        )
        return {(str(f["call_id"]), str(f["outcome"])) for f in found}

    def query(self, sql: str) -> list[dict[str, Any]]:
        return self.backend.query(sql)


def _quote(value: str) -> str:
    """A ClickHouse string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _row(event: UsageEvent) -> dict[str, Any]:
    row = event.model_dump(mode="json", exclude={"schema_version"})
    # ClickHouse's DateTime64 parser wants no timezone suffix; the column is UTC.
    row["started_at"] = event.started_at.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    # The column is not Nullable: '' is "not a cache hit", as '' means none elsewhere.
    row["cache"] = event.cache or ""
    return row
