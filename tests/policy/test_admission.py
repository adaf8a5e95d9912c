"""TenantBook: budgets, rate limits, reservations and settlement, on a simulated clock.

Prices are chosen so that the test request (3 bytes of prompt -> 5 input tokens, 95 output
tokens) costs round figures: 0.001 USD on ``dear``, 0.0005 on ``mid``, 0.0001 on ``cheap``.
"""

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from policy.admission import TenantBook
from policy.admission_decisions import Admit, AdmitDecision, Delay, Reject
from policy.estimate import cost_estimate
from schemas.admission import AdmitEvent, BudgetAlert, SpendEvent, TenantSnapshot
from schemas.config import GatewayConfig
from schemas.events import Classification, DispatchEvent, LLMRequest

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
DAY = "day|2026-03-01"
DEAR, MID, CHEAP = Decimal("0.001"), Decimal("0.0005"), Decimal("0.0001")


def _model(price: str) -> dict[str, object]:
    return {
        "provider": "a",
        "upstream": "u",
        "input_per_mtok": price,
        "output_per_mtok": price,
        "context_window": 100_000,
    }


def _config(policy: dict[str, Any] | None = None, **admission: Any) -> GatewayConfig:
    if policy is not None:
        admission.setdefault("tenants", {})["acme"] = policy
    return GatewayConfig.model_validate(
        {
            "providers": {"a": {"format": "openai", "base_url": "http://127.0.0.1:1/v1"}},
            "models": {"dear": _model("10"), "mid": _model("5"), "cheap": _model("1")},
            "routes": [
                {"name": "default", "primary": "dear", "fallbacks": ["cheap"]},
                {"name": "economy", "by_name_only": True, "primary": "cheap"},
                {"name": "side", "by_name_only": True, "primary": "mid", "fallbacks": ["cheap"]},
            ],
            "admission": admission,
        }
    )


def _budget(limit: str, **fields: Any) -> dict[str, Any]:
    return {"period": "day", "limit_usd": limit, **fields}


_CANDIDATES = {"default": ["dear", "cheap"], "economy": ["cheap"], "side": ["mid", "cheap"]}


def _event(
    request_id: str,
    route: str = "default",
    *,
    text: str = "abc",
    max_tokens: int = 95,
    rate_paid: bool = False,
    deadline_at: datetime | None = None,
) -> AdmitEvent:
    request = LLMRequest(
        request_id=request_id,
        tenant="acme",
        messages=[{"role": "user", "content": text}],
        params={"max_tokens": max_tokens},
        created_at=T0,
    )
    dispatch = DispatchEvent(
        request_id=request_id,
        request=request,
        classification=Classification(score=0.1, tier="simple", task_type="chat"),
        route=route,
        candidates=_CANDIDATES[route],
        first_seen_at=T0,
        deadline_at=deadline_at,
    )
    return AdmitEvent(request_id=request_id, tenant="acme", dispatch=dispatch, rate_paid=rate_paid)


def _spend(
    request_id: str,
    cost: str,
    *,
    call_id: str | None = None,
    final: bool = True,
    route: str = "default",
    model: str = "dear",
    at: datetime = T0,
) -> SpendEvent:
    return SpendEvent(
        request_id=request_id,
        tenant="acme",
        call_id=f"{request_id}:1" if call_id is None else call_id,
        route=route,
        model=model,
        cost_usd=Decimal(cost),
        final=final,
        at=at,
    )


class Book:
    """A TenantBook fed one offset after another, as the admission stage does."""

    def __init__(self, config: GatewayConfig) -> None:
        self.book = TenantBook("acme")
        self.config = config
        self.offset = -1

    def admit(self, event: AdmitEvent, now: datetime = T0) -> AdmitDecision:
        self.offset += 1
        return self.book.admit(event, self.offset, self.config, now)

    def spend(self, event: SpendEvent, now: datetime = T0) -> list[BudgetAlert]:
        self.offset += 1
        return self.book.spend(event, self.offset, self.config, now)


def _admitted(decision: AdmitDecision) -> DispatchEvent:
    assert isinstance(decision, Admit), decision
    return decision.dispatch


def _rejected(decision: AdmitDecision) -> Reject:
    assert isinstance(decision, Reject), decision
    return decision


def _delayed(decision: AdmitDecision) -> Delay:
    assert isinstance(decision, Delay), decision
    return decision


def _reserved_total(book: TenantBook) -> Decimal:
    return sum((r.amount for r in book.reservations.values()), Decimal(0))


# -- hard budgets --------------------------------------------------------------------


