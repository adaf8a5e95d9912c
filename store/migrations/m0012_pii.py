"""PII redaction on every row: how many values of each kind the request's PII policy
redacted before the call (or, on a ``pii_blocked`` rejection, found and refused). Kinds
and counts only: the table never holds a value (docs/design/request_policies.md).

``usage_dedup`` is made again after the column (see columns.py).
"""

from store.migrations.columns import add_columns_and_view

MIGRATION = add_columns_and_view(
    12, "usage.pii_counts", [("pii_counts", "Map(LowCardinality(String), UInt32)", "purpose")]
)
