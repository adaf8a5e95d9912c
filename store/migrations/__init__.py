"""Numbered schema migrations for the analytics store, applied once each and recorded.

Each migration module defines ``MIGRATION``: a version, a name and three steps run against
a :class:`~store.migrations.base.Schema`:

- ``applies(schema)``: is there anything to do? A store made before migrations existed
  already holds some changes; their migrations find them and are only recorded;
- ``apply(schema)``: make the change;
- ``verified(schema)``: did it take? If not, start-up stops with the migration's name.

:func:`migrate` runs what ``schema_migrations`` does not list yet, in version order.
"""

from store.migrations.base import Migration, MigrationFailed, Schema
from store.migrations.runner import MIGRATIONS, applied_versions, migrate

__all__ = ["MIGRATIONS", "Migration", "MigrationFailed", "Schema", "applied_versions", "migrate"]
