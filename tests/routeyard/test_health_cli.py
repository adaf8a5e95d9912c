"""``routeyard health``: rows from the health topic's records, and how they are printed."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from typing import Any

import orjson

from routeyard.health import format_health, health_json, health_rows
from schemas.config import GatewayConfig
from schemas.health import HealthRecord
from tests.paths import EXAMPLE_CONFIG

NOW = datetime(2026, 3, 31, 12, 0, 0, tzinfo=UTC)
T = NOW.timestamp()


def _config() -> GatewayConfig:
    model = {"input_per_mtok": "1", "output_per_mtok": "1", "context_window": 100_000}
    return GatewayConfig.model_validate(
        {
            "providers": {
                "a": {"format": "openai", "base_url": "http://127.0.0.1:1/v1"},
                "b": {"format": "anthropic", "base_url": "http://127.0.0.1:2"},
            },
            "models": {
                "fast": {"provider": "a", "upstream": "m1", **model},
                "fast-alias": {"provider": "a", "upstream": "m1", **model},
                "claude": {"provider": "b", "upstream": "c1", **model},
            },
            "routes": [{"name": "default", "primary": "fast", "fallbacks": ["claude"]}],
        }
    )


def _record(deployment: str, state: str, since: float, **fields: Any) -> HealthRecord:
    data: dict[str, Any] = {
        "deployment": deployment,
        "state": state,
        "since": since,
        "cooldown_s": 10,
        "error_rate": 0.0,
        "calls_in_window": 0,
        "written_by": "host:1:abc",
    }
    data.update(fields)
    return HealthRecord.model_validate(data)


def test_rows_cover_configured_deployments_and_recorded_ones() -> None:
    records = [
        _record("a/m1", "open", T - 4, error_rate=0.6, calls_in_window=0),
        _record("gone/old", "closed", T - 600, latency_ewma_ms=90.0),
    ]
    rows = health_rows(_config(), records, NOW)
    assert [(r.deployment, r.models, r.state) for r in rows] == [
        ("a/m1", ["fast", "fast-alias"], "open"),
        ("b/c1", ["claude"], "closed"),  # no record: never changed state
        ("gone/old", [], "closed"),  # a record of a deployment the config dropped
    ]
    assert rows[0].since == datetime.fromtimestamp(T - 4, UTC)
    assert rows[1].since is None and rows[1].error_rate is None


def test_an_opening_past_its_cooldown_shows_half_open_from_its_end() -> None:
    (row, _) = health_rows(_config(), [_record("a/m1", "open", T - 25, cooldown_s=20)], NOW)
    assert row.state == "half_open"
    assert row.since == datetime.fromtimestamp(T - 5, UTC)


def test_table_aligns_columns_and_counts_breakers_not_closed() -> None:
    records = [
        _record("a/m1", "open", T - 4, error_rate=0.625, calls_in_window=16),
        _record(
            "b/c1", "closed", T - 60, error_rate=0.05, calls_in_window=40, latency_ewma_ms=812.4
        ),
    ]
    lines = format_health(health_rows(_config(), records, NOW), NOW).splitlines()
    assert lines[0].split() == [
        "deployment",
        "models",
        "state",
        "error%",
        "calls",
        "latency",
        "ms",
        "cooldown",
        "s",
        "since",
        "(UTC)",
        "by",
    ]
    assert lines[1].split() == [
        "a/m1",
        "fast,fast-alias",
        "open",
        "62.5",
        "16",
        "-",
        "10",
        "2026-03-31",
        "11:59:56",
        "host:1:abc",
    ]
    assert lines[2].split() == [
        "b/c1",
        "claude",
        "closed",
        "5.0",
        "40",
        "812",
        "-",
        "2026-03-31",
        "11:59:00",
        "host:1:abc",
    ]
    assert len(lines[1]) == len(lines[2])
    assert lines[3].startswith("as of 2026-03-31 12:00:00 UTC;")
    assert lines[3].endswith("; 1 not closed")


def test_json_rows() -> None:
    rows = health_rows(_config(), [_record("a/m1", "closed", T, latency_ewma_ms=120.5)], NOW)
    data = orjson.loads(health_json(rows))
    assert data[0] == {
        "deployment": "a/m1",
        "models": ["fast", "fast-alias"],
        "state": "closed",
        "since": "2026-03-31T12:00:00Z",
        "cooldown_s": 10.0,
        "error_rate": 0.0,
        "calls_in_window": 0,
        "latency_ewma_ms": 120.5,
        "written_by": "host:1:abc",
    }
    assert data[1]["deployment"] == "b/c1" and data[1]["since"] is None


def test_command_names_the_broker_and_topic_it_cannot_reach() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "routeyard.cli",
            "health",
            "--config",
            str(EXAMPLE_CONFIG),
            "--bootstrap",
            "127.0.0.1:1",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert "127.0.0.1:1" in result.stderr and "llm.health" in result.stderr
    assert "Traceback" not in result.stderr
