"""What each call was for: '' an ordinary call, ``consensus`` one voter of a fan-out,
``judge`` the call that picked among the voters' answers (docs/design/quality.md).

Without it a request on a consensus route shows N+1 successful calls of one attempt and
nothing says which answered, voted or judged.

``usage_dedup`` is made again after the column: a view's columns are fixed when it is made.
"""

from store.migrations import m0005_usage_dedup_view
from store.migrations.base import Migration, Schema
from store.migrations.columns import add_columns

_COLUMN = add_columns(
    10, "usage.purpose", [("purpose", "LowCardinality(String)", "quality_failure")]
)


def _view_has_it(schema: Schema) -> bool:
    return "purpose" in schema.columns("usage_dedup")


def _missing(schema: Schema) -> bool:
    return _COLUMN.applies(schema) or not _view_has_it(schema)


def _add(schema: Schema) -> None:
    _COLUMN.apply(schema)
    m0005_usage_dedup_view.MIGRATION.apply(schema)


def _present(schema: Schema) -> bool:
    return _COLUMN.verified(schema) and _view_has_it(schema)


MIGRATION = Migration(10, "usage.purpose", _missing, _add, _present)