def test_hard_budget_admits_up_to_the_limit_inclusive_then_rejects() -> None:
    b = Book(_config({"budgets": [_budget("0.005")]}))
    for i in range(5):
        ev = _admitted(b.admit(_event(f"r{i}")))
        assert ev.admission is not None
        assert ev.admission.reserved_usd == DEAR
        assert not ev.admission.downgraded
    assert b.book.reserved == {DAY: Decimal("0.005")}  # 0.004 + 0.001 = limit: admitted

    now = T0 + timedelta(minutes=30)
    reject = _rejected(b.admit(_event("r5"), now))
    letter = reject.letter
    assert (letter.reason, letter.stage, letter.tenant, letter.request_id) == (
        "budget_exceeded",
        "admission",
        "acme",
        "r5",
    )
    assert letter.limit is not None
    assert letter.limit.kind == "budget"
    assert letter.limit.budget == "day"
    assert letter.limit.period == "2026-03-01"
    assert letter.limit.limit == Decimal("0.005")
    assert letter.limit.spent_usd == Decimal(0)
    assert letter.limit.reserved_usd == Decimal("0.005")
    assert letter.limit.estimate == DEAR
    assert letter.limit.retry_after_s == 11.5 * 3600  # to midnight UTC
    assert "2026-03-02T00:00:00+00:00" in letter.detail
    assert reject.usage.outcome == "rejected"
    assert reject.usage.error_kind == "budget_exceeded"
    assert reject.usage.call_id == "r5:rejected"
    assert "r5" not in b.book.reservations


def test_final_spend_replaces_the_reservation_with_the_actual_cost() -> None:
    b = Book(_config({"budgets": [_budget("0.003")]}))
    for rid in ("r1", "r2", "r3"):
        _admitted(b.admit(_event(rid)))
    _rejected(b.admit(_event("r4")))

    assert b.spend(_spend("r1", "0.0004")) == []
    assert b.book.spent == {DAY: Decimal("0.0004")}
    assert b.book.reserved == {DAY: Decimal("0.002")}
    assert set(b.book.reservations) == {"r2", "r3"}
    _rejected(b.admit(_event("r4")))  # 0.0004 + 0.002 + 0.001 = 0.0034 > 0.003

    b.spend(_spend("r2", "0.0002"))
    assert b.book.spent == {DAY: Decimal("0.0006")}
    assert b.book.reserved == {DAY: Decimal("0.001")}
    _admitted(b.admit(_event("r4")))  # 0.0006 + 0.001 + 0.001 = 0.0026


def test_a_non_final_spend_counts_but_keeps_the_reservation() -> None:
    b = Book(_config({"budgets": [_budget("0.01")]}))
    _admitted(b.admit(_event("r1")))
    b.spend(_spend("r1", "0.0003", call_id="r1:1", final=False))
    b.spend(_spend("r1", "0.0002", call_id="r1:2", final=False))
    assert b.book.spent == {DAY: Decimal("0.0005")}
    assert b.book.reserved == {DAY: DEAR}
    b.spend(_spend("r1", "0", call_id="", final=True))
    assert b.book.spent == {DAY: Decimal("0.0005")}
    assert b.book.reserved == {}
    assert b.book.reservations == {}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_admits_without_spends_never_reserve_past_the_limit(seed: int) -> None:
    limit = Decimal("0.0105")
    b = Book(_config({"budgets": [_budget(str(limit))]}))
    rng = random.Random(seed)
    admitted = 0
    for i in range(300):
        route = rng.choice(["default", "side", "economy"])
        text = "x" * rng.randint(1, 3000)
        event = _event(f"r{i}", route, text=text, max_tokens=rng.randint(1, 500))
        estimate = cost_estimate(event.dispatch.request, _CANDIDATES[route], b.config)
        before = _reserved_total(b.book)
        decision = b.admit(event)
        # exactly the rule: admitted if and only if it fits, reserving its estimate
        if before + estimate <= limit:
            ev = _admitted(decision)
            assert ev.admission is not None and ev.admission.reserved_usd == estimate
            admitted += 1
        else:
            assert _rejected(decision).letter.reason == "budget_exceeded"
        total = _reserved_total(b.book)
        assert total <= limit
        assert b.book.reserved.get(DAY, Decimal(0)) == total
    assert 2 <= admitted < 300


def test_identical_requests_fill_the_limit_exactly() -> None:
    b = Book(_config({"budgets": [_budget("0.0105")]}))
    decisions = [b.admit(_event(f"r{i}")) for i in range(50)]
    assert sum(isinstance(d, Admit) for d in decisions) == 10
    assert all(isinstance(d, Reject) for d in decisions[10:])
    assert _reserved_total(b.book) == Decimal("0.010")


