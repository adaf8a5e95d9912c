-- The store as main made it before numbered migrations (commit 8c73415): the usage table
-- with every column, the usage_dedup view by call_id, no schema_migrations table.
CREATE DATABASE IF NOT EXISTS {db};
CREATE TABLE IF NOT EXISTS {db}.usage (
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
) ENGINE = MergeTree PARTITION BY toYYYYMM(started_at)
ORDER BY (toDate(started_at), model, request_id, attempt);
CREATE OR REPLACE VIEW {db}.usage_dedup AS
SELECT * REPLACE (if(outcome = 'started', 'interrupted', outcome) AS outcome)
FROM (
    SELECT * REPLACE (
        if(call_id = '', concat(request_id, ':', toString(attempt)), call_id) AS call_id
    )
    FROM {db}.usage
    ORDER BY outcome = 'started', inserted_at
    LIMIT 1 BY call_id
);
