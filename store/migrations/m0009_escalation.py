"""Quality escalation on every row: whether the call was an escalation, why, and which
check the call's own answer failed (docs/design/quality.md).

``usage_dedup`` is made again after the columns: a view's columns are fixed when it is made.
"""

from store.migrations import m0005_usage_dedup_view
from store.migrations.base import Migration, Schema
from store.migrations.columns import add_columns

_NEW = ("escalated", "escalation_reason", "quality_failure")
_COLUMNS = add_columns(
    9,
    "usage escalation columns",
    [
        ("escalated", "Bool", "ttft_ms"),
        ("escalation_reason", "LowCardinality(String)", "escalated"),
        ("quality_failure", "LowCardinality(String)", "escalation_reason"),
    ],
)


def _view_has_them(schema: Schema) -> bool:
    return set(_NEW) <= schema.columns("usage_dedup").keys()


def _missing(schema: Schema) -> bool:
    return _COLUMNS.applies(schema) or not _view_has_them(schema)


def _add(schema: Schema) -> None:
    _COLUMNS.apply(schema)
    m0005_usage_dedup_view.MIGRATION.apply(schema)


def _present(schema: Schema) -> bool:
    return _COLUMNS.verified(schema) and _view_has_them(schema)


MIGRATION = Migration(9, "usage escalation columns", _missing, _add, _present)