def test_every_applying_hard_budget_must_fit() -> None:
    config = _config({"budgets": [_budget("0.01"), _budget("0.0015", period="month")]})
    b = Book(config)
    _admitted(b.admit(_event("r1")))
    reject = _rejected(b.admit(_event("r2")))
    assert reject.letter.limit is not None
    assert (reject.letter.limit.budget, reject.letter.limit.period) == ("month", "2026-03")
    to_april = datetime(2026, 4, 1, tzinfo=UTC) - T0
    assert reject.letter.limit.retry_after_s == to_april.total_seconds()
    assert b.book.reserved == {DAY: DEAR, "month|2026-03": DEAR}


# -- soft budgets --------------------------------------------------------------------


def test_soft_budget_downgrades_the_model_past_its_limit() -> None:
    soft = _budget("0.002", mode="soft", downgrade_to={"model": "cheap"})
    b = Book(_config({"budgets": [soft]}))
    for rid in ("r1", "r2"):
        ev = _admitted(b.admit(_event(rid)))
        assert ev.candidates == ["dear", "cheap"]
        assert ev.admission is not None and not ev.admission.downgraded
    for rid in ("r3", "r4", "r5"):  # spend is not capped: every one goes through
        ev = _admitted(b.admit(_event(rid)))
        assert (ev.route, ev.candidates, ev.candidate_index) == ("default", ["cheap"], 0)
        mark = ev.admission
        assert mark is not None
        assert mark.downgraded
        assert mark.reserved_usd == CHEAP  # estimated again on the cheaper model
        assert mark.downgrade_reason is not None
        assert "soft budget day" in mark.downgrade_reason
        assert "over the limit of 0.002 USD" in mark.downgrade_reason
    assert b.book.reserved == {DAY: Decimal("0.0023")}


def test_soft_budget_downgrade_to_a_route_replaces_route_and_candidates() -> None:
    soft = _budget("0.001", mode="soft", downgrade_to={"route": "side"})
    b = Book(_config({"budgets": [soft]}))
    ev = _admitted(b.admit(_event("r1")))
    assert ev.admission is not None and ev.admission.original_route is None
    ev = _admitted(b.admit(_event("r2")))
    assert (ev.route, ev.candidates, ev.candidate_index) == ("side", ["mid", "cheap"], 0)
    assert ev.admission is not None
    assert ev.admission.downgraded
    assert ev.admission.original_route == "default"
    assert ev.admission.reserved_usd == MID
    assert b.book.reservations["r2"].route == "side"


def test_a_model_downgrade_keeps_the_route_and_sets_no_original_route() -> None:
    soft = _budget("0.0004", mode="soft", downgrade_to={"model": "cheap"})
    b = Book(_config({"budgets": [soft]}))
    ev = _admitted(b.admit(_event("r1", "side")))
    assert ev.admission is not None and ev.admission.downgraded
    assert ev.route == "side"
    assert ev.admission.original_route is None


def test_a_downgraded_request_is_still_held_to_the_hard_budgets() -> None:
    soft = _budget("0.001", mode="soft", model="dear", downgrade_to={"model": "cheap"})
    hard = _budget("0.0012")
    b = Book(_config({"budgets": [soft, hard]}))
    _admitted(b.admit(_event("r1")))  # dear: 0.001 in both
    for rid in ("r2", "r3"):  # soft budget full: cheap, 0.0001 each, in the hard one only
        ev = _admitted(b.admit(_event(rid)))
        assert ev.candidates == ["cheap"]
    reject = _rejected(b.admit(_event("r4")))
    assert reject.letter.limit is not None and reject.letter.limit.budget == "day"
    assert b.book.reserved == {DAY: Decimal("0.0012"), "day:model=dear|2026-03-01": DEAR}


# -- scope ---------------------------------------------------------------------------


def test_a_route_budget_counts_only_requests_of_its_route() -> None:
    b = Book(_config({"budgets": [_budget("0.0005", route="side")]}))
    _admitted(b.admit(_event("s1", "side")))
    reject = _rejected(b.admit(_event("s2", "side")))
    assert reject.letter.limit is not None
    assert reject.letter.limit.budget == "day:route=side"
    for i in range(20):
        ev = _admitted(b.admit(_event(f"d{i}")))
        assert ev.admission is not None and ev.admission.reserved_usd == DEAR
    assert b.book.reserved == {"day:route=side|2026-03-01": MID}


