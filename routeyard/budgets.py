"""Where each tenant stands against its budgets this period, from the admission state topic.

Figures are those the admission stage decides with (docs/design/state.md): settled spend
per ``budget|period`` key, plus the reservations of requests admitted and not settled yet.
:func:`budget_rows` is pure, so the command's arithmetic is tested without Kafka.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal

import orjson
from pydantic import BaseModel, ConfigDict

from policy.budget import budget_key, period_key
from schemas.admission import TenantSnapshot
from schemas.budgets import BudgetMode
from schemas.config import GatewayConfig


class BudgetRow(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    tenant: str
    budget: str
    period_key: str
    mode: BudgetMode
    limit_usd: Decimal
    spent_usd: Decimal
    reserved_usd: Decimal
    remaining_usd: Decimal
    used_pct: float

    @property
    def over(self) -> bool:
        return self.remaining_usd < 0


def latest_snapshots(snapshots: Iterable[TenantSnapshot]) -> dict[str, TenantSnapshot]:
    """One snapshot per tenant: the last written.

    A tenant has snapshots on two partitions only after the partition count changed; its
    new owner started from empty state and is the one still writing (state.md).
    """
    found: dict[str, TenantSnapshot] = {}
    for snap in snapshots:
        seen = found.get(snap.tenant)
        if seen is None or snap.written_at > seen.written_at:
            found[snap.tenant] = snap
    return found


def budget_rows(
    config: GatewayConfig, snapshots: Iterable[TenantSnapshot], now: datetime
) -> list[BudgetRow]:
    """One row per budget of every tenant with a policy, in the period containing ``now``.

    Tenants: those listed under ``admission.tenants`` and, when ``admission.default`` is
    set, every other tenant that has state. A tenant without state has spent nothing.
    """
    admission = config.admission
    state = latest_snapshots(snapshots)
    tenants = set(admission.tenants)
    if admission.default is not None:
        tenants |= set(state)
    rows: list[BudgetRow] = []
    t = now.timestamp()
    for tenant in sorted(tenants):
        policy = admission.policy_for(tenant)
        if policy is None:
            continue
        snap = state.get(tenant)
        for budget in policy.budgets:
            key = budget_key(budget, now)
            spent = snap.spent.get(key, Decimal(0)) if snap is not None else Decimal(0)
            # An expired reservation is dropped before the stage's next decision, so it
            # no longer holds anything back.
            reserved = sum(
                (
                    held.amount
                    for held in (snap.reservations.values() if snap is not None else ())
                    if key in held.budgets and held.expires_at >= t
                ),
                Decimal(0),
            )
            used = spent + reserved
            rows.append(
                BudgetRow(
                    tenant=tenant,
                    budget=budget.id,
                    period_key=period_key(budget.period, now),
                    mode=budget.mode,
                    limit_usd=budget.limit_usd,
                    spent_usd=spent,
                    reserved_usd=reserved,
                    remaining_usd=budget.limit_usd - used,
                    used_pct=round(float(used / budget.limit_usd * 100), 1),
                )
            )
    return rows


_COLUMNS = [
    ("tenant", "tenant", "<"),
    ("budget", "budget", "<"),
    ("period_key", "period", "<"),
    ("mode", "mode", "<"),
    ("limit_usd", "limit $", ">"),
    ("spent_usd", "spent $", ">"),
    ("reserved_usd", "reserved $", ">"),
    ("remaining_usd", "remaining $", ">"),
    ("used_pct", "used%", ">"),
]


def _cell(key: str, value: object) -> str:
    if isinstance(value, Decimal):
        return f"{value:.6f}"
    if key == "used_pct":
        return f"{value:.1f}"
    return str(value)


def format_budgets(rows: list[BudgetRow], now: datetime) -> str:
    """A fixed-width table, like ``routeyard report``'s."""
    if not rows:
        return "no budgets to show (a tenant under admission.default shows once it has state)"
    table = [[title for _, title, _ in _COLUMNS]]
    table += [[_cell(key, getattr(row, key)) for key, _, _ in _COLUMNS] for row in rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(_COLUMNS))]
    lines = []
    for r in table:
        cells = [f"{c:{align}{w}}" for c, (_, _, align), w in zip(r, _COLUMNS, widths, strict=True)]
        lines.append("  ".join(cells).rstrip())
    over = sum(row.over for row in rows)
    at = now.astimezone(UTC)
    summary = f"as of {at:%Y-%m-%d %H:%M:%S} UTC; used% = (spent + reserved) / limit"
    if over:
        summary += f"; {over} over their limit"
    lines.append(summary)
    return "\n".join(lines)


def budgets_json(rows: list[BudgetRow]) -> str:
    """The rows as a JSON array; money as decimal strings, as on the topics."""
    return orjson.dumps([row.model_dump(mode="json") for row in rows]).decode()
