"""Budget arithmetic: calendar periods, which budgets a request counts in, thresholds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from schemas.budgets import BudgetConfig, Period


def period_key(period: Period, at: datetime) -> str:
    """The UTC calendar period containing ``at``: ``2026-12-02`` or ``2026-12``."""
    at = at.astimezone(UTC)
    return at.strftime("%Y-%m-%d") if period == "day" else at.strftime("%Y-%m")


def period_end(period: Period, at: datetime) -> datetime:
    """When the period containing ``at`` ends (the next one starts), in UTC."""
    at = at.astimezone(UTC)
    if period == "day":
        return datetime(at.year, at.month, at.day, tzinfo=UTC) + timedelta(days=1)
    if at.month == 12:
        return datetime(at.year + 1, 1, 1, tzinfo=UTC)
    return datetime(at.year, at.month + 1, 1, tzinfo=UTC)


def previous_period_key(period: Period, at: datetime) -> str:
    at = at.astimezone(UTC)
    if period == "day":
        return period_key(period, at - timedelta(days=1))
    return period_key(period, datetime(at.year, at.month, 1, tzinfo=UTC) - timedelta(days=1))


def applies(budget: BudgetConfig, route: str, model: str) -> bool:
    """Whether a request on ``route`` whose first choice is ``model`` counts in ``budget``."""
    return (budget.route is None or budget.route == route) and (
        budget.model is None or budget.model == model
    )


def budget_key(budget: BudgetConfig, at: datetime) -> str:
    """The state key of one budget in one period: ``day:route=x|2026-12-02``."""
    return f"{budget.id}|{period_key(budget.period, at)}"


def crossed(
    before: Decimal, after: Decimal, limit: Decimal, thresholds: list[float]
) -> list[float]:
    """The thresholds (fractions of ``limit``) that spend passed going from before to after."""
    return sorted(t for t in thresholds if before < limit * Decimal(str(t)) <= after)