def test_a_model_budget_counts_requests_by_their_first_choice() -> None:
    b = Book(_config({"budgets": [_budget("0.0001", model="cheap")]}))
    _admitted(b.admit(_event("e1", "economy")))
    _rejected(b.admit(_event("e2", "economy")))
    # default falls back to cheap, but its first choice is dear: not counted
    _admitted(b.admit(_event("d1")))
    _admitted(b.admit(_event("d2")))
    assert b.book.reserved == {"day:model=cheap|2026-03-01": CHEAP}


def test_a_spend_without_reservation_counts_by_its_route_and_model() -> None:
    config = _config({"budgets": [_budget("1", route="side"), _budget("1", model="dear")]})
    b = Book(config)
    b.spend(_spend("x1", "0.3", route="side", model="cheap"))
    b.spend(_spend("x2", "0.2", route="default", model="dear"))
    b.spend(_spend("x3", "0.1", route="economy", model="cheap"))
    assert b.book.spent == {
        "day:route=side|2026-03-01": Decimal("0.3"),
        "day:model=dear|2026-03-01": Decimal("0.2"),
    }


def test_a_tenant_without_policy_is_admitted_unchanged() -> None:
    config = _config(tenants={"other": {"budgets": [_budget("0.0001")]}})
    b = Book(config)
    event = _event("r1")
    for _ in range(3):
        assert _admitted(b.admit(event)) == event.dispatch
    assert b.book.reservations == {}


def test_the_default_policy_applies_to_unlisted_tenants() -> None:
    b = Book(_config(default={"budgets": [_budget("0.001")]}))
    _admitted(b.admit(_event("r1")))
    _rejected(b.admit(_event("r2")))


# -- settlement and alerts -----------------------------------------------------------


def _thresholds(alerts: list[BudgetAlert]) -> list[float]:
    return [a.threshold for a in alerts]


def test_alerts_fire_once_per_threshold_per_period() -> None:
    b = Book(_config({"budgets": [_budget("0.01")]}))
    assert b.spend(_spend("r1", "0.0049")) == []
    [half] = b.spend(_spend("r2", "0.0001"))  # reaches 50 % exactly
    assert (half.budget, half.period, half.period_key, half.mode) == (
        "day",
        "day",
        "2026-03-01",
        "hard",
    )
    assert (half.threshold, half.spent_usd, half.limit_usd) == (
        0.5,
        Decimal("0.0050"),
        Decimal("0.01"),
    )
    assert half.key == "acme:day:2026-03-01:0.5"
    assert b.spend(_spend("r3", "0.001")) == []
    assert _thresholds(b.spend(_spend("r4", "0.0045"))) == [0.8, 1.0]  # 0.0105: two at once
    assert b.spend(_spend("r5", "0.005")) == []
    assert b.book.spent == {DAY: Decimal("0.0155")}


def test_the_same_call_id_is_counted_once_and_its_replay_repeats_its_alerts() -> None:
    b = Book(_config({"budgets": [_budget("0.01")]}))
    _admitted(b.admit(_event("r1")))  # offset 0
    first = b.book.spend(_spend("r1", "0.006", call_id="c1"), 1, b.config, T0)
    assert _thresholds(first) == [0.5]
    assert "r1" not in b.book.reservations

    replay = b.book.spend(_spend("r1", "0.006", call_id="c1"), 1, b.config, T0)
    assert [a.key for a in replay] == [a.key for a in first]
    assert replay[0].spent_usd == Decimal("0.006")
    assert b.book.spent == {DAY: Decimal("0.006")}

    # the producer delivered it twice (a new offset): nothing added, nothing repeated
    assert b.book.spend(_spend("r1", "0.006", call_id="c1"), 7, b.config, T0) == []
    assert b.book.spent == {DAY: Decimal("0.006")}

    # a redone call has a new call id and really costs again
    assert _thresholds(b.book.spend(_spend("r1", "0.002", call_id="c2"), 8, b.config, T0)) == [0.8]
    assert b.book.spent == {DAY: Decimal("0.008")}


def test_thresholds_of_many_digits_alert_separately_and_replay_unchanged() -> None:
    b = Book(_config({"budgets": [_budget("1", alert_at=[0.1234567, 0.1234568])]}))
    first = b.book.spend(_spend("r1", "0.2", call_id="c1"), 0, b.config, T0)
    again = b.book.spend(_spend("r1", "0.2", call_id="c1"), 0, b.config, T0)
    assert _thresholds(again) == _thresholds(first) == [0.1234567, 0.1234568]


