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
