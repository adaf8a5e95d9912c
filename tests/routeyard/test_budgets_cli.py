"""``routeyard budgets``: the figures from tenant snapshots, and how they are printed."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import yaml

from policy.admission import TenantBook
from policy.admission_decisions import Admit
from routeyard.budgets import BudgetRow, budget_rows, budgets_json, format_budgets
from schemas.admission import AdmitEvent, ReservationRecord, SpendEvent, TenantSnapshot
from schemas.config import GatewayConfig
from schemas.config_loader import parse_config
from schemas.events import Classification, DispatchEvent, LLMRequest
from tests.paths import EXAMPLE_CONFIG, ROOT

NOW = datetime(2026, 3, 31, 23, 30, tzinfo=UTC)
DAY, MONTH = "2026-03-31", "2026-03"
LATER = NOW.timestamp() + 600


def _config(admission: dict[str, Any]) -> GatewayConfig:
    return GatewayConfig.model_validate(
        {
            "providers": {"a": {"format": "openai", "base_url": "http://127.0.0.1:1/v1"}},
            "models": {
                m: {
                    "provider": "a",
                    "upstream": m,
                    "input_per_mtok": "10",
                    "output_per_mtok": "10",
                    "context_window": 100_000,
                }
                for m in ("dear", "cheap")
            },
            "routes": [
                {"name": "default", "primary": "dear", "fallbacks": ["cheap"]},
                {"name": "economy", "by_name_only": True, "primary": "cheap"},
            ],
            "admission": admission,
        }
    )


ACME = {
    "budgets": [
        {"period": "day", "limit_usd": "1.00"},
        {
            "period": "month",
            "limit_usd": "20",
            "mode": "soft",
            "route": "default",
            "downgrade_to": {"route": "economy"},
        },
    ]
}


def _held(amount: str, *keys: str, expires_at: float = LATER) -> ReservationRecord:
    return ReservationRecord(
        amount=Decimal(amount),
        budgets=list(keys),
        expires_at=expires_at,
        route="default",
        candidates=["dear"],
    )


def _snap(tenant: str, partition: int = 0, **fields: Any) -> TenantSnapshot:
    return TenantSnapshot(tenant=tenant, partition=partition, confirmed_offset=5, **fields)


def _by_budget(rows: list[BudgetRow], tenant: str) -> dict[str, BudgetRow]:
    return {r.budget: r for r in rows if r.tenant == tenant}


def test_a_listed_tenant_without_state_has_spent_nothing() -> None:
    rows = budget_rows(_config({"tenants": {"acme": ACME}}), [], NOW)
    assert [(r.tenant, r.budget, r.period_key, r.mode) for r in rows] == [
        ("acme", "day", DAY, "hard"),
        ("acme", "month:route=default", MONTH, "soft"),
    ]
    day = rows[0]
    assert (day.spent_usd, day.reserved_usd, day.remaining_usd) == (
        Decimal(0),
        Decimal(0),
        Decimal(1),
    )
    assert day.used_pct == 0.0
    assert day.limit_usd == Decimal("1.00")


def test_spent_and_live_reservations_of_the_current_period_count() -> None:
    snap = _snap(
        "acme",
        spent={
            f"day|{DAY}": Decimal("0.70"),
            "day|2026-03-30": Decimal("9"),  # yesterday: another period
            f"month:route=default|{MONTH}": Decimal("3.5"),
        },
        reservations={
            "r1": _held("0.25", f"day|{DAY}", f"month:route=default|{MONTH}"),
            "r2": _held("0.10", f"day|{DAY}"),
            "r3": _held("5", "day|2026-03-30"),  # reserved yesterday, counts there
            # Past its expiry: the stage drops it before its next decision.
            "r4": _held("0.40", f"day|{DAY}", expires_at=NOW.timestamp() - 1),
        },
    )
    rows = _by_budget(budget_rows(_config({"tenants": {"acme": ACME}}), [snap], NOW), "acme")
    day, month = rows["day"], rows["month:route=default"]
    assert (day.spent_usd, day.reserved_usd) == (Decimal("0.70"), Decimal("0.35"))
    assert day.remaining_usd == Decimal("-0.05")
    assert day.used_pct == 105.0
    assert day.over
    assert (month.spent_usd, month.reserved_usd) == (Decimal("3.5"), Decimal("0.25"))
    assert month.remaining_usd == Decimal("16.25")
    assert month.used_pct == 18.8
    assert not month.over


def test_default_covers_tenants_found_in_state_and_a_listed_policy_wins() -> None:
    config = _config(
        {
            "default": {"budgets": [{"period": "month", "limit_usd": "5"}]},
            "tenants": {"acme": ACME, "quiet": {"rate_limit": {"requests_per_minute": 60}}},
        }
    )
    state = [
        _snap("zeta", spent={f"month|{MONTH}": Decimal("1")}),
        _snap("acme", spent={f"month|{MONTH}": Decimal("4")}),  # acme has no such budget
        _snap("quiet"),
    ]
    rows = budget_rows(config, state, NOW)
    assert [(r.tenant, r.budget) for r in rows] == [
        ("acme", "day"),
        ("acme", "month:route=default"),
        ("zeta", "month"),
    ]
    assert rows[2].spent_usd == Decimal("1") and rows[2].used_pct == 20.0


def test_without_default_a_tenant_only_in_state_is_not_shown() -> None:
    rows = budget_rows(_config({"tenants": {"acme": ACME}}), [_snap("gone")], NOW)
    assert {r.tenant for r in rows} == {"acme"}


def test_the_latest_snapshot_of_a_tenant_wins_across_partitions() -> None:
    old = _snap(
        "acme", 0, spent={f"day|{DAY}": Decimal("0.9")}, written_at=NOW - timedelta(hours=1)
    )
    new = _snap("acme", 3, spent={f"day|{DAY}": Decimal("0.2")}, written_at=NOW)
    for order in ([old, new], [new, old]):
        rows = budget_rows(_config({"tenants": {"acme": ACME}}), order, NOW)
        assert rows[0].spent_usd == Decimal("0.2")


def test_figures_match_the_admission_stage_own_book() -> None:
    """The keys the stage writes are the keys the command reads."""
    config = _config({"tenants": {"acme": ACME}})
    book = TenantBook("acme")
    for i in range(3):
        request = LLMRequest(
            request_id=f"r{i}",
            tenant="acme",
            messages=[{"role": "user", "content": "abc"}],
            params={"max_tokens": 95},
        )
        dispatch = DispatchEvent(
            request_id=f"r{i}",
            request=request,
            classification=Classification(score=0.1, tier="simple", task_type="chat"),
            route="default",
            candidates=["dear", "cheap"],
            deadline_at=NOW + timedelta(minutes=5),
        )
        event = AdmitEvent(request_id=f"r{i}", tenant="acme", dispatch=dispatch)
        assert isinstance(book.admit(event, i, config, NOW), Admit)
    spend = SpendEvent(
        request_id="r0",
        tenant="acme",
        call_id="c0",
        route="default",
        model="dear",
        cost_usd=Decimal("0.0007"),
        final=True,
        at=NOW,
    )
    book.spend(spend, 3, config, NOW)
    rows = _by_budget(budget_rows(config, [book.snapshot(0)], NOW), "acme")
    for budget in ("day", "month:route=default"):
        key = f"{budget}|{rows[budget].period_key}"
        assert rows[budget].spent_usd == book.spent[key] == Decimal("0.0007")
        assert rows[budget].reserved_usd == book.reserved[key] > 0


def test_table_aligns_columns_and_shows_overspend_as_negative() -> None:
    snap = _snap("acme", spent={f"day|{DAY}": Decimal("1.25")})
    rows = budget_rows(_config({"tenants": {"acme": ACME}}), [snap], NOW)
    lines = format_budgets(rows, NOW).splitlines()
    assert lines[0].split() == [
        "tenant",
        "budget",
        "period",
        "mode",
        "limit",
        "$",
        "spent",
        "$",
        "reserved",
        "$",
        "remaining",
        "$",
        "used%",
    ]
    assert lines[1].split() == [
        "acme",
        "day",
        DAY,
        "hard",
        "1.000000",
        "1.250000",
        "0.000000",
        "-0.250000",
        "125.0",
    ]
    assert lines[2].split()[:3] == ["acme", "month:route=default", MONTH]
    # Right-aligned figures: every row ends at the same column.
    assert len({len(line) for line in lines[:3]}) == 1
    assert lines[3] == (
        "as of 2026-03-31 23:30:00 UTC; used% = (spent + reserved) / limit; 1 over their limit"
    )


def test_table_without_rows_says_so() -> None:
    assert format_budgets([], NOW).startswith("no budgets to show")


def test_json_keeps_money_exact() -> None:
    snap = _snap("acme", spent={f"day|{DAY}": Decimal("0.1")}, reservations={})
    rows = budget_rows(_config({"tenants": {"acme": ACME}}), [snap], NOW)
    data = orjson.loads(budgets_json(rows))
    assert data[0] == {
        "tenant": "acme",
        "budget": "day",
        "period_key": DAY,
        "mode": "hard",
        "limit_usd": "1.00",
        "spent_usd": "0.1",
        "reserved_usd": "0",
        "remaining_usd": "0.90",
        "used_pct": 10.0,
    }
    assert len(data) == 2


def test_the_documented_admission_examples_are_valid_config() -> None:
    example = EXAMPLE_CONFIG.read_text()
    assert parse_config(example, env={}).admission.enabled is False  # commented out there
    head, block = example.split("# admission:\n", 1)
    uncommented = "\n".join(line.removeprefix("# ") for line in block.splitlines())
    from_example = parse_config(f"{head}admission:\n{uncommented}", env={}).admission
    readme = (ROOT / "README.md").read_text()
    yaml_block = readme.split("### `admission:` budgets and rate limits\n\n```yaml\n", 1)[1]
    from_readme = parse_config(head + yaml_block.split("```", 1)[0], env={}).admission
    for admission in (from_example, from_readme):
        acme = admission.tenants["acme"]
        assert [b.id for b in acme.budgets] == ["day", "month:route=hard"]
        assert acme.rate_limit is not None and acme.rate_limit.on_limit == "delay"
        assert admission.default is not None


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "routeyard.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_command_without_admission_says_it_is_off() -> None:
    result = _run("budgets", "--config", str(EXAMPLE_CONFIG), "--bootstrap", "127.0.0.1:1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("admission is off")
    result = _run("budgets", "--config", str(EXAMPLE_CONFIG), "--format", "json")
    assert orjson.loads(result.stdout) == []


def test_command_names_the_broker_it_cannot_reach(tmp_path: Path) -> None:
    data = yaml.safe_load(EXAMPLE_CONFIG.read_text())
    data["admission"] = {"tenants": {"acme": {"budgets": [{"period": "day", "limit_usd": "1"}]}}}
    config = tmp_path / "gw.yaml"
    config.write_text(yaml.safe_dump(data))
    result = _run("budgets", "--config", str(config), "--bootstrap", "127.0.0.1:1")
    assert result.returncode == 2
    assert "127.0.0.1:1" in result.stderr and "llm.admission-state" in result.stderr
    assert "Traceback" not in result.stderr