def test_a_replayed_final_spend_still_releases() -> None:
    b = Book(_config({"budgets": [_budget("0.01")]}))
    b.book.spend(_spend("r1", "0.0002", call_id="c1", final=False), 0, b.config, T0)
    _admitted(b.book.admit(_event("r1"), 1, b.config, T0))
    # a retry's final spend arrives with a call id already counted
    b.book.spend(_spend("r1", "0.0002", call_id="c1", final=True), 2, b.config, T0)
    assert b.book.reservations == {}
    assert b.book.reserved == {}
    assert b.book.spent == {DAY: Decimal("0.0002")}


def test_a_new_day_starts_at_zero_and_alerts_again() -> None:
    b = Book(_config({"budgets": [_budget("0.001")]}))
    _admitted(b.admit(_event("r1")))
    assert _thresholds(b.spend(_spend("r1", "0.001"))) == [0.5, 0.8, 1.0]
    _rejected(b.admit(_event("r2")))
    late = T0.replace(hour=23, minute=59, second=59)
    info = _rejected(b.admit(_event("r2"), late)).letter.limit
    assert info is not None and info.retry_after_s == 1.0

    tomorrow = datetime(2026, 3, 2, tzinfo=UTC)
    _admitted(b.admit(_event("r2"), tomorrow))
    assert b.book.reserved == {"day|2026-03-02": DEAR}
    alerts = b.spend(_spend("r2", "0.0006", at=tomorrow), tomorrow)
    assert [(a.period_key, a.threshold) for a in alerts] == [("2026-03-02", 0.5)]
    assert b.book.spent["day|2026-03-02"] == Decimal("0.0006")
    assert b.book.spent[DAY] == Decimal("0.001")


def test_a_spend_counts_in_the_period_its_reservation_was_made_in() -> None:
    b = Book(_config({"budgets": [_budget("0.01")]}))
    before_midnight = datetime(2026, 3, 1, 23, 59, 30, tzinfo=UTC)
    after_midnight = datetime(2026, 3, 2, 0, 0, 30, tzinfo=UTC)
    _admitted(b.admit(_event("r1"), before_midnight))
    b.spend(_spend("r1", "0.0009", at=after_midnight), after_midnight)
    assert b.book.spent == {DAY: Decimal("0.0009")}
    assert b.book.reserved == {}


@pytest.mark.parametrize(
    ("last", "first", "old_key", "new_key"),
    [
        (
            datetime(2026, 1, 31, 23, 59, 59, tzinfo=UTC),
            datetime(2026, 2, 1, tzinfo=UTC),
            "month|2026-01",
            "month|2026-02",
        ),
        (
            datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC),
            datetime(2027, 1, 1, tzinfo=UTC),
            "month|2026-12",
            "month|2027-01",
        ),
    ],
)
def test_a_new_month_starts_at_zero(
    last: datetime, first: datetime, old_key: str, new_key: str
) -> None:
    b = Book(_config({"budgets": [_budget("0.001", period="month")]}))
    _admitted(b.admit(_event("r1"), last))
    b.spend(_spend("r1", "0.001", at=last), last)
    reject = _rejected(b.admit(_event("r2"), last))
    assert reject.letter.limit is not None
    assert reject.letter.limit.retry_after_s == 1.0
    assert reject.letter.limit.spent_usd == Decimal("0.001")
    ev = _admitted(b.admit(_event("r2"), first))
    assert ev.admission is not None and ev.admission.reserved_usd == DEAR
    assert b.book.reserved == {new_key: DEAR}
    assert b.book.spent == {old_key: Decimal("0.001")}


def test_periods_older_than_the_previous_one_are_dropped() -> None:
    b = Book(_config({"budgets": [_budget("0.01")]}))
    b.spend(_spend("r1", "0.006"))
    day2, day3 = datetime(2026, 3, 2, 12, tzinfo=UTC), datetime(2026, 3, 3, 12, tzinfo=UTC)
    _admitted(b.admit(_event("r2"), day2))
    assert DAY in b.book.spent  # yesterday's spend may still settle
    assert DAY + "|0.5" in b.book.alerted
    _admitted(b.admit(_event("r3"), day3))
    assert DAY not in b.book.spent
    assert b.book.alerted == {}


# -- replays of admits ---------------------------------------------------------------


