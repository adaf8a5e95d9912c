"""The analysts' questions as SQL: totals by dimensions, time series, from rollups or raw rows.

Both sources answer over whole minutes (:class:`TimeRange` floors its ends), so the
rollup ``usage_minute`` and the raw ``usage`` rows give the same counts and sums; tests
compare them. Definitions (docs/design/analytics.md): ``calls`` are completed provider
calls (success + error), ``requests`` are first calls (one per request, a consensus
fan-out's lead voter alone) plus rejections, latency quantiles are over successes,
``interrupted`` calls (started, never completed) come from raw rows.

Cache hits (``outcome = 'cache_hit'``, docs/design/cache.md) are requests answered, so
they count in ``requests`` and ``successes`` (cost 0, under the served answer's model),
and in ``cache_hits``, ``hit_rate`` (hits / requests) and ``saved_usd`` (what the served
answers cost when made). They are not provider calls: ``calls``, ``errors``, the error
and fallback rates, the latency quantiles and the token sums leave them out, so a model's
figures describe its provider alone and tokens match what was billed. So ``successes``
can exceed ``calls``; ``successes - cache_hits`` is the provider's successes. The
``cache`` dimension is the hit's kind (exact, semantic, coalesced), '' for every other row.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal, get_args

from store.migrations.m0013_request_lead import FIRST_CALL
from store.usage import UsageStore

Dimension = Literal[
    "model", "provider", "tenant", "route", "task_type", "tier", "cache", "hour", "day"
]
Step = Literal["minute", "hour", "day"]
Source = Literal["rollup", "raw"]
DIMENSIONS: tuple[str, ...] = get_args(Dimension)
STEPS: tuple[str, ...] = get_args(Step)
SOURCES: tuple[str, ...] = get_args(Source)


class QueryError(ValueError):
    """A query parameter that cannot be answered; ``param`` names it."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(f"{param}: {message}")
        self.param = param


_AGE = re.compile(r"^(\d+)\s*(s|m|min|h|d|w)$")
_AGE_UNITS = {"s": "seconds", "m": "minutes", "min": "minutes", "h": "hours", "d": "days"}
DEFAULT_SPAN = timedelta(hours=1)


def parse_instant(param: str, text: str, now: datetime, *, naive_is_utc: bool = False) -> datetime:
    """ISO 8601, ``now``, or an age back from now: ``30s``, ``90m``, ``2h``, ``7d``, ``2w``.

    An ISO time without a UTC offset is an error unless ``naive_is_utc`` (the CLI's
    reading, where a person types it; an API caller states the offset).
    """
    value = text.strip().lower()
    if value == "now":
        return now
    age = _AGE.match(value)
    if age:
        amount, unit = int(age.group(1)), age.group(2)
        if unit == "w":
            return now - timedelta(weeks=amount)
        return now - timedelta(**{_AGE_UNITS[unit]: amount})
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise QueryError(
            param,
            f"{text!r} is neither an ISO 8601 time nor now nor an age like 90m, 2h, 7d, 2w",
        ) from exc
    if when.tzinfo is None:
        if not naive_is_utc:
            raise QueryError(param, f"{text!r} has no UTC offset (add Z or +00:00)")
        return when.replace(tzinfo=UTC)
    return when.astimezone(UTC)


def end_of_this_minute(now: datetime) -> datetime:
    """A range's default end: ranges are floored to whole minutes, so ending at the next
    minute keeps the minute in progress."""
    return _floor_minute(now) + timedelta(minutes=1)


