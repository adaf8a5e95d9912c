"""``routeyard report``: its arguments, and the summary and router sections in each format."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from routeyard.cli import main
from routeyard.report import (
    METRICS,
    ReportArgumentError,
    parse_by,
    parse_time,
    render_report,
    report_window,
)
from store.queries import iso_z

NOW = datetime(2025, 3, 10, 12, 34, 56, 789000, tzinfo=UTC)


def _metrics(**given: Any) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(METRICS, 0)
    row.update(p50_ms=None, p95_ms=None, p99_ms=None, cost_usd="0")
    row.update(given)
    return row


SUMMARY = {
    "since": "2025-03-10T11:00:00Z",
    "until": "2025-03-10T12:00:00Z",
    "by": ["tenant", "model"],
    "source": "rollup",
    "rows": [
        {"tenant": "acme", "model": "gpt-4o-mini",
         **_metrics(requests=90, calls=100, successes=95, errors=5, fallbacks=2,
                    error_rate=0.05, fallback_rate=0.02, input_tokens=12000,
                    output_tokens=3400, cost_usd="0.000000123", p50_ms=101.25, p95_ms=250.0,
                    p99_ms=400.5)},
        {"tenant": "globex", "model": "claude-sonnet",
         **_metrics(requests=10, calls=10, successes=10, interrupted=1, error_rate=0.0,
                    fallback_rate=0.0, cost_usd="1.100000000", p50_ms=600.0, p95_ms=900.0,
                    p99_ms=950.0)},
    ],
}  # fmt: skip

ROUTER = {
    "since": "2025-03-10T11:00:00Z",
    "until": "2025-03-10T12:00:00Z",
    "tiers": [
        {"tier": "complex", "model": "claude-sonnet", "requests": 10, "share": 0.1},
        {"tier": "simple", "model": "gpt-4o-mini", "requests": 90, "share": 0.9},
    ],
    "routes": [
        {"route": "default", "model": "gpt-4o-mini", "requests": 90, "cost_usd": "0.057000000",
         "cost_if_strongest_usd": "1.242000000", "strongest_model": "claude-haiku"},
    ],
    "cost_usd": "0.057000000",
    "cost_if_strongest_usd": "1.242000000",
    "saved_usd": "1.185000000",
    "saved_share": 0.9541,
    "estimate": True,
}  # fmt: skip


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-03-01", datetime(2025, 3, 1, tzinfo=UTC)),
        ("2025-03-01T09:30", datetime(2025, 3, 1, 9, 30, tzinfo=UTC)),
        ("2025-03-01T09:30:00Z", datetime(2025, 3, 1, 9, 30, tzinfo=UTC)),
        ("2025-03-01T11:30:00+02:00", datetime(2025, 3, 1, 9, 30, tzinfo=UTC)),
        ("now", NOW),
        ("90m", NOW - timedelta(minutes=90)),
        ("1h", NOW - timedelta(hours=1)),
        ("7d", NOW - timedelta(days=7)),
        ("2w", NOW - timedelta(days=14)),
        ("30s", NOW - timedelta(seconds=30)),
    ],
)
def test_times_are_iso_or_an_age(text: str, expected: datetime) -> None:
    assert parse_time(text, NOW) == expected


@pytest.mark.parametrize("text", ["yesterday", "1y", "-1h", "2025-13-01", ""])
def test_unreadable_times_say_what_is_accepted(text: str) -> None:
    with pytest.raises(ReportArgumentError, match="ISO 8601"):
        parse_time(text, NOW)


def test_by_is_a_comma_list_of_known_dimensions() -> None:
    assert parse_by("tenant, day,tenant,model") == ["tenant", "day", "model"]
    with pytest.raises(ReportArgumentError, match="unknown dimension 'colour'"):
        parse_by("model,colour")
    with pytest.raises(ReportArgumentError, match="no dimension"):
        parse_by(" , ")


def test_the_window_defaults_to_the_last_hour_with_the_current_minute() -> None:
    since, until = report_window(None, None, NOW)
    assert until == datetime(2025, 3, 10, 12, 35, tzinfo=UTC)
    assert since == datetime(2025, 3, 10, 11, 35, tzinfo=UTC)
    given = datetime(2025, 3, 1, tzinfo=UTC)
    assert report_window(given, None, NOW)[0] == given
    assert report_window(None, given, NOW) == (given - timedelta(hours=1), given)
    with pytest.raises(ReportArgumentError, match=r"--until \(2025-03-01T00:00:00Z\) must be"):
        report_window(given, given, NOW)
    assert iso_z(NOW) == "2025-03-10T12:34:56Z"


def test_summary_table_puts_the_dimensions_first_and_keeps_money_exact() -> None:
    text = render_report(SUMMARY, None, "table")
    lines = text.splitlines()
    assert lines[0] == "usage 2025-03-10T11:00:00Z .. 2025-03-10T12:00:00Z by tenant, model" + (
        " (from the rollup)"
    )
    header = lines[1].split()
    assert header[:4] == ["tenant", "model", "requests", "calls"]
    acme = lines[2].split()
    assert acme[:4] == ["acme", "gpt-4o-mini", "90", "100"]
    # A nano-dollar amount shows all its digits; a round one shows six.
    assert "0.000000123" in acme and "5.0" in acme and "101.2" in acme
    globex = lines[3].split()
    assert "1.100000" in globex and globex.count("-") == 0
    assert lines[-1] == (
        "total cost: $1.100000123 over 100 requests, 110 calls, 1 interrupted (cost unknown)"
    )


def test_summary_without_rows_says_so() -> None:
    empty = {**SUMMARY, "rows": []}
    assert render_report(empty, None, "table").endswith("no usage recorded in this range")


def test_summary_csv_has_every_metric_with_exact_values() -> None:
    rows = list(csv.DictReader(io.StringIO(render_report(SUMMARY, None, "csv"))))
    assert list(rows[0])[:3] == ["tenant", "model", "requests"]
    assert list(rows[0])[2:] == list(METRICS)
    assert rows[0]["cost_usd"] == "0.000000123"
    assert rows[1]["cost_usd"] == "1.100000000"
    assert sum(Decimal(r["cost_usd"]) for r in rows) == Decimal("1.100000123")
    assert rows[0]["p50_ms"] == "101.25"
    # Quantiles of a group without successes are empty, not 0.
    no_ok = {**SUMMARY, "rows": [{"tenant": "t", "model": "m", **_metrics()}]}
    [row] = csv.DictReader(io.StringIO(render_report(no_ok, None, "csv")))
    assert row["p95_ms"] == ""


def test_json_holds_the_api_documents_as_they_came() -> None:
    doc = json.loads(render_report(SUMMARY, ROUTER, "json"))
    assert doc == {"summary": SUMMARY, "router": ROUTER}
    assert json.loads(render_report(None, ROUTER, "json")) == {"router": ROUTER}


def test_router_table_shows_the_mix_and_the_saving_as_an_estimate() -> None:
    text = render_report(None, {**ROUTER, "unpriced": [
        {"route": "gone", "model": "m", "requests": 3, "cost_usd": "0.5",
         "reason": "route 'gone' is not in the config"}
    ], "warnings": ["model 'x' is not one of route 'default''s models"]}, "table")  # fmt: skip
    lines = text.splitlines()
    assert lines[0] == "router 2025-03-10T11:00:00Z .. 2025-03-10T12:00:00Z"
    tiers = lines[lines.index("requests by tier and model:") + 2].split()
    assert tiers == ["complex", "claude-sonnet", "10", "10.0"]
    route = next(line for line in lines if line.strip().startswith("default")).split()
    # The saving per row is derived when the API gives only the two costs.
    assert route == [
        "default", "gpt-4o-mini", "90", "0.057000", "1.242000", "1.185000", "claude-haiku"
    ]  # fmt: skip
    summary = next(line for line in lines if line.startswith("routing saved"))
    assert "$1.185000 (95.4%) of $1.242000; paid $0.057000" in summary
    assert "estimate" in summary
    assert "not priced: gone/m, 3 requests, $0.500000: route 'gone' is not in the config" in lines
    assert lines[-1].startswith("note: model 'x'")


def test_router_csv_is_two_tables() -> None:
    tiers, routes = render_report(None, ROUTER, "csv").split("\n\n")
    assert next(iter(csv.reader(io.StringIO(tiers)))) == ["tier", "model", "requests", "share"]
    [row] = csv.DictReader(io.StringIO(routes))
    assert row["saved_usd"] == "1.185000000"
    assert row["strongest_model"] == "claude-haiku"


def test_both_sections_in_csv_are_separated_by_an_empty_line() -> None:
    blocks = render_report(SUMMARY, ROUTER, "csv").split("\n\n")
    assert [b.splitlines()[0].split(",")[0] for b in blocks] == ["tenant", "tier", "route"]


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--by", "model,colour"], "argument --by: unknown dimension 'colour'"),
        (["--since", "last tuesday"], "argument --since: not a time: 'last tuesday'"),
        (["--until", "2025-02-30"], "argument --until: not a time"),
        (["--format", "xml"], "argument --format: invalid choice: 'xml'"),
        (["--source", "cache"], "argument --source: invalid choice: 'cache'"),
        (["--since", "1h", "--until", "2h"], "--until ("),
    ],
)
def test_bad_flags_exit_2_naming_the_flag(
    flags: list[str], named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # The flags are checked before the config is read: the file need not exist.
    try:
        code = main(["report", "--config", "/nonexistent/gw.yaml", *flags])
    except SystemExit as stop:
        code = int(stop.code or 0)
    assert code == 2
    assert named in capsys.readouterr().err
