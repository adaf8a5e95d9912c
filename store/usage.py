"""The usage table: rows of provider calls and rejections, each call named by ``call_id``.

A call writes a ``started`` row before it and a completion row (success/error) after it.
Analysts query ``usage`` directly or ``usage_dedup``, which keeps one row per call: the
completion when there is one, else the started row shown as ``interrupted`` (its worker
died mid-call, or the call is still in flight). Delivery is at least once, so a replay
can write a row twice; the view collapses those, while two real calls of the same
(request_id, attempt), e.g. one redone after a crash, stay two rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from schemas.events import UsageEvent
from store.backends import StoreBackend

USAGE_COLUMNS = """
    request_id      String,
    attempt         UInt16,
    call_id         String,
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
    strategy        LowCardinality(String),
    arm             LowCardinality(String),
    started_at      DateTime64(3, 'UTC'),
    inserted_at     DateTime64(3, 'UTC') DEFAULT now64(3)
"""

# Rows written before call_id existed have call_id = '': they dedupe by
# (request_id, attempt) as they always did, and the view shows that key as their call_id.
USAGE_DEDUP_SQL = """
CREATE OR REPLACE VIEW {db}.usage_dedup AS
SELECT * REPLACE (if(outcome = 'started', 'interrupted', outcome) AS outcome)
FROM (
    SELECT * REPLACE (
        if(call_id = '', concat(request_id, ':', toString(attempt)), call_id) AS call_id
    )
    FROM {db}.usage
    ORDER BY outcome = 'started', inserted_at
    LIMIT 1 BY call_id
)
"""

REPORT_SQL = """
SELECT
    model,
    count() AS attempts,
    countIf(outcome = 'success') AS successes,
    countIf(outcome = 'interrupted') AS interrupted,
    round(countIf(outcome = 'error') / count(), 4) AS error_rate,
    round(countIf(is_fallback AND outcome != 'rejected') / count(), 4) AS fallback_rate,
    round(quantileIf(0.50)(latency_ms, outcome = 'success'), 1) AS p50_ms,
    round(quantileIf(0.95)(latency_ms, outcome = 'success'), 1) AS p95_ms,
    round(quantileIf(0.99)(latency_ms, outcome = 'success'), 1) AS p99_ms,
    sum(input_tokens) AS input_tokens,
    sum(output_tokens) AS output_tokens,
    sum(cached_input_tokens) AS cached_input_tokens,
    sum(cost_usd) AS cost_usd
FROM {db}.usage_dedup
WHERE outcome NOT IN ('rejected', 'skipped')
GROUP BY model
ORDER BY model
"""


class UsageStore:
    def __init__(self, backend: StoreBackend, database: str) -> None:
        self.backend = backend
        self.database = database

    def ensure_schema(self) -> None:
        db = self.database
        self.backend.command(f"CREATE DATABASE IF NOT EXISTS {db}")
        self.backend.command(
            f"CREATE TABLE IF NOT EXISTS {db}.usage ({USAGE_COLUMNS})"
            " ENGINE = MergeTree PARTITION BY toYYYYMM(started_at)"
            " ORDER BY (toDate(started_at), model, request_id, attempt)"
        )
        # Columns added after the first release; a no-op on tables created since.
        # call_id is not in the sort key: it is random, so no query range-scans it, and
        # old and new tables keep one key.
        self.backend.command(
            f"ALTER TABLE {db}.usage ADD COLUMN IF NOT EXISTS cached_input_tokens UInt32"
            " AFTER output_tokens"
        )
        self.backend.command(
            f"ALTER TABLE {db}.usage ADD COLUMN IF NOT EXISTS call_id String AFTER attempt"
        )
        for column in ("strategy", "arm"):
            self.backend.command(
                f"ALTER TABLE {db}.usage ADD COLUMN IF NOT EXISTS {column}"
                " LowCardinality(String) AFTER task_type"
            )
        # Replaced on every start: a view's columns are fixed when it is created, and
        # older stores hold the one-row-per-(request_id, attempt) version.
        self.backend.command(USAGE_DEDUP_SQL.format(db=db))

    def insert(self, events: Sequence[UsageEvent]) -> None:
        rows = [_row(e) for e in events]
        self.backend.insert_json_rows(f"{self.database}.usage", rows)

    def report(self) -> list[dict[str, Any]]:
        """Per model: every provider call once, interrupted ones included; cost as Decimal."""
        rows = self.backend.query(REPORT_SQL.format(db=self.database))
        for row in rows:
            # Both backends quote decimals in JSON, so the string is exact.
            row["cost_usd"] = Decimal(str(row["cost_usd"]))
        return rows

    def query(self, sql: str) -> list[dict[str, Any]]:
        return self.backend.query(sql)


def _row(event: UsageEvent) -> dict[str, Any]:
    row = event.model_dump(mode="json", exclude={"schema_version"})
    # ClickHouse's DateTime64 parser wants no timezone suffix; the column is UTC.
    row["started_at"] = event.started_at.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    return row
