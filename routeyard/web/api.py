"""The query API's answers, independent of how they are asked for.

:func:`answer` turns an endpoint and its query parameters into a JSON-ready dict, using a
store it is handed. The analytics process's server calls it on the store's own thread;
``routeyard report`` calls it directly when it reaches the store itself (a ClickHouse
server, or the embedded folder when no process holds it). Bad parameters raise
:class:`~store.queries.QueryError` naming the parameter.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, cast

from policy.savings import router_savings, tier_mix
from schemas.base import utcnow
from schemas.config import GatewayConfig
from store.cache_stats import cache_summary
from store.queries import (
    DEFAULT_SPAN,
    DIMENSIONS,
    SOURCES,
    STEPS,
    QueryError,
    Source,
    Step,
    TimeRange,
    end_of_this_minute,
    parse_instant,
    score_sample,
    summary,
    timeseries,
)
from store.usage import UsageStore

ENDPOINTS = (
    "/api/summary",
    "/api/timeseries",
    "/api/router",
    "/api/cache",
    "/api/scores",
    "/api/status",
)


def _window(params: Mapping[str, str], now: datetime) -> TimeRange:
    given = params.get("until")
    until = parse_instant("until", given, now) if given else end_of_this_minute(now)
    since = parse_instant("since", params["since"], now) if params.get("since") else None
    return TimeRange.of(since if since is not None else until - DEFAULT_SPAN, until)


def _choice(params: Mapping[str, str], name: str, known: tuple[str, ...], default: str) -> str:
    value = params.get(name) or default
    if value not in known:
        raise QueryError(name, f"unknown {value!r} (known: {', '.join(known)})")
    return value


def _by(params: Mapping[str, str], default: str) -> list[str]:
    text = params.get("by", default)
    return [d.strip() for d in text.split(",") if d.strip()]


def _summary(store: UsageStore, config: GatewayConfig, params: Mapping[str, str]) -> dict[str, Any]:
    window = _window(params, utcnow())
    by = _by(params, "model")
    source = cast(Source, _choice(params, "source", SOURCES, "rollup"))
    rows = summary(store, window, by, source)
    return {**window.as_json(), "by": by, "source": source, "rows": rows}


def _timeseries(
    store: UsageStore, config: GatewayConfig, params: Mapping[str, str]
) -> dict[str, Any]:
    window = _window(params, utcnow())
    step = cast(Step, _choice(params, "step", STEPS, "minute"))
    by = params.get("by") or None
    source = cast(Source, _choice(params, "source", SOURCES, "rollup"))
    series = timeseries(store, window, step, by, source)
    return {**window.as_json(), "step": step, "by": by, "source": source, "series": series}


def _router(store: UsageStore, config: GatewayConfig, params: Mapping[str, str]) -> dict[str, Any]:
    window = _window(params, utcnow())
    source = cast(Source, _choice(params, "source", SOURCES, "rollup"))
    tiers = [r for r in summary(store, window, ["tier", "model"], source) if r["requests"]]
    routes = [r for r in summary(store, window, ["route", "model"], source) if r["calls"]]
    return {
        **window.as_json(),
        "source": source,
        "tiers": tier_mix(tiers),
        **router_savings(config, routes),
    }


def _cache(store: UsageStore, config: GatewayConfig, params: Mapping[str, str]) -> dict[str, Any]:
    window = _window(params, utcnow())
    source = cast(Source, _choice(params, "source", SOURCES, "rollup"))
    return {**window.as_json(), "source": source, **cache_summary(store, window, source)}


_DEFAULT_SCORE_SAMPLE = 100_000


def _scores(store: UsageStore, config: GatewayConfig, params: Mapping[str, str]) -> dict[str, Any]:
    window = _window(params, utcnow())
    text = params.get("limit") or str(_DEFAULT_SCORE_SAMPLE)
    try:
        limit = int(text)
    except ValueError as exc:
        raise QueryError("limit", f"{text!r} is not a whole number") from exc
    rows = score_sample(store, window, limit)
    total = sum(r["requests"] for r in rows)
    return {**window.as_json(), "limit": limit, "requests": total, "scores": rows}


def _status(store: UsageStore, config: GatewayConfig, params: Mapping[str, str]) -> dict[str, Any]:
    db = store.database
    migrations = store.query(
        f"SELECT version, name, applied_at FROM {db}.schema_migrations ORDER BY version"
    )
    [rows] = store.query(f"SELECT count() AS n FROM {db}.usage")
    return {"store": store.backend.description, "migrations": migrations, "rows": int(rows["n"])}


_HANDLERS: dict[str, Callable[[UsageStore, GatewayConfig, Mapping[str, str]], dict[str, Any]]] = {
    "/api/summary": _summary,
    "/api/timeseries": _timeseries,
    "/api/router": _router,
    "/api/cache": _cache,
    "/api/scores": _scores,
    "/api/status": _status,
}


def answer(
    endpoint: str, params: Mapping[str, str], store: UsageStore, config: GatewayConfig
) -> dict[str, Any]:
    handler = _HANDLERS.get(endpoint)
    if handler is None:
        raise QueryError("endpoint", f"unknown {endpoint!r} (known: {', '.join(ENDPOINTS)})")
    return handler(store, config, params)


__all__ = ["DIMENSIONS", "ENDPOINTS", "QueryError", "answer"]
