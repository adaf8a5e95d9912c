"""What the context-window policy did to each request: ``moved`` (to a model whose window
holds it, no call wasted), ``fitted`` (oldest turns dropped or a long message cut),
``rejected`` (``context_too_long``), '' nothing (docs/design/request_policies.md).

``usage_dedup`` is made again after the column: a view's columns are fixed when it is made.
"""

from store.migrations import m0005_usage_dedup_view
from store.migrations.base import Migration, Schema
from store.migrations.columns import add_columns

_COLUMN = add_columns(
    11, "usage.context_action", [("context_action", "LowCardinality(String)", "purpose")]
)


def _view_has_it(schema: Schema) -> bool:
    return "context_action" in schema.columns("usage_dedup")


def _missing(schema: Schema) -> bool:
    return _COLUMN.applies(schema) or not _view_has_it(schema)


def _add(schema: Schema) -> None:
    _COLUMN.apply(schema)
    m0005_usage_dedup_view.MIGRATION.apply(schema)


def _present(schema: Schema) -> bool:
    return _COLUMN.verified(schema) and _view_has_it(schema)


MIGRATION = Migration(11, "usage.context_action", _missing, _add, _present)
