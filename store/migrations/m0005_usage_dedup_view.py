"""``usage_dedup``: one row per call, the completion when there is one.

A call's ``started`` row without a completion shows as ``interrupted`` (its worker died
mid-call, or it is still in flight). Rows written before call ids existed have
``call_id = ''`` and dedupe by (request_id, attempt), shown as their call_id.
Older stores hold a one-row-per-(request_id, attempt) version, which this replaces.
"""

from store.migrations.base import Migration, Schema

_VIEW = """
CREATE OR REPLACE VIEW {db}.usage_dedup AS
SELECT * REPLACE (if(outcome = 'started', 'interrupted', outcome) AS outcome)
FROM (
    SELECT * REPLACE (
        if(call_id = '', concat(request_id, ':', toString(attempt)), call_id) AS call_id
    )
    FROM {db}.usage
    ORDER BY outcome = 'started', inserted_at
    LIMIT 1 BY call_id
)
"""

# A view's columns are fixed when it is made: the current one selects call_id and arm.
_MARKERS = ("LIMIT 1 BY call_id", "arm")


def _outdated(schema: Schema) -> bool:
    query = schema.create_query("usage_dedup")
    return not all(marker in query for marker in _MARKERS) or "arm" not in schema.columns(
        "usage_dedup"
    )


def _replace(schema: Schema) -> None:
    schema.run(_VIEW)


def _current(schema: Schema) -> bool:
    return not _outdated(schema)


MIGRATION = Migration(5, "usage_dedup view by call_id", _outdated, _replace, _current)
