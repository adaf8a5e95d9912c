"""``routeyard report``: usage summaries, the router and cache sections, as table, CSV or JSON.

The figures come from the analytics query API's documents (``/api/summary``,
``/api/router`` and ``/api/cache``, docs/design/analytics.md); this module only checks the
command's arguments and renders. Money stays a decimal string or :class:`Decimal` throughout.

"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from store.queries import (
    DEFAULT_SPAN,
    DIMENSIONS,
    QueryError,
    end_of_this_minute,
    iso_z,
    parse_instant,
)

Format = Literal["table", "csv", "json"]

METRICS = (
    "requests",
    "calls",
    "successes",
    "errors",
    "interrupted",
    "rejected",
    "skipped",
    "fallbacks",
    "error_rate",
    "fallback_rate",
    "input_tokens",
    "output_tokens",
    "cached_input_tokens",
    "cost_usd",
    "p50_ms",
    "p95_ms",
    "p99_ms",
)
# The table's headings; CSV and JSON keep the API's names.
_TITLES = {
    "successes": "ok",
    "interrupted": "interr",
    "fallbacks": "fallbk",
    "error_rate": "err%",
    "fallback_rate": "fallbk%",
    "input_tokens": "in tok",
    "output_tokens": "out tok",
    "cached_input_tokens": "cached tok",
    "cost_usd": "cost $",
    "p50_ms": "p50 ms",
    "p95_ms": "p95 ms",
    "p99_ms": "p99 ms",
    "task_type": "task type",
    "cost_if_strongest_usd": "if strongest $",
    "strongest_model": "strongest",
    "saved_usd": "saved $",
    "share": "share%",
}
_RATES = frozenset({"error_rate", "fallback_rate", "share", "hit_rate"})
_MONEY = frozenset({"cost_usd", "cost_if_strongest_usd", "saved_usd"})
_TEXT = frozenset({*DIMENSIONS, "strongest_model"})


class ReportArgumentError(ValueError):
    """A report argument that cannot be used; the message names the flag."""


def parse_time(text: str, now: datetime) -> datetime:
    """ISO 8601 (no offset means UTC), ``now``, or an age before ``now``: ``90m``, ``1h``,
    ``7d``, ``2w`` (the API's grammar, :func:`store.queries.parse_instant`)."""
    try:
        return parse_instant("time", text, now, naive_is_utc=True)
    except QueryError as exc:
        raise ReportArgumentError(
            f"not a time: {text!r}; give ISO 8601 (2025-01-31, 2025-01-31T09:30Z), now,"
            " or an age such as 90m, 1h, 7d, 2w"
        ) from exc


def parse_by(text: str) -> list[str]:
    """A comma list of dimensions, each once, in the order given."""
    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names:
        raise ReportArgumentError(f"no dimension given; choose from {', '.join(DIMENSIONS)}")
    unknown = [n for n in names if n not in DIMENSIONS]
    if unknown:
        raise ReportArgumentError(
            f"unknown dimension {', '.join(map(repr, unknown))};"
            f" choose from {', '.join(DIMENSIONS)}"
        )
    return list(dict.fromkeys(names))


def report_window(
    since: datetime | None, until: datetime | None, now: datetime
) -> tuple[datetime, datetime]:
    """The range to report: ``until`` defaults to the end of the current minute (the API
    floors to whole minutes, so "now" keeps the minute in progress), ``since`` to an hour
    before ``until``."""
    if until is None:
        until = end_of_this_minute(now)
    if since is None:
        since = until - DEFAULT_SPAN
    if until <= since:
        raise ReportArgumentError(
            f"--until ({iso_z(until)}) must be after --since ({iso_z(since)})"
        )
    return since, until


def _decimal(value: Any) -> Decimal:
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return Decimal(0)


def money(value: Any) -> str:
    """At least six decimals, more when the amount has them: exact, yet readable."""
    amount = _decimal(value)
    if amount == amount.quantize(Decimal("0.000001")):
        return f"{amount:.6f}"
    return f"{amount.normalize():f}"


def _cell(key: str, value: Any) -> str:
    if value is None:
        return "-"
    if key in _MONEY:
        return money(value)
    if key in _RATES:
        return f"{float(value) * 100:.1f}"
    if key.endswith("_ms"):
        return f"{float(value):.1f}"
    return str(value)


def text_table(
    rows: Sequence[Mapping[str, Any]],
    keys: Sequence[str],
    titles: Mapping[str, str] | None = None,
) -> list[str]:
    """Aligned columns, text left and numbers right; ``titles`` override the headings."""
    names = {**_TITLES, **(titles or {})}
    cells = [[names.get(k, k) for k in keys]]
    cells += [[_cell(k, row.get(k)) for k in keys] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(keys))]
    out = []
    for line in cells:
        padded = [
            f"{c:<{w}}" if k in _TEXT else f"{c:>{w}}"
            for c, k, w in zip(line, keys, widths, strict=True)
        ]
        out.append("  ".join(padded).rstrip())
    return out


