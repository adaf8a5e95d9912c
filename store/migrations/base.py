"""What a migration is, and the questions it asks of the store."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from store.backends import StoreBackend, StoreUnavailable


class MigrationFailed(StoreUnavailable):
    """A migration ran but its check says the change is not there; start-up stops."""


@dataclass(frozen=True)
class Schema:
    """The store as migrations see it: one database on one backend."""

    backend: StoreBackend
    database: str

    def run(self, sql: str) -> None:
        self.backend.command(sql.format(db=self.database))

    def table_exists(self, table: str) -> bool:
        rows = self.backend.query(
            "SELECT count() AS n FROM system.tables"
            f" WHERE database = '{self.database}' AND name = '{table}'"
        )
        return int(rows[0]["n"]) > 0

    def columns(self, table: str) -> dict[str, str]:
        rows = self.backend.query(
            "SELECT name, type FROM system.columns"
            f" WHERE database = '{self.database}' AND table = '{table}'"
        )
        return {str(r["name"]): str(r["type"]) for r in rows}

    def create_query(self, table: str) -> str:
        rows = self.backend.query(
            "SELECT create_table_query AS q FROM system.tables"
            f" WHERE database = '{self.database}' AND name = '{table}'"
        )
        return str(rows[0]["q"]) if rows else ""

    def skip_indices(self, table: str) -> set[str]:
        rows = self.backend.query(
            "SELECT name FROM system.data_skipping_indices"
            f" WHERE database = '{self.database}' AND table = '{table}'"
        )
        return {str(r["name"]) for r in rows}


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    applies: Callable[[Schema], bool]
    apply: Callable[[Schema], None]
    verified: Callable[[Schema], bool]
