"""``routeyard report``'s cache section: rendered from a document, and end to end from a
real embedded store through the command (no analytics process: it opens the folder)."""

from __future__ import annotations

import csv
import io
import json
import socket
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from routeyard.cli import main
from routeyard.report import render_report
from schemas.cache import CacheHitKind
from schemas.events import UsageEvent, UsageOutcome
from store import UsageStore
from store.backends import EmbeddedBackend
from tests.paths import EXAMPLE_CONFIG

CACHE = {
    "since": "2025-03-10T11:00:00Z",
    "until": "2025-03-10T12:00:00Z",
    "source": "rollup",
    "total": {"requests": 40, "cache_hits": 10, "hit_rate": 0.25, "saved_usd": "0.0125"},
    "routes": [
        {"route": "code", "requests": 30, "cache_hits": 4, "hit_rate": 0.1333,
         "saved_usd": "0.000000005"},
        {"route": "faq", "requests": 10, "cache_hits": 6, "hit_rate": 0.6, "saved_usd": "0.0125"},
    ],
    "kinds": [
        {"cache": "exact", "cache_hits": 7, "hit_rate": 0.175, "saved_usd": "0.01"},
        {"cache": "semantic", "cache_hits": 2, "hit_rate": 0.05, "saved_usd": "0.0025"},
        {"cache": "coalesced", "cache_hits": 1, "hit_rate": 0.025, "saved_usd": "0"},
    ],
}  # fmt: skip


def _row(lines: list[str], first: str) -> list[str]:
    return next(line for line in lines if line.split() and line.split()[0] == first).split()


def test_the_table_shows_hits_rate_and_saving_by_route_and_kind() -> None:
    lines = render_report(None, None, "table", CACHE).splitlines()
    assert lines[0] == "cache 2025-03-10T11:00:00Z .. 2025-03-10T12:00:00Z"
    assert lines[lines.index("by route:") + 1].split() == [
        "route", "requests", "hits", "hit%", "saved", "$"
    ]  # fmt: skip
    assert _row(lines, "faq") == ["faq", "10", "6", "60.0", "0.012500"]
    assert _row(lines, "code") == ["code", "30", "4", "13.3", "0.000000005"]  # exact money
    assert lines[lines.index("by kind:") + 1].split() == ["kind", "hits", "hit%", "saved", "$"]
    assert _row(lines, "semantic") == ["semantic", "2", "5.0", "0.002500"]
    assert lines[-1] == (
        "cache answered 10 of 40 requests (25.0%) at no cost; those answers had cost"
        " $0.012500 when first made."
    )


def test_csv_is_two_tables_with_exact_values_and_json_keeps_the_document() -> None:
    routes, kinds = render_report(None, None, "csv", CACHE).split("\n\n")
    assert [r["saved_usd"] for r in csv.DictReader(io.StringIO(routes))] == [
        "0.000000005",
        "0.0125",
    ]
    assert [r["cache"] for r in csv.DictReader(io.StringIO(kinds))] == [
        "exact",
        "semantic",
        "coalesced",
    ]
    assert json.loads(render_report(None, None, "json", CACHE)) == {"cache": CACHE}


def test_no_requests_says_so() -> None:
    empty = {**CACHE, "total": {"requests": 0, "cache_hits": 0, "hit_rate": 0.0}, "routes": []}
    assert render_report(None, None, "table", empty).endswith("no requests in this range")


# --- end to end: rows in a real embedded store, read by `routeyard report` ----------------

NOW = datetime.now(UTC).replace(second=0, microsecond=0)
PRICE = Decimal("0.000300")


def _event(
    request: str, route: str, outcome: UsageOutcome, kind: CacheHitKind | None = None
) -> UsageEvent:
    hit = outcome == "cache_hit"
    return UsageEvent(
        request_id=request,
        attempt=0 if hit else 1,
        call_id=f"{request}:cache" if hit else f"{request}:1",
        tenant="acme",
        route=route,
        model="small",
        provider="emu",
        upstream_model="small",
        outcome=outcome,
        cost_usd=Decimal(0) if hit else PRICE,
        latency_ms=1.0 if hit else 250.0,
        started_at=NOW - timedelta(minutes=10),
        cache=kind,
        cache_origin=f"{route}-0" if hit else "",
        saved_usd=PRICE if hit else Decimal(0),
    )


@pytest.fixture
def config_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The example config on a store in tmp_path, its analytics address one nobody holds,
    so the command reads the embedded folder itself."""
    monkeypatch.delenv("CLICKHOUSE_URL", raising=False)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    data = yaml.safe_load(EXAMPLE_CONFIG.read_text())
    data["store"]["path"] = str(tmp_path / "chdb")
    data["analytics"]["listen"] = f"127.0.0.1:{port}"
    path = tmp_path / "routeyard.yaml"
    path.write_text(yaml.safe_dump(data))
    store = UsageStore(EmbeddedBackend(tmp_path / "chdb"), data["store"]["database"])
    try:
        store.ensure_schema()
        events = [_event(f"faq-{i}", "faq", "success") for i in range(2)]
        events += [_event(f"faq-hit-{i}", "faq", "cache_hit", "exact") for i in range(5)]
        events += [_event("faq-sem", "faq", "cache_hit", "semantic")]
        events += [_event(f"code-{i}", "code", "success") for i in range(3)]
        events += [_event("code-co", "code", "cache_hit", "coalesced")]
        store.insert(events)
    finally:
        store.backend.close()  # one process per folder: the command opens it next
    return path


def test_the_report_prints_the_stores_cache_figures(
    config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["report", "--config", str(config_path), "--section", "cache", "--since", "1h"])
    assert code == 0
    lines = capsys.readouterr().out.splitlines()
    # faq: 2 calls + 6 hits; code: 3 calls + 1 hit; each hit saved one call's price.
    assert _row(lines, "faq") == ["faq", "8", "6", "75.0", "0.001800"]
    assert _row(lines, "code") == ["code", "4", "1", "25.0", "0.000300"]
    assert _row(lines, "exact") == ["exact", "5", "41.7", "0.001500"]
    assert _row(lines, "semantic") == ["semantic", "1", "8.3", "0.000300"]
    assert _row(lines, "coalesced") == ["coalesced", "1", "8.3", "0.000300"]
    assert lines[-1].startswith("cache answered 7 of 12 requests (58.3%) at no cost;")
    assert "$0.002100 when first made" in lines[-1]


def test_the_summary_counts_hits_as_requests_not_calls(
    config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flags = ["--section", "summary", "--by", "route", "--format", "json", "--since", "1h"]
    assert main(["report", "--config", str(config_path), *flags]) == 0
    rows = {r["route"]: r for r in json.loads(capsys.readouterr().out)["summary"]["rows"]}
    faq = rows["faq"]
    assert (faq["requests"], faq["calls"], faq["successes"], faq["cache_hits"]) == (8, 2, 8, 6)
    assert (faq["hit_rate"], faq["saved_usd"], faq["cost_usd"]) == (0.75, "0.0018", "0.0006")
    assert faq["p50_ms"] == 250.0  # the hits' 1 ms are not the provider's latency
