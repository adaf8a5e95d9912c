"""Raw-row retention: the usage table's TTL follows ``store.raw_retention_days``.

Configuration, not schema history: it is compared with the table at every start and set
when they differ, so changing the setting needs no migration. Rollups are kept.
"""

from __future__ import annotations

import logging
import re

from store.migrations.base import Schema

log = logging.getLogger(__name__)

_TTL_DAYS = re.compile(r"TTL toDateTime\(started_at\) \+ toIntervalDay\((\d+)\)")


def current_retention_days(schema: Schema) -> int:
    """The days in the usage table's TTL; 0 when it has none."""
    found = _TTL_DAYS.search(schema.create_query("usage"))
    return int(found.group(1)) if found else 0


def apply_retention(schema: Schema, days: int) -> bool:
    """Set the TTL to ``days`` (0: none); True when it changed."""
    if current_retention_days(schema) == days:
        return False
    if days == 0:
        schema.run("ALTER TABLE {db}.usage REMOVE TTL")
    else:
        schema.run(
            f"ALTER TABLE {{db}}.usage MODIFY TTL toDateTime(started_at) + INTERVAL {days} DAY"
        )
    log.info("usage table retention set to %s", f"{days} days" if days else "forever")
    return True
