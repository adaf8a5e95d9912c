"""Time to first token of streamed calls (0 for calls answered whole).

``usage_dedup`` is made again after the column: a view's columns are fixed when it is made.
"""

from store.migrations import m0005_usage_dedup_view
from store.migrations.base import Migration, Schema
from store.migrations.columns import add_columns

_COLUMN = add_columns(8, "usage.ttft_ms", [("ttft_ms", "Float64", "latency_ms")])


def _missing(schema: Schema) -> bool:
    return _COLUMN.applies(schema) or "ttft_ms" not in schema.columns("usage_dedup")


def _add(schema: Schema) -> None:
    _COLUMN.apply(schema)
    m0005_usage_dedup_view.MIGRATION.apply(schema)


def _present(schema: Schema) -> bool:
    return _COLUMN.verified(schema) and "ttft_ms" in schema.columns("usage_dedup")


MIGRATION = Migration(8, "usage.ttft_ms", _missing, _add, _present)
