"""``usage_minute``: per-minute aggregates fed by a materialized view on ``usage``.

The view sees each insert into ``usage``; the sink inserts each (call_id, outcome) once
(store/usage.py), so each call counts once. Rows already in the store are added by a
backfill that reads them deduplicated, as older stores may hold replayed rows twice.
"""

from store.migrations.base import Migration, Schema

DIMENSIONS = (
    "tenant",
    "route",
    "model",
    "provider",
    "tier",
    "task_type",
    "outcome",
    "error_kind",
    "is_fallback",
    "first_call",
)

_TABLE = """
CREATE TABLE {db}.usage_minute (
    minute              DateTime('UTC'),
    tenant              LowCardinality(String),
    route               LowCardinality(String),
    model               LowCardinality(String),
    provider            LowCardinality(String),
    tier                LowCardinality(String),
    task_type           LowCardinality(String),
    outcome             LowCardinality(String),
    error_kind          LowCardinality(String),
    is_fallback         Bool,
    first_call          Bool,
    rows                SimpleAggregateFunction(sum, UInt64),
    input_tokens        SimpleAggregateFunction(sum, UInt64),
    output_tokens       SimpleAggregateFunction(sum, UInt64),
    cached_input_tokens SimpleAggregateFunction(sum, UInt64),
    cost_usd            SimpleAggregateFunction(sum, Decimal(38, 9)),
    latency_ms_sum      SimpleAggregateFunction(sum, Float64),
    latency             AggregateFunction(quantiles(0.5, 0.95, 0.99), Float64)
) ENGINE = AggregatingMergeTree PARTITION BY toYYYYMM(minute)
ORDER BY (minute, {dims})
"""

_SELECT = """
SELECT
    toStartOfMinute(started_at) AS minute,
    tenant, route, model, provider, tier, task_type, outcome, error_kind, is_fallback,
    attempt = 1 AS first_call,
    count() AS rows,
    sum(toUInt64(input_tokens)) AS input_tokens,
    sum(toUInt64(output_tokens)) AS output_tokens,
    sum(toUInt64(cached_input_tokens)) AS cached_input_tokens,
    sum(toDecimal128(cost_usd, 9)) AS cost_usd,
    sum(latency_ms) AS latency_ms_sum,
    quantilesState(0.5, 0.95, 0.99)(latency_ms) AS latency
FROM {source}
GROUP BY minute, {dims}
"""

# Rows from before the sink deduplicated at insert: one per (call, outcome), the first.
_DEDUPLICATED = """(
    SELECT * FROM {db}.usage
    ORDER BY inserted_at
    LIMIT 1 BY if(call_id = '', concat(request_id, ':', toString(attempt)), call_id), outcome
)"""


def _missing(schema: Schema) -> bool:
    return not schema.table_exists("usage_minute_mv")


def _create(schema: Schema) -> None:
    dims = ", ".join(DIMENSIONS)
    # A run cut short after the backfill leaves a table without its view: start over,
    # or the backfill would count those rows twice. Only the store's owner inserts, and
    # it runs migrations before its first insert, so no row lands between the steps.
    schema.run("DROP TABLE IF EXISTS {db}.usage_minute")
    schema.run(_TABLE.replace("{dims}", dims))
    backfill = _SELECT.replace("{dims}", dims).replace("{source}", _DEDUPLICATED)
    schema.run("INSERT INTO {db}.usage_minute " + backfill)
    view = _SELECT.replace("{dims}", dims).replace("{source}", "{db}.usage")
    schema.run("CREATE MATERIALIZED VIEW {db}.usage_minute_mv TO {db}.usage_minute AS " + view)


def _present(schema: Schema) -> bool:
    return schema.table_exists("usage_minute") and schema.table_exists("usage_minute_mv")


MIGRATION = Migration(7, "usage_minute rollup", _missing, _create, _present)
