"""PII redaction on every row: how many values of each kind the request's PII policy
redacted before the call (or, on a ``pii_blocked`` rejection, found and refused). Kinds
and counts only: the table never holds a value (docs/design/request_policies.md).

``usage_dedup`` is made again after the column: a view's columns are fixed when it is made.
"""

from store.migrations import m0005_usage_dedup_view
from store.migrations.base import Migration, Schema
from store.migrations.columns import add_columns

_COLUMN = add_columns(
    12, "usage.pii_counts", [("pii_counts", "Map(LowCardinality(String), UInt32)", "purpose")]
)


def _view_has_it(schema: Schema) -> bool:
    return "pii_counts" in schema.columns("usage_dedup")


def _missing(schema: Schema) -> bool:
    return _COLUMN.applies(schema) or not _view_has_it(schema)


def _add(schema: Schema) -> None:
    _COLUMN.apply(schema)
    m0005_usage_dedup_view.MIGRATION.apply(schema)


def _present(schema: Schema) -> bool:
    return _COLUMN.verified(schema) and _view_has_it(schema)


MIGRATION = Migration(12, "usage.pii_counts", _missing, _add, _present)
