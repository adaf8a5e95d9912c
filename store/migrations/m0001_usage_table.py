"""The usage table as first released: one row per provider attempt or rejection."""

from store.migrations.base import Migration, Schema

_CREATE = """
CREATE TABLE IF NOT EXISTS {db}.usage (
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
    cost_usd        Decimal(18, 9),
    latency_ms      Float64,
    complexity      Float32,
    tier            LowCardinality(String),
    task_type       LowCardinality(String),
    started_at      DateTime64(3, 'UTC'),
    inserted_at     DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = MergeTree PARTITION BY toYYYYMM(started_at)
ORDER BY (toDate(started_at), model, request_id, attempt)
"""


def _missing(schema: Schema) -> bool:
    return not schema.table_exists("usage")


def _create(schema: Schema) -> None:
    schema.run(_CREATE)


def _present(schema: Schema) -> bool:
    return schema.table_exists("usage")


MIGRATION = Migration(1, "usage table", _missing, _create, _present)