def test_a_replayed_admit_returns_the_same_admission_without_charging_again() -> None:
    config = _config(
        {"budgets": [_budget("0.01")], "rate_limit": {"requests_per_minute": 60, "burst_s": 2}}
    )
    b = TenantBook("acme")
    event = _event("r1")
    first = b.admit(event, 0, config, T0)
    buckets, reserved = dict(b.buckets), dict(b.reserved)
    assert buckets["requests_per_minute"].level == pytest.approx(1.0)

    assert b.admit(event, 0, config, T0) == first
    assert b.admit(event, 0, config, T0 + timedelta(milliseconds=1)) == first
    assert b.buckets == buckets
    assert b.reserved == reserved == {DAY: DEAR}
    assert list(b.reservations) == ["r1"]


def test_a_replayed_admit_of_a_downgraded_request_keeps_its_downgrade() -> None:
    soft = _budget("0.0015", mode="soft", downgrade_to={"route": "economy"})
    b = TenantBook("acme")
    config = _config({"budgets": [soft]})
    b.admit(_event("r1"), 0, config, T0)
    second = _admitted(b.admit(_event("r2"), 1, config, T0))
    assert second.route == "economy"
    # the space left has since grown, but the replay gets the plan it got first
    b.spend(_spend("r1", "0"), 2, config, T0)
    assert _admitted(b.admit(_event("r2"), 1, config, T0)) == second
    assert b.reserved == {DAY: CHEAP}


# -- rate limits ---------------------------------------------------------------------


def test_reject_mode_dead_letters_with_when_to_retry() -> None:
    limit = {"requests_per_minute": 60, "burst_s": 5, "on_limit": "reject"}
    b = Book(_config({"rate_limit": limit}))
    for i in range(5):  # capacity: 60 * 5 / 60
        _admitted(b.admit(_event(f"r{i}")))
    reject = _rejected(b.admit(_event("r5")))
    assert (reject.letter.reason, reject.letter.stage) == ("rate_limited", "admission")
    assert reject.usage.error_kind == "rate_limited"
    info = reject.letter.limit
    assert info is not None
    assert (info.kind, info.limit, info.estimate) == (
        "requests_per_minute",
        Decimal(60),
        Decimal(1),
    )
    assert info.retry_after_s == pytest.approx(1.0, abs=0.001)
    assert "r5" not in b.book.reservations
    # a rejection is not charged: one second later exactly one more fits
    _admitted(b.admit(_event("r6"), T0 + timedelta(seconds=1)))
    _rejected(b.admit(_event("r7"), T0 + timedelta(seconds=1)))


def test_delay_mode_books_successive_slots_at_one_over_the_rate() -> None:
    b = Book(_config({"rate_limit": {"requests_per_minute": 120, "burst_s": 2}}))
    for i in range(4):
        _admitted(b.admit(_event(f"r{i}")))
    for k in range(1, 6):
        event = _event(f"d{k}")
        delay = _delayed(b.admit(event))
        assert delay.retry.release_to == "admission"
        assert delay.retry.request_id == f"d{k}"
        assert delay.retry.dispatch == event.dispatch
        assert delay.retry.last_error is None
        assert delay.retry.due_at == T0 + timedelta(seconds=0.5 * k)
        assert f"d{k}" not in b.book.reservations  # reserved when it comes back


def test_a_delayed_request_comes_back_paid_and_is_not_charged_again() -> None:
    b = Book(_config({"budgets": [_budget("0.01")], "rate_limit": {"requests_per_minute": 60}}))
    for i in range(5):
        _admitted(b.admit(_event(f"r{i}")))
    delay = _delayed(b.admit(_event("d1")))
    due = delay.retry.due_at
    assert due == T0 + timedelta(seconds=1)
    buckets = dict(b.book.buckets)
    ev = _admitted(b.admit(_event("d1", rate_paid=True), due))
    assert ev.admission is not None and ev.admission.reserved_usd == DEAR
    assert b.book.reserved == {DAY: Decimal("0.006")}
    # paid requests skip the limit entirely, however many
    for i in range(3):
        _admitted(b.admit(_event(f"p{i}", rate_paid=True), due))
    assert b.book.buckets == buckets
    # so the next unpaid request gets the slot after d1's, not after four more
    assert _delayed(b.admit(_event("d2"), due)).retry.due_at == T0 + timedelta(seconds=2)


def test_a_returning_request_is_checked_against_the_budget_again() -> None:
    budgets = [_budget("0.0055")]
    b = Book(_config({"budgets": budgets, "rate_limit": {"requests_per_minute": 60}}))
    for i in range(5):
        _admitted(b.admit(_event(f"r{i}")))
    delay = _delayed(b.admit(_event("d1", "economy")))  # 0.0001 would fit now
    # while d1 waits, requests already paid take the rest of the budget
    for i in range(5):
        _admitted(b.admit(_event(f"p{i}", "economy", rate_paid=True)))
    reject = _rejected(b.admit(_event("d1", "economy", rate_paid=True), delay.retry.due_at))
    assert reject.letter.reason == "budget_exceeded"


