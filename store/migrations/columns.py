"""A migration that adds columns to the usage table, for several migrations to share."""

from store.migrations.base import Migration, Schema


def add_columns(version: int, name: str, columns: list[tuple[str, str, str]]) -> Migration:
    """``columns``: (name, type, the column it goes after), added to ``usage`` if missing."""

    def missing(schema: Schema) -> bool:
        have = schema.columns("usage")
        return any(column not in have for column, _, _ in columns)

    def add(schema: Schema) -> None:
        for column, type_, after in columns:
            schema.run(
                f"ALTER TABLE {{db}}.usage ADD COLUMN IF NOT EXISTS {column} {type_} AFTER {after}"
            )

    def present(schema: Schema) -> bool:
        have = schema.columns("usage")
        return all(have.get(column) == type_ for column, type_, _ in columns)

    return Migration(version, name, missing, add, present)


def add_columns_and_view(version: int, name: str, columns: list[tuple[str, str, str]]) -> Migration:
    """:func:`add_columns`, then ``usage_dedup`` made again: a view's columns are fixed when
    it is made, so a column added after it would be missing from it."""
    # Imported here: the view's migration is a sibling module of the ones that call this.
    from store.migrations import m0005_usage_dedup_view

    table = add_columns(version, name, columns)
    names = {column for column, _, _ in columns}

    def view_has_them(schema: Schema) -> bool:
        return names <= schema.columns("usage_dedup").keys()

    def missing(schema: Schema) -> bool:
        return table.applies(schema) or not view_has_them(schema)

    def add(schema: Schema) -> None:
        table.apply(schema)
        m0005_usage_dedup_view.MIGRATION.apply(schema)

    def present(schema: Schema) -> bool:
        return table.verified(schema) and view_has_them(schema)

    return Migration(version, name, missing, add, present)
