"""Time to first token of streamed calls (0 for calls answered whole).

``usage_dedup`` is made again after the column (see columns.py).
"""

from store.migrations.columns import add_columns_and_view

MIGRATION = add_columns_and_view(8, "usage.ttft_ms", [("ttft_ms", "Float64", "latency_ms")])