def test_a_slot_past_the_deadline_is_rate_limited_at_once() -> None:
    b = Book(_config({"rate_limit": {"requests_per_minute": 60, "burst_s": 1}}))
    _admitted(b.admit(_event("r0")))
    _delayed(b.admit(_event("d1", deadline_at=T0 + timedelta(seconds=1.5))))  # slot +1 s
    reject = _rejected(b.admit(_event("d2", deadline_at=T0 + timedelta(seconds=1.5))))
    assert reject.letter.reason == "rate_limited"
    assert reject.letter.limit is not None
    assert reject.letter.limit.retry_after_s == pytest.approx(2.0, abs=0.001)
    assert "deadline" in reject.letter.detail
    # the rejected one did not take its slot: the next request gets +2 s
    delay = _delayed(b.admit(_event("d3")))
    assert delay.retry.due_at == T0 + timedelta(seconds=2)


def test_a_tokens_limit_charges_the_estimate_and_admits_a_big_request_on_a_full_bucket() -> None:
    # 6000 tokens per minute: 100 per second, capacity 500; a request is 5 + 95 tokens
    b = Book(_config({"rate_limit": {"tokens_per_minute": 6000, "on_limit": "reject"}}))
    for i in range(5):
        _admitted(b.admit(_event(f"r{i}")))
    reject = _rejected(b.admit(_event("r5")))
    assert reject.letter.limit is not None
    assert reject.letter.limit.kind == "tokens_per_minute"
    assert reject.letter.limit.estimate == Decimal(100)

    later = T0 + timedelta(seconds=10)  # full again
    _admitted(b.admit(_event("big", max_tokens=1995), later))  # 2000 tokens > capacity
    small = _rejected(b.admit(_event("r6"), later))
    assert small.letter.limit is not None
    # level 500 - 2000 = -1500; 100 more are needed: 16 s at 100 per second
    assert small.letter.limit.retry_after_s == pytest.approx(16.0, abs=0.001)


def test_the_worst_of_two_limits_decides() -> None:
    limit = {"requests_per_minute": 600, "tokens_per_minute": 6000, "on_limit": "reject"}
    b = Book(_config({"rate_limit": limit}))
    for i in range(5):
        _admitted(b.admit(_event(f"r{i}")))
    reject = _rejected(b.admit(_event("r5")))
    assert reject.letter.limit is not None
    assert reject.letter.limit.kind == "tokens_per_minute"
    # an admitted request is charged in both buckets
    assert b.book.buckets["requests_per_minute"].level == pytest.approx(50 - 5)


def _sliding_max(times: list[datetime], window: timedelta) -> int:
    times = sorted(times)
    best, start = 0, 0
    for end, t in enumerate(times):
        while times[start] <= t - window:
            start += 1
        best = max(best, end - start + 1)
    return best


@pytest.mark.parametrize("on_limit", ["reject", "delay"])
def test_admitted_in_any_sixty_seconds_is_at_most_per_minute_plus_capacity(
    on_limit: str,
) -> None:
    per_minute, burst_s = 30, 10
    capacity = per_minute * burst_s // 60
    rate_limit = {"requests_per_minute": per_minute, "burst_s": burst_s, "on_limit": on_limit}
    b = Book(_config({"rate_limit": rate_limit}))
    rng = random.Random(7)
    # arrivals at ~4x the limit; delayed ones come back paid at their due time
    pending: list[tuple[datetime, AdmitEvent]] = []
    t, i = T0, 0
    end = T0 + timedelta(seconds=180)
    while t < end:
        t += timedelta(seconds=rng.expovariate(2.0))
        pending.append((t, _event(f"r{i}", deadline_at=T0 + timedelta(hours=1))))
        i += 1
    admitted: list[datetime] = []
    while pending:
        pending.sort(key=lambda p: p[0])
        now, event = pending.pop(0)
        decision = b.admit(event, now)
        if isinstance(decision, Admit):
            admitted.append(now)
        elif isinstance(decision, Delay):
            assert decision.retry.due_at >= now
            paid = event.model_copy(update={"rate_paid": True})
            pending.append((decision.retry.due_at, paid))
    assert _sliding_max(admitted, timedelta(seconds=60)) <= per_minute + capacity
    if on_limit == "delay":
        assert len(admitted) == i  # delayed, never dropped (the deadline is far)


# -- expiry --------------------------------------------------------------------------


