"""One id per physical provider call, so a replayed event and a redone call differ.

Not in the sort key: it is random, so no query range-scans it.
"""

from store.migrations.columns import add_columns

MIGRATION = add_columns(3, "usage.call_id", [("call_id", "String", "attempt")])
