"""``usage_minute``'s ``first_call`` counts a request once on consensus routes.

``requests`` counts the completed calls of attempt 1 (docs/design/analytics.md). A
consensus fan-out makes N voter calls (+ a judge) in attempt 1, so ``attempt = 1`` alone
counted such a request N (+1) times. Now only an ordinary call (purpose '') or the
fan-out's lead voter (``consensus_lead``, streams/consensus.py) is a first call; the
other voters and the judge still count as calls, cost and tokens of their model.

Only the view that feeds the rollup changes. Rows the old view wrote stay as they are:
they predate consensus, so every one had purpose '' and the new rule gives the same
``first_call``. Rebuilding from raw rows is not an option anyway: retention may have
removed raw rows the rollup still holds.
"""

from store.migrations.base import Migration, Schema
from store.migrations.m0007_usage_minute import DIMENSIONS

# The same rule on raw rows in store/queries.py keeps rollup and raw answers equal.
FIRST_CALL = "(attempt = 1 AND purpose IN ('', 'consensus_lead'))"

_MARKER = "consensus_lead"

_VIEW = """
CREATE MATERIALIZED VIEW {db}.usage_minute_mv TO {db}.usage_minute AS
SELECT
    toStartOfMinute(started_at) AS minute,
    tenant, route, model, provider, tier, task_type, outcome, error_kind, is_fallback,
    {first_call} AS first_call,
    count() AS rows,
    sum(toUInt64(input_tokens)) AS input_tokens,
    sum(toUInt64(output_tokens)) AS output_tokens,
    sum(toUInt64(cached_input_tokens)) AS cached_input_tokens,
    sum(toDecimal128(cost_usd, 9)) AS cost_usd,
    sum(latency_ms) AS latency_ms_sum,
    quantilesState(0.5, 0.95, 0.99)(latency_ms) AS latency
FROM {db}.usage
GROUP BY minute, {dims}
"""


def _outdated(schema: Schema) -> bool:
    return _MARKER not in schema.create_query("usage_minute_mv")


def _replace(schema: Schema) -> None:
    # Between the drop and the create no insert can slip past the rollup: only the
    # store's owner inserts, and it migrates before its first insert. A run cut short
    # here leaves no view, which the next start finds outdated and creates.
    schema.run("DROP TABLE IF EXISTS {db}.usage_minute_mv")
    view = _VIEW.replace("{first_call}", FIRST_CALL).replace("{dims}", ", ".join(DIMENSIONS))
    schema.run(view)


def _current(schema: Schema) -> bool:
    return schema.table_exists("usage_minute") and not _outdated(schema)


MIGRATION = Migration(
    13, "usage_minute counts a consensus request once", _outdated, _replace, _current
)
