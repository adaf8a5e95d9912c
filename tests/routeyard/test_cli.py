"""The routeyard command as users run it: exit codes and messages."""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import orjson
import yaml

from devtools.stack import fake_credentials, free_port
from schemas.events import UsageEvent
from store import UsageStore, open_backend
from tests.paths import EXAMPLE_CONFIG


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "routeyard.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )


def test_worker_refuses_an_invalid_config_naming_the_field(tmp_path: Path) -> None:
    data = yaml.safe_load(EXAMPLE_CONFIG.read_text())
    data["routes"][0]["primary"] = "gpt-9"
    data["dispatch"]["max_in_flight"] = 0
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data))
    result = _run("worker", "--config", str(bad))
    assert result.returncode == 2
    assert str(bad) in result.stderr
    assert "dispatch.max_in_flight" in result.stderr
    assert "Traceback" not in result.stderr


def test_worker_names_the_missing_key_variable() -> None:
    result = _run("worker", "--config", str(EXAMPLE_CONFIG), env={"PATH": "/usr/bin:/bin"})
    assert result.returncode == 2
    assert "OPENAI_API_KEY" in result.stderr and "ANTHROPIC_API_KEY" in result.stderr


def test_worker_stops_on_a_scorer_it_cannot_load_before_touching_kafka(tmp_path: Path) -> None:
    config = tmp_path / "gw.yaml"
    absent = tmp_path / "absent"
    config.write_text(EXAMPLE_CONFIG.read_text() + f"\nrouter: {{model_dir: '{absent}'}}\n")
    env = {"PATH": "/usr/bin:/bin", **fake_credentials(config)}
    # Nothing listens at that port: reaching Kafka first would fail differently.
    bootstrap = f"127.0.0.1:{free_port()}"
    result = _run("worker", "--config", str(config), "--bootstrap", bootstrap, env=env)
    assert result.returncode == 2
    assert f"router.model_dir: {absent}: " in result.stderr
    assert "Kafka" not in result.stderr and "Traceback" not in result.stderr


def test_report_prints_the_store(tmp_path: Path) -> None:
    data = yaml.safe_load(EXAMPLE_CONFIG.read_text())
    data["store"]["path"] = str(tmp_path / "chdb")
    # Nothing listens there: report opens the embedded folder itself.
    data["analytics"] = {"listen": f"127.0.0.1:{free_port()}"}
    config = tmp_path / "gw.yaml"
    config.write_text(yaml.safe_dump(data))
    store = UsageStore(open_backend(tmp_path / "chdb"), "routeyard")
    store.ensure_schema()
    store.insert(
        [
            UsageEvent(
                request_id=f"r{i}",
                attempt=1,
                call_id=f"c{i}",
                tenant="acme",
                route="default",
                model="gpt-4o-mini",
                provider="openai",
                upstream_model="gpt-4o-mini",
                outcome="success",
                input_tokens=100,
                output_tokens=50,
                cost_usd=Decimal("0.000045"),
                latency_ms=120.0,
            )
            for i in range(4)
        ]
    )
    store.backend.close()
    result = _run("report", "--config", str(config))
    assert result.returncode == 0, result.stderr
    header, row = result.stdout.splitlines()[1:3]
    assert header.split()[:4] == ["model", "requests", "calls", "ok"]
    assert row.split()[:4] == ["gpt-4o-mini", "4", "4", "4"]
    assert "total cost: $0.000180 over 4 requests, 4 calls" in result.stdout
    assert "routing saved $0.000940" in result.stdout
    result = _run("report", "--config", str(config), "--by", "tenant,route", "--format", "json")
    assert result.returncode == 0, result.stderr
    doc = orjson.loads(result.stdout)
    [summary] = doc["summary"]["rows"]
    assert (summary["tenant"], summary["route"]) == ("acme", "default")
    assert Decimal(summary["cost_usd"]) == Decimal("0.00018")
    # At claude-haiku, the route's dearest model: (400 x 0.80 + 200 x 4.00) / 1M.
    assert Decimal(doc["router"]["cost_if_strongest_usd"]) == Decimal("0.00112")
    assert doc["router"]["estimate"] is True


def test_help_lists_only_the_product_commands() -> None:
    result = _run("--help")
    assert result.returncode == 0, result.stderr
    commands = "{worker,serve,hash-key,emulate,report,score,router,budgets,health,check-config}"
    assert commands in result.stdout
    assert "python -m devtools" in result.stdout
