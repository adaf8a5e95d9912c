"""A bloom-filter skip index on call_id: the sink's check for rows already inserted.

``call_id`` is random and outside the sort key; without the index, finding a few ids
reads the whole column of the time range.
"""

from store.migrations.base import Migration, Schema

_INDEX = "call_id_bloom"


def _missing(schema: Schema) -> bool:
    return _INDEX not in schema.skip_indices("usage")


def _add(schema: Schema) -> None:
    schema.run(
        f"ALTER TABLE {{db}}.usage ADD INDEX IF NOT EXISTS {_INDEX} call_id"
        " TYPE bloom_filter(0.01) GRANULARITY 1"
    )
    # Parts written before the index have none until this mutation rebuilds them.
    schema.run(f"ALTER TABLE {{db}}.usage MATERIALIZE INDEX {_INDEX} SETTINGS mutations_sync = 1")


def _present(schema: Schema) -> bool:
    return not _missing(schema)


MIGRATION = Migration(6, "usage.call_id bloom-filter index", _missing, _add, _present)