def _floor_minute(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(second=0, microsecond=0)


@dataclass(frozen=True)
class TimeRange:
    """``[since, until)`` in whole minutes, UTC."""

    since: datetime
    until: datetime

    @classmethod
    def of(cls, since: datetime, until: datetime) -> TimeRange:
        start, end = _floor_minute(since), _floor_minute(until)
        if end <= start:
            raise QueryError(
                "until",
                f"{end:%Y-%m-%d %H:%M}Z is not after since {start:%Y-%m-%d %H:%M}Z"
                " (both floored to the minute)",
            )
        return cls(start, end)

    def sql(self) -> tuple[str, str]:
        return (f"{self.since:%Y-%m-%d %H:%M:%S}", f"{self.until:%Y-%m-%d %H:%M:%S}")

    def as_json(self) -> dict[str, str]:
        return {"since": iso_z(self.since), "until": iso_z(self.until)}


def iso_z(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


_COMPLETED = "outcome IN ('success', 'error')"
_HIT = "outcome = 'cache_hit'"
_NOT_HIT = "outcome != 'cache_hit'"

# Metric -> (expression over the rollup, expression over deduplicated raw rows).
_METRICS: dict[str, tuple[str, str]] = {
    "requests": (
        f"sumIf(rows, (first_call AND {_COMPLETED}) OR outcome = 'rejected' OR {_HIT})",
        f"countIf((first_call AND {_COMPLETED}) OR outcome = 'rejected' OR {_HIT})",
    ),
    "calls": (f"sumIf(rows, {_COMPLETED})", f"countIf({_COMPLETED})"),
    "successes": (
        f"sumIf(rows, outcome = 'success' OR {_HIT})",
        f"countIf(outcome = 'success' OR {_HIT})",
    ),
    "errors": ("sumIf(rows, outcome = 'error')", "countIf(outcome = 'error')"),
    "rejected": ("sumIf(rows, outcome = 'rejected')", "countIf(outcome = 'rejected')"),
    "skipped": ("sumIf(rows, outcome = 'skipped')", "countIf(outcome = 'skipped')"),
    "fallbacks": (
        f"sumIf(rows, is_fallback AND {_COMPLETED})",
        f"countIf(is_fallback AND {_COMPLETED})",
    ),
    "input_tokens": (
        f"sumIf(input_tokens, {_NOT_HIT})",
        f"sumIf(toUInt64(input_tokens), {_NOT_HIT})",
    ),
    "output_tokens": (
        f"sumIf(output_tokens, {_NOT_HIT})",
        f"sumIf(toUInt64(output_tokens), {_NOT_HIT})",
    ),
    "cached_input_tokens": (
        f"sumIf(cached_input_tokens, {_NOT_HIT})",
        f"sumIf(toUInt64(cached_input_tokens), {_NOT_HIT})",
    ),
    "cost_usd": ("sum(cost_usd)", "sum(toDecimal128(cost_usd, 9))"),
    "cache_hits": (f"sumIf(rows, {_HIT})", f"countIf({_HIT})"),
    "saved_usd": ("sum(saved_usd)", "sum(toDecimal128(saved_usd, 9))"),
    "latency": (
        "quantilesMergeIf(0.5, 0.95, 0.99)(latency, outcome = 'success')",
        "quantilesIf(0.5, 0.95, 0.99)(latency_ms, outcome = 'success')",
    ),
}
_COUNTS = (
    "requests",
    "calls",
    "successes",
    "errors",
    "rejected",
    "skipped",
    "fallbacks",
    "input_tokens",
    "output_tokens",
    "cached_input_tokens",
    "cache_hits",
)

_DIMENSION_SQL = {
    "hour": "toStartOfHour(minute)",
    "day": "toDate(minute)",
}
_STEP_SQL = {"minute": "minute", "hour": "toStartOfHour(minute)", "day": "toStartOfDay(minute)"}

# Raw rows once per (call, outcome): stores from before the sink's insert check may hold
# a replayed row twice (store/usage.py). first_call is the rollup view's own rule.
_RAW_ROWS = """(
    SELECT *, toStartOfMinute(started_at) AS minute, {first_call} AS first_call
    FROM {db}.usage
    WHERE started_at >= '{since}' AND started_at < '{until}'
    ORDER BY inserted_at
    LIMIT 1 BY if(call_id = '', concat(request_id, ':', toString(attempt)), call_id), outcome
)"""

_INTERRUPTED = """
SELECT {dims}, count() AS interrupted
FROM (
    SELECT *, toStartOfMinute(started_at) AS minute FROM {db}.usage
    WHERE outcome = 'started' AND started_at >= '{since}' AND started_at < '{until}'
    LIMIT 1 BY call_id
)
WHERE call_id NOT IN (
    SELECT call_id FROM {db}.usage
    WHERE {completed}
      AND started_at >= toDateTime64('{since}', 3, 'UTC') - INTERVAL 1 HOUR
      AND started_at < toDateTime64('{until}', 3, 'UTC') + INTERVAL 1 HOUR
      AND call_id IN (
          SELECT call_id FROM {db}.usage
          WHERE outcome = 'started' AND started_at >= '{since}' AND started_at < '{until}'
      )
)
GROUP BY {group}
"""


def _source_sql(db: str, window: TimeRange, source: Source) -> tuple[str, int]:
    since, until = window.sql()
    if source == "rollup":
        return (
            f"{db}.usage_minute WHERE minute >= '{since}' AND minute < '{until}'",
            0,
        )
    return _RAW_ROWS.format(db=db, since=since, until=until, first_call=FIRST_CALL), 1


def _dimension(dim: str) -> str:
    return f"{_DIMENSION_SQL[dim]} AS {dim}" if dim in _DIMENSION_SQL else dim


def _check_by(by: Sequence[str]) -> None:
    unknown = [d for d in by if d not in DIMENSIONS]
    if unknown:
        raise QueryError("by", f"unknown {', '.join(unknown)} (known: {', '.join(DIMENSIONS)})")
    if len(set(by)) != len(by):
        raise QueryError("by", "a dimension is named twice")


def summary_sql(db: str, window: TimeRange, by: Sequence[str], source: Source) -> str:
    _check_by(by)
    table, column = _source_sql(db, window, source)
    metrics = ", ".join(f"{exprs[column]} AS {name}" for name, exprs in _METRICS.items())
    if not by:
        return f"SELECT {metrics} FROM {table}"
    dims = ", ".join(_dimension(d) for d in by)
    names = ", ".join(by)
    return f"SELECT {dims}, {metrics} FROM {table} GROUP BY {names} ORDER BY {names}"


def interrupted_sql(db: str, window: TimeRange, by: Sequence[str]) -> str:
    _check_by(by)
    since, until = window.sql()
    dims = ", ".join(_dimension(d) for d in by) if by else "'' AS everything"
    group = ", ".join(by) if by else "everything"
    return _INTERRUPTED.format(
        db=db, since=since, until=until, completed=_COMPLETED, dims=dims, group=group
    )


def timeseries_sql(db: str, window: TimeRange, step: Step, by: str | None, source: Source) -> str:
    if step not in STEPS:
        raise QueryError("step", f"unknown {step!r} (known: {', '.join(STEPS)})")
    if by is not None:
        _check_by([by])
        if by in _DIMENSION_SQL:
            raise QueryError("by", f"{by} is a time step: use step={by} instead")
    table, column = _source_sql(db, window, source)
    metrics = ", ".join(f"{exprs[column]} AS {name}" for name, exprs in _METRICS.items())
    key = by if by is not None else "''"
    return (
        f"SELECT {_STEP_SQL[step]} AS bucket, {key} AS key, {metrics} FROM {table}"
        " GROUP BY bucket, key ORDER BY bucket, key"
    )


def usd(value: Any) -> str:
    """An amount as an exact decimal string, trailing zeros dropped: fixed-point, since
    normalize() alone would write 500 as 5E+2."""
    return format(Decimal(str(value or 0)).normalize(), "f")


def _shape(row: dict[str, Any]) -> dict[str, Any]:
    """Counts as ints, money as exact decimal strings, rates, quantiles over provider
    successes (cache hits have none of their own, see the module's docstring)."""
    out = {k: v for k, v in row.items() if k not in _METRICS}
    for name in _COUNTS:
        out[name] = int(row.get(name) or 0)
    out["cost_usd"] = usd(row.get("cost_usd"))
    out["saved_usd"] = usd(row.get("saved_usd"))
    if "hour" in out:
        out["hour"] = _bucket_iso(str(out["hour"]))
    calls = out["calls"]
    out["error_rate"] = round(out["errors"] / calls, 4) if calls else 0.0
    out["fallback_rate"] = round(out["fallbacks"] / calls, 4) if calls else 0.0
    requests = out["requests"]
    out["hit_rate"] = round(out["cache_hits"] / requests, 4) if requests else 0.0
    levels = row.get("latency") or []
    has_latency = out["successes"] > out["cache_hits"] and len(levels) == 3
    for label, value in zip(
        ("p50_ms", "p95_ms", "p99_ms"), levels if has_latency else [None] * 3, strict=True
    ):
        out[label] = round(float(value), 1) if value is not None else None
    return out


def _key(row: dict[str, Any], by: Sequence[str]) -> tuple[str, ...]:
    return tuple(str(row.get(d, "")) for d in by)


def summary(
    store: UsageStore, window: TimeRange, by: Sequence[str], source: Source = "rollup"
) -> list[dict[str, Any]]:
    """One row per combination of ``by`` (all rows in one when empty), in ``by`` order."""
    db = store.database
    rows = [_shape(r) for r in store.query(summary_sql(db, window, by, source))]
    if not by and rows and rows[0]["calls"] == rows[0]["requests"] == rows[0]["skipped"] == 0:
        rows = []  # no usage at all: an empty answer, not a row of zeros
    stopped = {
        _key(r, by): int(r["interrupted"]) for r in store.query(interrupted_sql(db, window, by))
    }
    for row in rows:
        row["interrupted"] = stopped.pop(_key(row, by), 0)
    for key, count in stopped.items():  # calls that started and never finished: nothing else
        empty = _shape(dict(zip(by, key, strict=True)))
        empty["interrupted"] = count
        rows.append(empty)
    rows.sort(key=lambda r: _key(r, by))
    return rows


def timeseries(
    store: UsageStore, window: TimeRange, step: Step, by: str | None, source: Source = "rollup"
) -> list[dict[str, Any]]:
    found = store.query(timeseries_sql(store.database, window, step, by, source))
    series = []
    for raw in found:
        row = _shape(raw)
        row["bucket"] = _bucket_iso(str(raw["bucket"]))
        series.append(row)
    return series


def _bucket_iso(text: str) -> str:
    """ClickHouse's 'YYYY-MM-DD hh:mm:ss' (UTC columns) as ISO 8601 with Z."""
    return text.replace(" ", "T") + ("Z" if " " in text else "T00:00:00Z")


MAX_SCORE_SAMPLE = 1_000_000

# One row per request: its first call's score (a started row and its completion, or a
# replayed call, carry the same classification), the most recent requests first.
_SCORES = """
SELECT complexity AS score, tier, route, count() AS requests
FROM (
    SELECT request_id, complexity, tier, route FROM {db}.usage
    WHERE attempt = 1 AND started_at >= '{since}' AND started_at < '{until}'
    ORDER BY started_at DESC
    LIMIT 1 BY request_id
    LIMIT {limit}
)
GROUP BY score, tier, route
ORDER BY score, tier, route
"""


def score_sample(store: UsageStore, window: TimeRange, limit: int) -> list[dict[str, Any]]:
    """The complexity scores of the ``limit`` most recent requests that reached a provider,
    as ``{score, tier, route, requests}`` per distinct combination (for calibration)."""
    if not 1 <= limit <= MAX_SCORE_SAMPLE:
        raise QueryError("limit", f"{limit} is not between 1 and {MAX_SCORE_SAMPLE}")
    since, until = window.sql()
    sql = _SCORES.format(db=store.database, since=since, until=until, limit=limit)
    return [
        {
            "score": float(r["score"]),
            "tier": str(r["tier"]),
            "route": str(r["route"]),
            "requests": int(r["requests"]),
        }
        for r in store.query(sql)
    ]