def csv_table(rows: Sequence[Mapping[str, Any]], keys: Sequence[str]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(keys)
    for row in rows:
        writer.writerow(["" if row.get(k) is None else str(row.get(k)) for k in keys])
    return buffer.getvalue()


def _dims(summary: Mapping[str, Any]) -> list[str]:
    by = summary.get("by") or ["model"]
    return parse_by(by) if isinstance(by, str) else [str(d) for d in by]


def summary_table(summary: Mapping[str, Any]) -> str:
    rows, dims = summary.get("rows") or [], _dims(summary)
    head = (
        f"usage {summary.get('since')} .. {summary.get('until')} by {', '.join(dims)}"
        f" (from the {summary.get('source', 'rollup')})"
    )
    if not rows:
        return f"{head}\nno usage recorded in this range"
    lines = [head, *text_table(rows, [*dims, *METRICS])]
    cost = sum((_decimal(r.get("cost_usd", 0)) for r in rows), Decimal(0))
    requests = sum(int(r.get("requests") or 0) for r in rows)
    calls = sum(int(r.get("calls") or 0) for r in rows)
    total = f"total cost: ${money(cost)} over {requests} requests, {calls} calls"
    interrupted = sum(int(r.get("interrupted") or 0) for r in rows)
    if interrupted:
        # Those calls were made but their result, and so their cost, is unknown.
        total += f", {interrupted} interrupted (cost unknown)"
    lines.append(total)
    return "\n".join(lines)


def summary_csv(summary: Mapping[str, Any]) -> str:
    return csv_table(summary.get("rows") or [], [*_dims(summary), *METRICS])


_TIER_KEYS = ("tier", "model", "requests", "share")
_ROUTE_KEYS = (
    "route",
    "model",
    "requests",
    "cost_usd",
    "cost_if_strongest_usd",
    "saved_usd",
    "strongest_model",
)


def _route_rows(router: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The routes with each row's saving (computed here when the API left it out)."""
    rows = []
    for r in router.get("routes") or []:
        saved = r.get("saved_usd")
        if saved is None:
            saved = _decimal(r.get("cost_if_strongest_usd")) - _decimal(r.get("cost_usd"))
        rows.append({**r, "saved_usd": saved})
    return rows


def router_table(router: Mapping[str, Any]) -> str:
    head = f"router {router.get('since')} .. {router.get('until')}"
    tiers, routes = router.get("tiers") or [], _route_rows(router)
    if not tiers and not routes:
        return f"{head}\nno routed requests in this range"
    lines = [head, "requests by tier and model:"]
    lines += ["  " + line for line in text_table(tiers, _TIER_KEYS)]
    lines.append("cost against sending each call to its route's strongest model:")
    lines += ["  " + line for line in text_table(routes, _ROUTE_KEYS)]
    share = router.get("saved_share")
    share_text = "-" if share is None else f"{float(share) * 100:.1f}%"
    lines.append(
        f"routing saved ${money(router.get('saved_usd'))} ({share_text}) of"
        f" ${money(router.get('cost_if_strongest_usd'))}; paid ${money(router.get('cost_usd'))}."
        " An estimate: the strongest model is priced on the same token counts."
    )
    for u in router.get("unpriced") or []:
        lines.append(
            f"not priced: {u.get('route')}/{u.get('model')}, {u.get('requests')} requests,"
            f" ${money(u.get('cost_usd'))}: {u.get('reason')}"
        )
    lines += [f"note: {w}" for w in router.get("warnings") or []]
    return "\n".join(lines)


def router_csv(router: Mapping[str, Any]) -> str:
    """Two CSV tables, tiers then routes, separated by an empty line."""
    return (
        csv_table(router.get("tiers") or [], _TIER_KEYS)
        + "\n"
        + csv_table(_route_rows(router), _ROUTE_KEYS)
    )


def render_report(
    summary: Mapping[str, Any] | None,
    router: Mapping[str, Any] | None,
    fmt: Format,
    cache: Mapping[str, Any] | None = None,
) -> str:
    """The sections that were asked for (None: left out), in one format."""
    # Imported here: the cache section renders with this module's tables.
    from routeyard.report_cache import cache_csv, cache_table

    if fmt == "json":
        sections = (("summary", summary), ("router", router), ("cache", cache))
        doc = {k: v for k, v in sections if v is not None}
        return json.dumps(doc, indent=2, default=str)
    parts = []
    if summary is not None:
        parts.append(summary_csv(summary) if fmt == "csv" else summary_table(summary))
    if router is not None:
        parts.append(router_csv(router) if fmt == "csv" else router_table(router))
    if cache is not None:
        parts.append(cache_csv(cache) if fmt == "csv" else cache_table(cache))
    # CSV tables end in a newline already: one more leaves the empty line between tables.
    return ("\n" if fmt == "csv" else "\n\n").join(parts).rstrip("\n")
