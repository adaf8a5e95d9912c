"""The route's strategy and its first choice, on every row."""

from store.migrations.columns import add_columns

MIGRATION = add_columns(
    4,
    "usage.strategy and usage.arm",
    [
        ("strategy", "LowCardinality(String)", "task_type"),
        ("arm", "LowCardinality(String)", "strategy"),
    ],
)
