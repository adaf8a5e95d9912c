"""Prompt tokens served from the provider's cache, billed at their own price."""

from store.migrations.columns import add_columns

MIGRATION = add_columns(
    2, "usage.cached_input_tokens", [("cached_input_tokens", "UInt32", "output_tokens")]
)
