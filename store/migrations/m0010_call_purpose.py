"""What each call was for: '' an ordinary call, ``consensus`` one voter of a fan-out,
``judge`` the call that picked among the voters' answers (docs/design/quality.md).

Without it a request on a consensus route shows N+1 successful calls of one attempt and
nothing says which answered, voted or judged.

``usage_dedup`` is made again after the column (see columns.py).
"""

from store.migrations.columns import add_columns_and_view

MIGRATION = add_columns_and_view(
    10, "usage.purpose", [("purpose", "LowCardinality(String)", "quality_failure")]
)
