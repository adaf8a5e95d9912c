"""The usage table: one row per provider attempt or rejection, keyed by (request_id, attempt).

Analysts query ``usage`` directly or ``usage_dedup``, which keeps one row per
(request_id, attempt): the pipeline delivers at least once, so a replay after a crash
can write a row twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from adapters.store.backends import StoreBackend
from schemas.events import UsageEvent

USAGE_COLUMNS = """
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

REPORT_SQL = """
SELECT
    model,
    count() AS attempts,
    countIf(outcome = 'success') AS successes,
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
WHERE outcome != 'rejected'
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
        self.backend.command(
            f"ALTER TABLE {db}.usage ADD COLUMN IF NOT EXISTS cached_input_tokens UInt32"
            " AFTER output_tokens"
        )
        self.backend.command(
            f"CREATE VIEW IF NOT EXISTS {db}.usage_dedup AS"
            f" SELECT * FROM {db}.usage ORDER BY inserted_at LIMIT 1 BY request_id, attempt"
        )

    def insert(self, events: Sequence[UsageEvent]) -> None:
        rows = [_row(e) for e in events]
        self.backend.insert_json_rows(f"{self.database}.usage", rows)

    def report(self) -> list[dict[str, Any]]:
        return self.backend.query(REPORT_SQL.format(db=self.database))

    def query(self, sql: str) -> list[dict[str, Any]]:
        return self.backend.query(sql)


def _row(event: UsageEvent) -> dict[str, Any]:
    row = event.model_dump(mode="json", exclude={"schema_version"})
    # ClickHouse's DateTime64 parser wants no timezone suffix; the column is UTC.
    row["started_at"] = event.started_at.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    return row
