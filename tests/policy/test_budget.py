from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from policy.budget import (
    applies,
    budget_key,
    crossed,
    period_end,
    period_key,
    previous_period_key,
)
from schemas.budgets import BudgetConfig, Period


def _at(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def _budget(**fields: object) -> BudgetConfig:
    data: dict[str, object] = {"period": "day", "limit_usd": "1"}
    data.update(fields)
    return BudgetConfig.model_validate(data)


@pytest.mark.parametrize(
    ("period", "at", "expected"),
    [
        ("day", _at(2026, 12, 2, 13, 5), "2026-12-02"),
        ("month", _at(2026, 12, 2, 13, 5), "2026-12"),
        ("day", _at(2026, 12, 2), "2026-12-02"),  # midnight starts the day
        ("day", _at(2026, 12, 1, 23, 59, 59), "2026-12-01"),
    ],
)
def test_period_key_is_the_utc_calendar_period(period: Period, at: datetime, expected: str) -> None:
    assert period_key(period, at) == expected


def test_period_key_converts_to_utc_first() -> None:
    # 01:00 on March 1st at UTC+2 is still February 28th in UTC.
    local = datetime(2026, 3, 1, 1, 0, tzinfo=timezone(timedelta(hours=2)))
    assert period_key("day", local) == "2026-02-28"
    assert period_key("month", local) == "2026-02"
    assert period_end("day", local) == _at(2026, 3, 1)
    assert period_end("month", local) == _at(2026, 3, 1)


@pytest.mark.parametrize(
    ("period", "at", "expected"),
    [
        ("day", _at(2026, 3, 14, 9, 30), _at(2026, 3, 15)),
        ("day", _at(2026, 3, 14), _at(2026, 3, 15)),  # at midnight: the day just begun
        ("day", _at(2026, 1, 31, 23, 59, 59), _at(2026, 2, 1)),
        ("day", _at(2028, 2, 28, 12), _at(2028, 2, 29)),  # leap year
        ("day", _at(2026, 2, 28, 12), _at(2026, 3, 1)),
        ("day", _at(2026, 12, 31, 23), _at(2027, 1, 1)),
        ("month", _at(2026, 1, 31, 23, 59, 59), _at(2026, 2, 1)),
        ("month", _at(2026, 2, 1), _at(2026, 3, 1)),
        ("month", _at(2026, 11, 30, 12), _at(2026, 12, 1)),
        ("month", _at(2026, 12, 1), _at(2027, 1, 1)),  # December -> January
        ("month", _at(2026, 12, 31, 23, 59, 59), _at(2027, 1, 1)),
    ],
)
def test_period_end_is_the_start_of_the_next_period(
    period: Period, at: datetime, expected: datetime
) -> None:
    end = period_end(period, at)
    assert end == expected
    assert end.tzinfo is not None
    assert period_key(period, end) != period_key(period, at)
    assert period_key(period, end - timedelta(microseconds=1)) == period_key(period, at)


@pytest.mark.parametrize(
    ("period", "at", "expected"),
    [
        ("day", _at(2026, 3, 14, 9), "2026-03-13"),
        ("day", _at(2026, 3, 1), "2026-02-28"),
        ("day", _at(2028, 3, 1, 23), "2028-02-29"),
        ("day", _at(2027, 1, 1), "2026-12-31"),
        ("month", _at(2026, 3, 31, 23), "2026-02"),
        ("month", _at(2026, 3, 1), "2026-02"),
        ("month", _at(2027, 1, 15), "2026-12"),  # January -> December of the year before
    ],
)
def test_previous_period_key(period: Period, at: datetime, expected: str) -> None:
    assert previous_period_key(period, at) == expected


def test_tenant_wide_budget_applies_to_every_request() -> None:
    budget = _budget()
    assert applies(budget, "default", "gpt")
    assert applies(budget, "other", "claude")


def test_scoped_budgets_apply_only_to_their_route_or_first_choice_model() -> None:
    by_route = _budget(route="code")
    assert applies(by_route, "code", "any")
    assert not applies(by_route, "default", "any")
    by_model = _budget(model="big")
    assert applies(by_model, "any", "big")
    assert not applies(by_model, "any", "small")
    both = _budget(route="code", model="big")
    assert applies(both, "code", "big")
    assert not applies(both, "code", "small")
    assert not applies(both, "default", "big")


def test_budget_key_names_budget_scope_and_period() -> None:
    at = _at(2026, 12, 2, 10)
    assert budget_key(_budget(), at) == "day|2026-12-02"
    assert budget_key(_budget(route="x"), at) == "day:route=x|2026-12-02"
    assert budget_key(_budget(period="month", model="m"), at) == "month:model=m|2026-12"
    assert (
        budget_key(_budget(period="month", route="x", model="m"), at)
        == "month:route=x:model=m|2026-12"
    )


def test_crossed_lists_thresholds_passed_in_order() -> None:
    limit = Decimal("10")
    thresholds = [1.0, 0.5, 0.8]
    assert crossed(Decimal(0), Decimal("4.99"), limit, thresholds) == []
    assert crossed(Decimal(0), Decimal("5"), limit, thresholds) == [0.5]  # reaching counts
    assert crossed(Decimal(5), Decimal("7"), limit, thresholds) == []  # already past 0.5
    assert crossed(Decimal(0), Decimal("12"), limit, thresholds) == [0.5, 0.8, 1.0]
    assert crossed(Decimal("7.99"), Decimal("8"), limit, thresholds) == [0.8]
    assert crossed(Decimal(10), Decimal(30), limit, [1.0, 2.0, 3.0]) == [2.0, 3.0]


def test_crossed_compares_in_exact_decimals() -> None:
    # In binary floats 0.1 * 0.8 is 0.08000000000000002, and 0.08 would not reach it.
    assert crossed(Decimal(0), Decimal("0.08"), Decimal("0.1"), [0.8]) == [0.8]
    assert crossed(Decimal(0), Decimal("0.079999999"), Decimal("0.1"), [0.8]) == []
