"""What the context-window policy did to each request: ``moved`` (to a model whose window
holds it, no call wasted), ``fitted`` (oldest turns dropped or a long message cut),
``rejected`` (``context_too_long``), '' nothing (docs/design/request_policies.md).

``usage_dedup`` is made again after the column (see columns.py).
"""

from store.migrations.columns import add_columns_and_view

MIGRATION = add_columns_and_view(
    11, "usage.context_action", [("context_action", "LowCardinality(String)", "purpose")]
)
