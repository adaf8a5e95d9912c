"""Quality escalation on every row: whether the call was an escalation, why, and which
check the call's own answer failed (docs/design/quality.md).

``usage_dedup`` is made again after the columns (see columns.py).
"""

from store.migrations.columns import add_columns_and_view

MIGRATION = add_columns_and_view(
    9,
    "usage escalation columns",
    [
        ("escalated", "Bool", "ttft_ms"),
        ("escalation_reason", "LowCardinality(String)", "escalated"),
        ("quality_failure", "LowCardinality(String)", "escalation_reason"),
    ],
)
