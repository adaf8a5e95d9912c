"""Response cache on every row, and in the rollup (docs/design/cache.md).

``usage`` gains ``cache`` (exact, semantic or coalesced on a ``cache_hit`` row, '' on
every other row), ``cache_origin`` (the request whose answer was served) and ``saved_usd``
(what that answer cost when it was made; a hit itself costs 0). ``outcome`` is a
LowCardinality(String), not an Enum, so ``cache_hit`` needs no change to it.
``usage_dedup`` is made again after the columns (see columns.py).

``usage_minute`` gains ``cache`` as a dimension and ``saved_usd`` as a sum, so hit rate and
savings by route and kind outlive raw-row retention like every other rollup figure. The
dimension joins the sort key in the same ALTER that adds it (ClickHouse only lets a
sort key grow by columns added in that statement); without it the AggregatingMergeTree
would merge a minute's exact and semantic hits into one row. Rows already in the rollup
predate the cache, so '' and 0 are their true values: nothing is backfilled. The view
that feeds the rollup is replaced, keeping 0013's first-call rule.
"""

from store.migrations.base import Migration, Schema
from store.migrations.columns import add_columns_and_view
from store.migrations.m0007_usage_minute import DIMENSIONS
from store.migrations.m0013_request_lead import FIRST_CALL

_USAGE = add_columns_and_view(
    14,
    "usage and usage_minute cache columns",
    [
        ("cache", "LowCardinality(String)", "context_action"),
        ("cache_origin", "String", "cache"),
        ("saved_usd", "Decimal(18, 9)", "cost_usd"),
    ],
)

ROLLUP_DIMENSIONS = (*DIMENSIONS, "cache")
_SAVED = "SimpleAggregateFunction(sum, Decimal(38, 9))"

_VIEW = """
CREATE MATERIALIZED VIEW {db}.usage_minute_mv TO {db}.usage_minute AS
SELECT
    toStartOfMinute(started_at) AS minute,
    tenant, route, model, provider, tier, task_type, outcome, error_kind, is_fallback,
    {first_call} AS first_call,
    cache,
    count() AS rows,
    sum(toUInt64(input_tokens)) AS input_tokens,
    sum(toUInt64(output_tokens)) AS output_tokens,
    sum(toUInt64(cached_input_tokens)) AS cached_input_tokens,
    sum(toDecimal128(cost_usd, 9)) AS cost_usd,
    sum(toDecimal128(saved_usd, 9)) AS saved_usd,
    sum(latency_ms) AS latency_ms_sum,
    quantilesState(0.5, 0.95, 0.99)(latency_ms) AS latency
FROM {db}.usage
GROUP BY minute, {dims}
"""


def _sort_key(schema: Schema) -> str:
    rows = schema.backend.query(
        "SELECT sorting_key AS k FROM system.tables"
        f" WHERE database = '{schema.database}' AND name = 'usage_minute'"
    )
    return str(rows[0]["k"]) if rows else ""


def _rollup_has_them(schema: Schema) -> bool:
    columns = schema.columns("usage_minute")
    return (
        columns.get("cache") == "LowCardinality(String)"
        and columns.get("saved_usd") == _SAVED
        and _sort_key(schema).replace(" ", "").endswith(",cache")
    )


def _view_current(schema: Schema) -> bool:
    query = schema.create_query("usage_minute_mv")
    return "saved_usd" in query and "consensus_lead" in query


def _missing(schema: Schema) -> bool:
    return _USAGE.applies(schema) or not _rollup_has_them(schema) or not _view_current(schema)


def _add(schema: Schema) -> None:
    _USAGE.apply(schema)
    columns = schema.columns("usage_minute")
    if "cache" not in columns:
        keys = ", ".join(("minute", *ROLLUP_DIMENSIONS))
        schema.run(
            "ALTER TABLE {db}.usage_minute"
            " ADD COLUMN cache LowCardinality(String) AFTER first_call,"
            f" MODIFY ORDER BY ({keys})"
        )
    if "saved_usd" not in columns:
        schema.run(f"ALTER TABLE {{db}}.usage_minute ADD COLUMN saved_usd {_SAVED} AFTER cost_usd")
    # As in 0013: only the store's owner inserts, and it migrates before its first insert,
    # so no row passes between the drop and the create; a run cut short here leaves no
    # view, which the next start finds missing and creates.
    schema.run("DROP TABLE IF EXISTS {db}.usage_minute_mv")
    view = _VIEW.replace("{first_call}", FIRST_CALL).replace("{dims}", ", ".join(ROLLUP_DIMENSIONS))
    schema.run(view)


def _present(schema: Schema) -> bool:
    return _USAGE.verified(schema) and _rollup_has_them(schema) and _view_current(schema)


MIGRATION = Migration(14, _USAGE.name, _missing, _add, _present)
