"""``routeyard report``: its flags and the summary and router sections fetched from the
analytics API. The API's parameters are the command's flags, by the same names.
"""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import Any

from routeyard.cli_common import UsageError, gateway_config


def _report_time(text: str) -> datetime:
    from routeyard.report import ReportArgumentError, parse_time
    from schemas.base import utcnow

    try:
        return parse_time(text, utcnow())
    except ReportArgumentError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _report_by(text: str) -> list[str]:
    from routeyard.report import ReportArgumentError, parse_by

    try:
        return parse_by(text)
    except ReportArgumentError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def cmd_report(args: argparse.Namespace) -> int:
    from routeyard.report import ReportArgumentError, render_report, report_window
    from schemas.base import utcnow
    from store.queries import iso_z

    try:
        since, until = report_window(args.since, args.until, utcnow())
    except ReportArgumentError as exc:
        raise UsageError(str(exc)) from exc
    from routeyard.analytics_client import AnalyticsUnreachable, fetch_json
    from store.queries import QueryError

    config = gateway_config(args.config)
    window = {"since": iso_z(since), "until": iso_z(until)}
    params = {**window, "by": ",".join(args.by), "source": args.source}
    summary = router = cache = None
    try:
        if args.section in ("all", "summary"):
            summary = fetch_json(config, "/api/summary", params)
        if args.section in ("all", "router"):
            router = fetch_json(config, "/api/router", window)
        if args.section in ("all", "cache"):
            cache = fetch_json(config, "/api/cache", {**window, "source": args.source})
    except QueryError as exc:
        # The API's parameters are the command's flags, by the same names.
        raise UsageError(f"--{exc}" if exc.param in params else str(exc)) from exc
    except AnalyticsUnreachable as exc:
        raise UsageError(str(exc)) from exc
    print(render_report(summary, router, args.format, cache))
    return 0


def add_report_parser(sub: Any) -> None:
    p = sub.add_parser(
        "report",
        help="requests, errors, latency, tokens and cost by dimension; routing's and the"
        " cache's saving",
    )
    p.add_argument("--config", required=True)
    ages = "ISO 8601 (UTC unless an offset is given), now, or an age such as 90m, 1h, 7d"
    p.add_argument("--since", type=_report_time, help=f"{ages}; default: an hour before --until")
    p.add_argument(
        "--until", type=_report_time, help=f"{ages}; default: now (the current minute included)"
    )
    p.add_argument(
        "--by",
        type=_report_by,
        default="model",
        help="comma list of model, provider, tenant, route, task_type, tier, cache, hour, day"
        " (default model)",
    )
    p.add_argument("--format", choices=["table", "csv", "json"], default="table")
    p.add_argument(
        "--source",
        choices=["rollup", "raw"],
        default="rollup",
        help="rollup: the per-minute aggregates (fast over long ranges); raw: the usage rows",
    )
    p.add_argument(
        "--section",
        choices=["all", "summary", "router", "cache"],
        default="all",
        help="router: tier mix and the estimated saving against each route's strongest model;"
        " cache: hits, hit rate and saving by route and by kind",
    )
    p.set_defaults(func=cmd_report)
