"""Apply the migrations a store has not recorded, in order."""

from __future__ import annotations

import logging

from store.backends import StoreBackend
from store.migrations import (
    m0001_usage_table,
    m0002_cached_input_tokens,
    m0003_call_id,
    m0004_strategy_arm,
    m0005_usage_dedup_view,
    m0006_call_id_index,
    m0007_usage_minute,
    m0008_ttft_ms,
    m0009_escalation,
    m0010_call_purpose,
    m0011_context,
    m0012_pii,
    m0013_request_lead,
    m0014_cache,
)
from store.migrations.base import Migration, MigrationFailed, Schema

log = logging.getLogger(__name__)

MIGRATIONS: tuple[Migration, ...] = (
    m0001_usage_table.MIGRATION,
    m0002_cached_input_tokens.MIGRATION,
    m0003_call_id.MIGRATION,
    m0004_strategy_arm.MIGRATION,
    m0005_usage_dedup_view.MIGRATION,
    m0006_call_id_index.MIGRATION,
    m0007_usage_minute.MIGRATION,
    m0008_ttft_ms.MIGRATION,
    m0009_escalation.MIGRATION,
    m0010_call_purpose.MIGRATION,
    m0011_context.MIGRATION,
    m0012_pii.MIGRATION,
    m0013_request_lead.MIGRATION,
    m0014_cache.MIGRATION,
)

_LEDGER = """
CREATE TABLE IF NOT EXISTS {db}.schema_migrations (
    version    UInt32,
    name       String,
    applied_at DateTime64(3, 'UTC') DEFAULT now64(3),
    changed    Bool
) ENGINE = MergeTree ORDER BY version
"""


def applied_versions(backend: StoreBackend, database: str) -> set[int]:
    schema = Schema(backend, database)
    if not schema.table_exists("schema_migrations"):
        return set()
    rows = backend.query(f"SELECT DISTINCT version FROM {database}.schema_migrations")
    return {int(r["version"]) for r in rows}


def migrate(
    backend: StoreBackend, database: str, migrations: tuple[Migration, ...] = MIGRATIONS
) -> list[Migration]:
    """Apply and record every migration not recorded yet; returns those that ran.

    Only the process that owns the store runs this, before its first insert, so no other
    writer sees a half-migrated schema.
    """
    schema = Schema(backend, database)
    schema.run("CREATE DATABASE IF NOT EXISTS {db}")
    schema.run(_LEDGER)
    done = applied_versions(backend, database)
    ran: list[Migration] = []
    for migration in sorted(migrations, key=lambda m: m.version):
        if migration.version in done:
            continue
        changed = migration.applies(schema)
        if changed:
            log.info("store migration %04d %s: applying", migration.version, migration.name)
            migration.apply(schema)
        if not migration.verified(schema):
            raise MigrationFailed(
                f"{backend.description}: migration {migration.version:04d} ({migration.name})"
                " ran but its change is not in the store"
            )
        name = migration.name.replace("'", "")
        backend.command(
            f"INSERT INTO {database}.schema_migrations (version, name, changed)"
            f" VALUES ({migration.version}, '{name}', {str(changed).lower()})"
        )
        ran.append(migration)
    return ran