def test_a_reservation_without_final_spend_expires_after_deadline_plus_grace() -> None:
    b = Book(_config({"budgets": [_budget("0.001")]}, reservation_grace_s=600))
    deadline = T0 + timedelta(seconds=60)
    _admitted(b.admit(_event("r1", deadline_at=deadline)))
    assert b.book.reservations["r1"].expires_at == deadline.timestamp() + 600
    _rejected(b.admit(_event("r2"), deadline + timedelta(seconds=600)))
    assert "r1" in b.book.reservations
    _admitted(b.admit(_event("r3"), deadline + timedelta(seconds=601)))
    assert list(b.book.reservations) == ["r3"]
    assert b.book.reserved == {DAY: DEAR}


def test_a_reservation_without_deadline_expires_an_hour_plus_grace_after_admission() -> None:
    b = Book(_config({"budgets": [_budget("0.01")]}, reservation_grace_s=10))
    _admitted(b.admit(_event("r1")))
    assert b.book.reservations["r1"].expires_at == T0.timestamp() + 3600 + 10


# -- offsets -------------------------------------------------------------------------


def test_confirmed_offset_advances_over_contiguous_confirmed_offsets_only() -> None:
    config = _config({"budgets": [_budget("1")]})
    book = TenantBook("acme")
    for offset in (10, 11, 12, 13):
        book.admit(_event(f"r{offset}"), offset, config, T0)
    assert book.confirmed_offset == -1
    book.confirm(12)
    book.confirm(11)
    assert book.confirmed_offset == -1
    assert not book.decided(10)
    book.confirm(10)
    assert book.confirmed_offset == 12
    assert book.decided(10) and book.decided(12)
    assert not book.decided(13)
    book.confirm(99)  # never decided here: ignored
    book.confirm(10)  # twice: harmless
    assert book.confirmed_offset == 12
    book.confirm(13)
    assert book.confirmed_offset == 13


# -- snapshots -----------------------------------------------------------------------


def test_a_snapshot_round_trip_keeps_the_whole_state() -> None:
    config = _config(
        {
            "budgets": [_budget("0.01"), _budget("0.004", route="side")],
            "rate_limit": {"requests_per_minute": 60, "tokens_per_minute": 60_000},
        }
    )
    book = TenantBook("acme")
    book.admit(_event("r1"), 0, config, T0)
    book.admit(_event("r2", "side"), 1, config, T0)
    book.admit(_event("r3", "side"), 2, config, T0)
    alerts = book.spend(_spend("r2", "0.0025", call_id="c2", route="side"), 3, config, T0)
    assert _thresholds(alerts) == [0.5]
    book.confirm(0)
    book.confirm(1)
    book.confirm(3)  # 2 is open: the snapshot covers up to 1

    snap = book.snapshot(partition=3)
    assert (snap.confirmed_offset, snap.unconfirmed_calls, snap.partition) == (1, ["c2"], 3)
    restored = TenantBook.from_snapshot(TenantSnapshot.from_bytes(snap.to_bytes()))

    assert restored.tenant == "acme"
    assert restored.confirmed_offset == 1
    assert (
        restored.spent
        == book.spent
        == {
            DAY: Decimal("0.0025"),
            "day:route=side|2026-03-01": Decimal("0.0025"),
        }
    )
    assert (
        restored.reserved
        == book.reserved
        == {
            DAY: Decimal("0.0015"),
            "day:route=side|2026-03-01": MID,
        }
    )
    assert restored.reservations == book.reservations
    assert restored.buckets == book.buckets
    assert restored.alerted == book.alerted == {"day:route=side|2026-03-01|0.5": 3}

    # the spend at offset 3 is above confirmed_offset: replayed, it adds nothing and
    # publishes its alert again
    again = restored.spend(_spend("r2", "0.0025", call_id="c2", route="side"), 3, config, T0)
    assert [a.key for a in again] == [a.key for a in alerts]
    assert restored.spent == book.spent
    # the admit at offset 2 is replayed too: same plan, no second reservation
    assert restored.admit(_event("r3", "side"), 2, config, T0) == book.admit(
        _event("r3", "side"), 2, config, T0
    )
    assert restored.reserved == book.reserved


def test_a_snapshot_keeps_money_exact() -> None:
    book = TenantBook("acme")
    book.spent = {DAY: Decimal("0.000000001") * 3 + Decimal("0.1")}
    data = book.snapshot(0).to_bytes()
    assert b'"0.100000003"' in data
    assert TenantBook.from_snapshot(TenantSnapshot.from_bytes(data)).spent == book.spent
